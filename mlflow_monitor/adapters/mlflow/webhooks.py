"""MLflow registry webhooks for alias events: register the dashboard's receiver, list them.

MLflow (>= 3.3, SQL store) posts ``model_version_alias.created`` from the tracking server's own
process to every active webhook subscribed to it, signed with the webhook's secret (HMAC-SHA256,
``ui.webhooks`` verifies it). Webhooks are global in MLflow: one for a single model carries the
model in its URL (``?model=NAME``, the receiver ignores the others' events) and in its name
(``mlflow-monitor.NAME``).

Registration goes through the tracking server (an ``http(s)`` tracking URI): MLflow encrypts the
secret with ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`` of the process that writes it, else with a
key generated per process, which only that process can read back. A webhook of the same name is
updated (URL, events, secret) instead of duplicated, so registering again rotates the secret.
MLflow refuses ``http`` and private addresses unless the server runs with
``MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https`` and ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mlflow.entities.webhook import Webhook

from mlflow_monitor.adapters.mlflow.client import client, guarded

__all__ = ["ALIAS_EVENT", "WebhookInfo", "list_webhooks", "register_alias_webhook", "webhook_name"]

ALIAS_EVENT = "model_version_alias.created"
_NAME = "mlflow-monitor"
_PAGE = 100
_NAME_MAX = 62
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class WebhookInfo:
    """One MLflow webhook as the CLI shows it (never its secret)."""

    webhook_id: str
    name: str
    url: str
    events: tuple[str, ...]
    status: str
    created: bool = False  # True when ``register_alias_webhook`` created it (not updated)

    def line(self) -> str:
        """``<id>  <name>  <status>  <events>  <url>``."""
        events = ",".join(self.events)
        return f"{self.webhook_id}  {self.name}  {self.status}  {events}  {self.url}"


def webhook_name(model: str | None) -> str:
    """``mlflow-monitor`` (every model) or ``mlflow-monitor.<model>``, in the characters MLflow
    allows in a webhook name (letters, digits, ``._-``; at most 62, ending in one of them)."""
    if model is None:
        return _NAME
    name = f"{_NAME}.{_UNSAFE.sub('-', model)}"[:_NAME_MAX].rstrip("._-")
    return name if name != _NAME else f"{_NAME}.model"


def register_alias_webhook(
    *, tracking_uri: str | None, url: str, secret: str, model: str | None = None
) -> WebhookInfo:
    """Create (or update, by name) the webhook posting alias events to ``url``."""
    target = _with_model(url, model)
    name = webhook_name(model)
    mlflow = client(tracking_uri)
    existing = next((w for w in _all(tracking_uri) if w.name == name), None)
    description = "mlflow-monitor: alias moves checked against the promotion gate"
    if existing is None:
        made = guarded(
            tracking_uri,
            f"creating webhook {name}",
            lambda: mlflow.create_webhook(
                name, target, [ALIAS_EVENT], description=description, secret=secret
            ),
        )
        return _info(made, created=True)
    updated = guarded(
        tracking_uri,
        f"updating webhook {name}",
        lambda: mlflow.update_webhook(
            existing.webhook_id,
            url=target,
            events=[ALIAS_EVENT],
            description=description,
            secret=secret,
            status="ACTIVE",
        ),
    )
    return _info(updated)


def list_webhooks(*, tracking_uri: str | None) -> list[WebhookInfo]:
    """Every webhook of the tracking server (ours and others), by name."""
    return sorted((_info(w) for w in _all(tracking_uri)), key=lambda w: (w.name, w.webhook_id))


def _all(tracking_uri: str | None) -> list[Webhook]:
    mlflow = client(tracking_uri)
    found: list[Webhook] = []
    token: str | None = None
    while True:
        page = guarded(
            tracking_uri,
            "listing webhooks",
            lambda t=token: mlflow.list_webhooks(max_results=_PAGE, page_token=t),  # type: ignore[misc]
        )
        found += list(page)
        token = page.token
        if not token:
            return found


def _with_model(url: str, model: str | None) -> str:
    if model is None:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "model"] + [("model", model)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _info(hook: Webhook, *, created: bool = False) -> WebhookInfo:
    events = tuple(f"{e.entity.value}.{e.action.value}" for e in hook.events)
    status = getattr(hook.status, "value", str(hook.status))
    return WebhookInfo(hook.webhook_id, hook.name, hook.url, events, str(status), created)
