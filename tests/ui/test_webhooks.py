"""The webhook receiver's checks, through the real app (``create_app``) and Flask's test client.

Deliveries are signed here exactly as MLflow signs them (``mlflow.webhooks.delivery``'s own
``_generate_hmac_signature`` is the reference the local ``sign`` is compared with); a real
MLflow delivery is in ``tests/integration/test_bypass.py``.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from mlflow.webhooks.delivery import _generate_hmac_signature

from mlflow_monitor.ui import create_app
from mlflow_monitor.ui.webhooks import (
    DEFAULT_SECRET_ENV,
    MAX_AGE_SECONDS,
    WEBHOOK_PATH,
    SeenDeliveries,
    sign,
)

SECRET = "test-secret-" + uuid.uuid4().hex
ALIAS_BODY = {
    "entity": "model_version_alias",
    "action": "created",
    "timestamp": "2026-11-28T00:00:00+00:00",
    "data": {"name": "nobody", "alias": "champion", "version": "1"},
}


@pytest.fixture
def web(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv(DEFAULT_SECRET_ENV, SECRET)
    yield create_app(tracking_uri=tracking_uri).test_client()


def delivery(
    body: dict[str, object],
    *,
    secret: str = SECRET,
    stamp: int | None = None,
    ident: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A delivery as MLflow sends it: JSON body and the three signed headers."""
    raw = json.dumps(body)
    ident = ident or str(uuid.uuid4())
    text = str(int(time.time()) if stamp is None else stamp)
    headers = {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": ident,
        "X-MLflow-Timestamp": text,
        "X-MLflow-Signature": _generate_hmac_signature(secret, ident, text, raw),
    }
    return raw.encode(), headers


def test_sign_matches_mlflow() -> None:
    body = json.dumps(ALIAS_BODY)
    expected = _generate_hmac_signature(SECRET, "id-1", "1700000000", body)
    assert sign(SECRET, "id-1", "1700000000", body.encode()) == expected


def test_forged_stale_and_unsigned_deliveries_are_refused(web: FlaskClient) -> None:
    body, headers = delivery(ALIAS_BODY, secret="wrong")
    answer = web.post(WEBHOOK_PATH, data=body, headers=headers)
    assert answer.status_code == 401 and answer.json == {
        "status": "refused",
        "detail": "signature does not match",
    }
    tampered, headers = delivery(ALIAS_BODY)
    answer = web.post(WEBHOOK_PATH, data=tampered.replace(b"nobody", b"someone"), headers=headers)
    assert answer.status_code == 401
    for skew in (-(MAX_AGE_SECONDS + 5), MAX_AGE_SECONDS + 5):  # too old, too far ahead
        body, headers = delivery(ALIAS_BODY, stamp=int(time.time()) + skew)
        answer = web.post(WEBHOOK_PATH, data=body, headers=headers)
        assert answer.status_code == 401 and "timestamp" in answer.json["detail"]
    body, headers = delivery(ALIAS_BODY)
    del headers["X-MLflow-Signature"]
    assert web.post(WEBHOOK_PATH, data=body, headers=headers).status_code == 401
    assert SECRET not in json.dumps(answer.json)


def test_replayed_delivery_is_ignored_and_other_events_pass(web: FlaskClient) -> None:
    other = {"entity": "registered_model", "action": "created", "data": {"name": "m"}}
    body, headers = delivery(other)
    first = web.post(WEBHOOK_PATH, data=body, headers=headers)
    assert first.status_code == 200 and first.json["status"] == "ignored"
    again = web.post(WEBHOOK_PATH, data=body, headers=headers)
    assert again.status_code == 200 and again.json["status"] == "duplicate"

    body, headers = delivery(ALIAS_BODY)  # no such model in the store: nothing to judge
    handled = web.post(WEBHOOK_PATH, data=body, headers=headers)
    assert handled.status_code == 200
    assert handled.json["status"] == "handled" and handled.json["outcome"] == "moved_on"
    body, headers = delivery(ALIAS_BODY)
    other_model = web.post(WEBHOOK_PATH + "?model=churn", data=body, headers=headers)
    assert other_model.json == {"status": "ignored", "detail": "model nobody is not churn"}
    body, headers = delivery({"not": "mlflow"})
    assert web.post(WEBHOOK_PATH, data=body, headers=headers).status_code == 400


def test_unset_secret_answers_503(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BYPASS_UI_SECRET", raising=False)
    web = create_app(tracking_uri=tracking_uri, webhook_secret_env="BYPASS_UI_SECRET").test_client()
    body, headers = delivery(ALIAS_BODY)
    answer = web.post(WEBHOOK_PATH, data=body, headers=headers)
    assert answer.status_code == 503 and "$BYPASS_UI_SECRET" in answer.json["detail"]


def test_a_delivery_that_failed_is_handled_again_on_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MLflow unreachable: 503 (MLflow retries 5xx), and the retry is not taken as a replay."""
    monkeypatch.setenv(DEFAULT_SECRET_ENV, SECRET)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there
    web = create_app(tracking_uri=dead).test_client()
    body, headers = delivery(ALIAS_BODY)
    first = web.post(WEBHOOK_PATH, data=body, headers=headers)
    assert first.status_code == 503 and first.json["status"] == "error"
    retry = web.post(WEBHOOK_PATH, data=body, headers=headers)
    assert retry.status_code == 503 and retry.json["status"] == "error"


def test_seen_deliveries_are_bounded() -> None:
    seen = SeenDeliveries(size=3)
    assert all(seen.claim(i) for i in "abcd")
    assert not seen.claim("d") and not seen.claim("b")
    assert seen.claim("a")  # the oldest was let go
    seen.forget("a")
    assert seen.claim("a")


def test_webhook_names_are_ones_mlflow_accepts() -> None:
    from mlflow_monitor.adapters.mlflow.webhooks import webhook_name

    assert webhook_name(None) == "mlflow-monitor"
    assert webhook_name("churn v2/eu") == "mlflow-monitor.churn-v2-eu"
    assert len(webhook_name("m" * 100)) == 62
    assert webhook_name("_") == "mlflow-monitor.model"  # never the every-model webhook's name
