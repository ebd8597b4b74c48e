"""Whether a local process still runs: used for the report worker and for abandoned MLflow runs.

psutil answers the same question on Linux, macOS and Windows, zombies included (a dead child
whose parent has not reaped it yet counts as gone).
"""

from __future__ import annotations

import psutil

__all__ = ["process_alive"]


def process_alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        status: str = psutil.Process(pid).status()
        return status != str(psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process: it exists
        return True
