"""Apprise delivery of one message to one channel: timeout, never raises, no secret in any text.

The channel URL's ``${ENV}`` secrets are resolved here, at the moment of use, and nowhere else.
Every text that leaves (the printable URL, the failure reason, apprise's and urllib3's own log
records during the delivery) shows apprise's privacy URL with each resolved secret value, in
every printable form (raw and URL-encoded), replaced by its ``${NAME}``: apprise's privacy mode
masks passwords and tokens it knows about, but not a secret placed in a webhook path.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

from mlflow_monitor.errors import MonitorError
from mlflow_monitor.spec import AlertChannel, find_secrets, resolve_secret

__all__ = ["deliver", "printable_url", "redact_secrets"]

_DELIVERY_LOGGERS = (
    "apprise",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.util.retry",
    "urllib3.response",
    "requests",
)


def _secret_forms(channel: AlertChannel) -> dict[str, str]:
    """Every printable form of the channel URL's resolved secrets -> its ``${NAME}``."""
    forms: dict[str, str] = {}
    for name in find_secrets(channel.url):
        value = os.environ.get(name, "")
        if value:
            for form in (value, quote(value, safe=""), quote_plus(value), quote(value)):
                forms[form] = "${" + name + "}"
    return forms


def _redact(text: str, forms: Mapping[str, str]) -> str:
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, forms[form])
    return text


class _Redactor(logging.Filter):
    """Rewrites apprise's log records so no resolved secret reaches any handler."""

    def __init__(self, forms: Mapping[str, str]) -> None:
        super().__init__()
        self._forms = forms

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redact(record.getMessage(), self._forms)
        record.args = None
        return True


class _Collector(logging.Handler):
    """Collects apprise's warnings/errors during one delivery: the failure reason."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _apprise_logs(forms: Mapping[str, str]) -> Iterator[_Collector]:
    """Redact the loggers that see a delivery's URL; collect apprise's warnings for the reason.

    A logger's filter only sees records logged on that very logger, so every logger of the
    delivery path is listed (urllib3 logs the request line, with a token in the path, at DEBUG).
    """
    loggers = [logging.getLogger(name) for name in _DELIVERY_LOGGERS]
    redactor, collector = _Redactor(forms), _Collector()
    for logger in loggers:
        logger.addFilter(redactor)
    loggers[0].addHandler(collector)
    try:
        yield collector
    finally:
        loggers[0].removeHandler(collector)
        for logger in loggers:
            logger.removeFilter(redactor)


def deliver(
    channel: AlertChannel, title: str, body: str, notify: str, timeout: float
) -> tuple[bool, str, str]:
    """Send one message; (delivered, reason, printable URL). Never raises."""
    forms = _secret_forms(channel)
    shown = printable_url(channel)
    try:
        with _apprise_logs(forms) as collector:
            ok, reason, shown = _send(channel, title, body, notify, timeout, forms)
            if not ok and not reason:
                reason = "; ".join(collector.lines[-2:]) or "apprise reported a failure"
    except MonitorError as exc:  # e.g. the ${ENV} secret is not set
        return False, _redact(str(exc), forms), shown
    except Exception as exc:  # delivery never raises into the run
        return False, _redact(f"{type(exc).__name__}: {exc}", forms), shown
    return ok, _redact(reason, forms), _redact(shown, forms)


def _send(
    channel: AlertChannel,
    title: str,
    body: str,
    notify: str,
    timeout: float,
    forms: Mapping[str, str],
) -> tuple[bool, str, str]:
    import apprise

    plugin = apprise.Apprise.instantiate(resolve_secret(channel.url))
    if plugin is None:
        scheme = channel.url.split("://", 1)[0]
        return False, f"not a valid apprise URL (scheme {scheme!r})", channel.url
    shown = _redact(plugin.url(privacy=True), forms)
    plugin.socket_connect_timeout = timeout
    plugin.socket_read_timeout = timeout
    plugin.retry = 0
    result: list[bool] = []
    worker = threading.Thread(
        target=lambda: result.append(
            bool(plugin.notify(body=body, title=title, notify_type=apprise.NotifyType(notify)))
        ),
        daemon=True,
    )
    worker.start()
    worker.join(2 * timeout + 1)
    if worker.is_alive():
        return False, f"timed out after {2 * timeout + 1:.0f}s", shown
    return bool(result and result[0]), "", shown


def printable_url(channel: AlertChannel) -> str:
    """The spec URL (secrets still ``${ENV}``) with any password-like userinfo masked."""
    parts = urlsplit(channel.url)
    if parts.password:
        netloc = f"{parts.username}:****@" + parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=netloc))
    return channel.url


def redact_secrets(text: str, channels: Sequence[AlertChannel]) -> str:
    """``text`` with every resolved secret of ``channels`` replaced by its ``${NAME}``."""
    forms: dict[str, str] = {}
    for channel in channels:
        forms.update(_secret_forms(channel))
    return _redact(text, forms)
