"""What a warm ``monitor.ipynb`` kernel imports on start-up (``kernels.warm_kernel``): nothing else.

It imports what ``monitor.ipynb``'s first cell imports, with the cyclic collector paused while
they load (their objects are then frozen: the collector never walks them again), so that cell
finds them loaded. No data is read and nothing is computed here.
"""

from __future__ import annotations

import gc

gc.disable()
try:
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401
    import pandas  # noqa: F401

    from mlflow_monitor.adapters import evidently_reports  # noqa: F401
    from mlflow_monitor.adapters.notebooks import window_inputs  # noqa: F401
    from mlflow_monitor.verdicts import evaluation  # noqa: F401
    from mlflow_monitor.workflows import (  # noqa: F401
        compliance_audit,
        notebook_trends,
        window_scoring,
    )
finally:
    gc.freeze()
    gc.enable()
