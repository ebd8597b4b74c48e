"""Start-up line of a warm monitoring kernel (``kernels.warm_kernel``): imports, nothing else.

It imports what ``monitor.ipynb``'s first cell imports, with the cyclic collector paused while
they load (their objects are then frozen: the collector never walks them again), so that cell
finds them loaded. No data is read and nothing is computed here.
"""

from __future__ import annotations

import gc

gc.disable()
try:
    import pandas  # noqa: F401

    from mlflow_monitor import reports, window  # noqa: F401
finally:
    gc.freeze()
    gc.enable()
