"""The receiver of MLflow's registry webhooks: ``POST /monitor/webhooks/mlflow``.

MLflow (``mlflow/webhooks/delivery.py``, 3.3+) posts each event from the tracking server with
three headers: ``X-MLflow-Delivery-Id`` (a UUID, the same on every retry of one delivery),
``X-MLflow-Timestamp`` (Unix seconds) and ``X-MLflow-Signature`` = ``v1,`` + base64 of
HMAC-SHA256(secret, ``<delivery id>.<timestamp>.<raw body>``). Steps of one request:

1. the secret from the environment variable the app was given (``mlflow-monitor ui
   --webhook-secret-env NAME``, default ``MLFLOW_MONITOR_WEBHOOK_SECRET``; never logged, never
   echoed): unset -> 503, so MLflow retries once it is configured;
2. headers present and the signature equal to ours (``hmac.compare_digest``, constant time),
   else 401; the timestamp within 5 minutes of this clock (either side), else 401 (a captured
   delivery cannot be replayed later);
3. a delivery id seen before by this process -> 200 ``duplicate``, nothing done (a bounded
   store of the last 10,000 ids; an id is kept only once handled, so MLflow's retry of a
   delivery that failed here is handled). Across processes (several workers, a restart) the
   audit trail makes handling idempotent (``workflows.bypass``);
4. ``model_version_alias.created`` (for the webhook's model, when its URL names one with
   ``?model=``) -> ``workflows.bypass.handle_alias_event``; other events -> 200 ``ignored``.
   MLflow unreachable, or the version's lease held too long -> 503 (MLflow retries 5xx).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response

from mlflow_monitor.errors import MonitorError
from mlflow_monitor.ui.pages import EXTENSION

__all__ = [
    "DEFAULT_SECRET_ENV",
    "MAX_AGE_SECONDS",
    "WEBHOOK_PATH",
    "SeenDeliveries",
    "mount_webhooks",
    "sign",
]

DEFAULT_SECRET_ENV = "MLFLOW_MONITOR_WEBHOOK_SECRET"
WEBHOOK_PATH = "/monitor/webhooks/mlflow"
MAX_AGE_SECONDS = 300
SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_HEADER = "X-MLflow-Delivery-Id"
ALIAS_CREATED = ("model_version_alias", "created")
_SETTINGS = "mlflow_monitor.webhooks"
_SEEN_KEPT = 10_000

log = logging.getLogger(__name__)
webhooks = Blueprint("monitor_webhooks", __name__)


class SeenDeliveries:
    """Delivery ids handled (or in hand) by this process, the newest ``size`` kept."""

    def __init__(self, size: int = _SEEN_KEPT) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._ids: OrderedDict[str, bool] = OrderedDict()  # id -> done

    def claim(self, delivery_id: str) -> bool:
        """True when this id is new (now in hand); False when seen or being handled."""
        with self._lock:
            if delivery_id in self._ids:
                return False
            self._ids[delivery_id] = False
            while len(self._ids) > self._size:
                self._ids.popitem(last=False)
            return True

    def done(self, delivery_id: str) -> None:
        with self._lock:
            self._ids[delivery_id] = True

    def forget(self, delivery_id: str) -> None:
        """Handling failed: a retry of this delivery is handled again."""
        with self._lock:
            self._ids.pop(delivery_id, None)


@dataclass(frozen=True)
class _Settings:
    secret_env: str
    seen: SeenDeliveries


def mount_webhooks(app: Flask, *, secret_env: str = DEFAULT_SECRET_ENV) -> Flask:
    """Receive MLflow's webhooks at ``WEBHOOK_PATH`` on ``app`` (after ``ui.app.mount``)."""
    app.extensions[_SETTINGS] = _Settings(secret_env, SeenDeliveries())
    app.register_blueprint(webhooks)
    return app


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """MLflow's signature of a delivery: ``v1,<base64 HMAC-SHA256>``."""
    content = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


@webhooks.post(WEBHOOK_PATH)
def receive() -> tuple[Response, int]:
    """Verify, deduplicate and handle one MLflow webhook delivery."""
    settings: _Settings = current_app.extensions[_SETTINGS]
    secret = os.environ.get(settings.secret_env, "")
    if not secret:
        log.error("webhook refused: $%s is not set", settings.secret_env)
        return _answer(503, "unconfigured", f"webhook secret not set (${settings.secret_env})")
    body = request.get_data(cache=False)
    refused = _verify(secret, request.headers, body, now=time.time())
    if refused:
        log.warning("webhook refused: %s", refused)
        return _answer(401, "refused", refused)
    delivery = request.headers[DELIVERY_HEADER]
    if not settings.seen.claim(delivery):
        return _answer(200, "duplicate", f"delivery {delivery} already received")
    try:
        code, answer = _handle(body, delivery)
    except Exception:
        settings.seen.forget(delivery)
        raise
    if code >= 500:
        settings.seen.forget(delivery)
    else:
        settings.seen.done(delivery)
    return jsonify(answer), code


def _verify(secret: str, headers: Headers | Mapping[str, str], body: bytes, *, now: float) -> str:
    """Why the delivery is refused ("" when authentic and fresh)."""
    delivery = headers.get(DELIVERY_HEADER, "")
    stamp = headers.get(TIMESTAMP_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    if not (delivery and stamp and signature):
        return f"missing {DELIVERY_HEADER}, {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}"
    expected = sign(secret, delivery, stamp, body)
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in signature.split()):
        return "signature does not match"
    try:
        age = now - int(stamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} is not Unix seconds"
    if abs(age) > MAX_AGE_SECONDS:
        return f"timestamp {age:.0f} s away from now (more than {MAX_AGE_SECONDS} s)"
    return ""


def _handle(body: bytes, delivery: str) -> tuple[int, dict[str, object]]:
    from mlflow_monitor.workflows.bypass import handle_alias_event

    try:
        payload = json.loads(body)
        event = (str(payload["entity"]), str(payload["action"]))
        data = payload.get("data") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return 400, {"status": "bad_request", "detail": "body is not an MLflow webhook payload"}
    if event != ALIAS_CREATED:
        return 200, {"status": "ignored", "detail": f"event {'.'.join(event)} is not watched"}
    model, alias, version = (str(data.get(k, "")) for k in ("name", "alias", "version"))
    wanted = request.args.get("model")
    if wanted and wanted != model:
        return 200, {"status": "ignored", "detail": f"model {model} is not {wanted}"}
    fields = {
        "delivery_id": delivery,
        "event": ".".join(event),
        "event_time": str(payload.get("timestamp", "")),
        "source": "webhook",
    }
    tracking_uri = current_app.extensions[EXTENSION].tracking_uri
    try:
        outcome = handle_alias_event(
            tracking_uri=tracking_uri, model=model, alias=alias, version=version, event=fields
        )
    except MonitorError as exc:
        log.error("alias event %s@%s -> %s not handled: %s", model, alias, version, exc)
        return 503, {"status": "error", "detail": str(exc).splitlines()[0]}
    log.info("alias event %s@%s -> %s: %s", model, alias, version, outcome.kind)
    code = 503 if outcome.kind == "locked" else 200
    return code, {"status": "handled", **outcome.to_dict()}


def _answer(code: int, status: str, detail: str) -> tuple[Response, int]:
    return jsonify({"status": status, "detail": detail}), code
