"""Alert state of one model version, kept in MLflow, and the lease that serializes its writers.

Where: one *state run* per model version in the experiment ``monitor/<model>``, tagged
``monitor.kind=alert_state`` and ``monitor.model_version``. It is ended FINISHED at creation
(nothing stays RUNNING); tags and params can still be written to a finished run.

- **State**: one tag per check, ``alert.<check>.<hash>``, holding JSON: for every channel the
  severity last delivered, when, and the window keys already delivered (idempotency key =
  model, version, check, window; model and version are the state run itself); when the
  finding's current episode began (``opened_at``) and its escalation (severity, since, steps
  sent, last run and window; ``verdicts.escalation``). Fields this release added are optional,
  so earlier readers read the tags unchanged. Only a lease holder writes state.
- **Lease** (mutual exclusion, all backends): the lease is a sequence of *write-once params*
  ``lease.<n>`` = ``<token> <expires epoch> <host>:<pid> taken=<epoch> [pidns=<id>]``. MLflow
  refuses to change a param's value (a unique key in the SQL stores, SQLite and PostgreSQL, and
  the same store behind an HTTP server), so of two processes that both try to create
  ``lease.<n+1>`` exactly one succeeds: a real compare-and-set, confirmed by reading the param
  back. Who holds the lease travels in that same value, so recording the holder adds no second,
  racy write. The holder releases by setting the tag ``monitor.alert_lease_released`` to ``n``.
- **Takeover**: an unreleased lease is free once its TTL has passed (any host), or at once when
  its holder ran on this host (same host name and, on Linux, the same PID namespace, so two
  containers sharing a host name are not confused) and that process is gone
  (``processes.process_alive``): a run killed during dispatch no longer stalls the next one.
  A reused PID (the holder gone, its number given to another process) reads as alive: the
  claimant then waits for the TTL, as before.
  A lease written before holders were recorded (``<token> <expires>``, or without ``taken=``)
  is judged by its TTL alone, as it was; readers of that release still read the new value (its
  first two fields are unchanged). A claimant reports the holder it finds once (``on_wait``).

Guarantee and its limit: while a holder finishes within its TTL, no two processes hold the
lease, so two runs of the same version never both send. A holder that stalls past its TTL (or
machines whose clocks disagree by more than the TTL) can overlap with the next holder; the
holder re-checks ``holds()`` before writing state, so the overlap costs at most one duplicate
message, never lost state. Creating the state run itself is not atomic in MLflow: two first
runs may both create one; every process then picks the same one (oldest start, then smallest
id) after a short settle and the loser's run is deleted. The param log grows by one per run
(about 9,000 params per version-year of hourly windows).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from mlflow.entities import RunTag, ViewType
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.client import client, guarded
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.adapters.processes import process_alive
from mlflow_monitor.contract import (
    KIND_ALERT_STATE,
    TAG_KIND,
    TAG_LEASE_RELEASED,
    TAG_MODEL_NAME,
    TAG_MODEL_VERSION,
    experiment_name,
    parse_utc,
    utc_text,
)
from mlflow_monitor.errors import RegistryError
from mlflow_monitor.verdicts.alert_plan import ChannelMark, CheckMarks
from mlflow_monitor.verdicts.escalation import EscalationMark

__all__ = [
    "AlertStateStore",
    "Lease",
    "LeaseHolder",
    "Standing",
    "state_versions",
]

_STATE_PREFIX = "alert."
_LEASE_PREFIX = "lease."
_WINDOWS_KEPT = 20
_TAG_BATCH = 100
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_\-]")
T = TypeVar("T")


@dataclass(frozen=True)
class Lease:
    """A held lease: ``lease.<number>`` on the state run, owned by ``token`` until ``expires``."""

    run_id: str
    number: int
    token: str
    expires: float


# What a claimant finds: no unreleased lease (``free``), a holder to wait for (``live``), or a
# lease it may take over because its TTL passed (``expired``) or its process is gone (``gone``).
Standing = Literal["free", "live", "expired", "gone"]


@dataclass(frozen=True)
class LeaseHolder:
    """Who took ``lease.<number>``, read from the lease's own value (times are epoch seconds).

    ``taken_at`` is None for a lease written before holders were recorded; ``host``/``pid``
    may then be None too. Such a lease is judged by ``expires`` alone.
    """

    number: int
    token: str
    expires: float
    host: str | None = None
    pid: int | None = None
    taken_at: float | None = None
    pid_namespace: str | None = None

    @property
    def label(self) -> str:
        """``host:pid``, or what is known of a holder that was not recorded."""
        if self.host is None or self.pid is None:
            return "an unrecorded holder"
        return f"{self.host}:{self.pid}"


WaitReport = Callable[[LeaseHolder, Standing], None]


class AlertStateStore:
    """Read and write one model version's alert state under a lease (see module docstring)."""

    def __init__(
        self,
        model: str,
        version: str,
        *,
        tracking_uri: str | None = None,
        settle_seconds: float = 0.3,
    ) -> None:
        self.model = model
        self.version = str(version)
        self._tracking_uri = tracking_uri
        self._client: MlflowClient = client(tracking_uri)
        self._settle = settle_seconds
        self._run_id: str | None = None

    # -- the state run --------------------------------------------------------------------
    def run_id(self) -> str:
        """The version's state run, created (once, race-resolved) on first use."""
        if self._run_id is None:
            self._run_id = self._call("opening the alert state run", self._resolve_run)
        return self._run_id

    def _resolve_run(self) -> str:
        experiment = MonitorRuns(self._tracking_uri).experiment_id(self.model)
        found = self._state_runs(experiment)
        if found:
            return found[0]
        tags = {
            TAG_KIND: KIND_ALERT_STATE,
            TAG_MODEL_NAME: self.model,
            TAG_MODEL_VERSION: self.version,
        }
        mine = self._client.create_run(
            experiment, tags=tags, run_name=f"alert-state v{self.version}"
        )
        self._client.set_terminated(mine.info.run_id, "FINISHED")
        time.sleep(self._settle)
        winner = self._state_runs(experiment)[0]
        if winner != mine.info.run_id:
            self._client.delete_run(mine.info.run_id)
        return winner

    def _state_runs(self, experiment_id: str) -> list[str]:
        query = (
            f"tags.`{TAG_KIND}` = '{KIND_ALERT_STATE}'"
            f" and tags.`{TAG_MODEL_VERSION}` = '{self.version}'"
        )
        runs = self._client.search_runs(
            [experiment_id], query, ViewType.ACTIVE_ONLY, max_results=50
        )
        ordered = sorted(runs, key=lambda r: (int(r.info.start_time or 0), r.info.run_id))
        return [r.info.run_id for r in ordered]

    # -- lease ----------------------------------------------------------------------------
    def acquire(
        self,
        *,
        ttl_seconds: float,
        wait_seconds: float,
        poll_seconds: float = 0.25,
        on_wait: WaitReport | None = None,
    ) -> Lease | None:
        """Take the lease, waiting up to ``wait_seconds`` for a live holder; None if not taken.

        A holder found unreleased is reported once through ``on_wait`` with its standing, so a
        caller can say what it waits for (or whom it takes over from) instead of going quiet.
        """
        run_id = self.run_id()
        deadline = time.monotonic() + wait_seconds
        reported = False
        while True:
            number, holder = self._call("reading the alert lease", lambda: self._newest(run_id))
            standing = _standing(holder)
            if holder is not None and standing != "free" and not reported and on_wait:
                on_wait(holder, standing)
                reported = True
            if standing != "live":
                claim = functools.partial(self._claim, run_id, number + 1, ttl_seconds)
                lease = self._call("taking the alert lease", claim)
                if lease is not None:
                    return lease
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll_seconds)

    def _newest(self, run_id: str) -> tuple[int, LeaseHolder | None]:
        """The newest lease number and its holder; the holder is None once it was released."""
        run = self._client.get_run(run_id)
        holder = _latest_lease(run.data.params)
        released = _as_int(run.data.tags.get(TAG_LEASE_RELEASED, "0"))
        if holder is None:
            return 0, None
        return holder.number, (holder if holder.number > released else None)

    def _claim(self, run_id: str, number: int, ttl_seconds: float) -> Lease | None:
        """Compare-and-set: create ``lease.<number>`` naming this process; None if another did."""
        token = uuid.uuid4().hex
        taken = time.time()
        expires = taken + ttl_seconds
        key = f"{_LEASE_PREFIX}{number}"
        # Another process may create lease.<n+1> first (MLflow refuses ours, or SQLite reports
        # the database locked), or the call may fail after the write: the read-back decides.
        with contextlib.suppress(Exception):
            self._client.log_param(run_id, key, _lease_value(token, expires, taken))
        written = self._client.get_run(run_id).data.params.get(key, "")
        if written.split(" ", 1)[0] != token:
            return None
        return Lease(run_id, number, token, expires)

    def holds(self, lease: Lease) -> bool:
        """True while ``lease`` is the newest lease, unreleased and unexpired."""
        run = self._call("checking the alert lease", lambda: self._client.get_run(lease.run_id))
        latest = _latest_lease(run.data.params)
        number = latest.number if latest else 0
        released = _as_int(run.data.tags.get(TAG_LEASE_RELEASED, "0"))
        return number == lease.number and released < lease.number and lease.expires > time.time()

    def release(self, lease: Lease) -> None:
        """Give the lease back (idempotent)."""
        self._call(
            "releasing the alert lease",
            lambda: self._client.set_tag(lease.run_id, TAG_LEASE_RELEASED, str(lease.number)),
        )

    # -- state ----------------------------------------------------------------------------
    def read(self) -> dict[str, CheckMarks]:
        """Every check's marks, by check id."""
        run_id = self.run_id()
        tags = self._call("reading alert state", lambda: self._client.get_run(run_id).data.tags)
        marks = [_decode(v) for k, v in tags.items() if k.startswith(_STATE_PREFIX)]
        return {m.check_id: m for m in marks if m is not None}

    def write(self, lease: Lease, changes: Mapping[str, CheckMarks]) -> None:
        """Store changed marks (a check with no channel left is removed); lease must be held."""
        if not self.holds(lease):
            raise RegistryError(
                f"alert lease {lease.number} of {self.model}/{self.version} was lost (expired or "
                "taken over); alert state not written"
            )
        keep = [RunTag(_tag_key(c), _encode(m)) for c, m in changes.items() if _kept(m)]
        for start in range(0, len(keep), _TAG_BATCH):
            chunk = keep[start : start + _TAG_BATCH]
            self._log_tags(lease.run_id, chunk)
        stored = self.read()
        for check_id, marks in changes.items():
            if not _kept(marks) and check_id in stored:
                self._delete_tag(lease.run_id, _tag_key(check_id))

    def _call(self, what: str, func: Callable[[], T]) -> T:
        return guarded(self._client.tracking_uri, what, func)

    def _log_tags(self, run_id: str, tags: list[RunTag]) -> None:
        self._call("writing alert state", lambda: self._client.log_batch(run_id, tags=tags))

    def _delete_tag(self, run_id: str, key: str) -> None:
        self._call("clearing alert state", lambda: self._client.delete_tag(run_id, key))


def state_versions(model: str, *, tracking_uri: str | None = None) -> list[str]:
    """The versions of ``model`` that have an alert state run (what ``escalate`` walks)."""
    mlflow_client = client(tracking_uri)

    def _search() -> list[str]:
        experiment = mlflow_client.get_experiment_by_name(experiment_name(model))
        if experiment is None:
            return []
        query = f"tags.`{TAG_KIND}` = '{KIND_ALERT_STATE}'"
        found: set[str] = set()
        token: str | None = None
        while True:
            page = mlflow_client.search_runs(
                [experiment.experiment_id], query, ViewType.ACTIVE_ONLY, 1000, page_token=token
            )
            found |= {str(r.data.tags.get(TAG_MODEL_VERSION, "")) for r in page}
            token = page.token
            if not token:
                break
        return sorted((v for v in found if v), key=_version_order)

    return guarded(mlflow_client.tracking_uri, "listing alert state runs", _search)


def _version_order(version: str) -> tuple[int, str]:
    return (_as_int(version), version)


def _kept(marks: CheckMarks) -> bool:
    """A key's tag stays while a channel was told of it or its escalation runs."""
    return bool(marks.channels) or marks.escalation is not None


def _lease_value(token: str, expires: float, taken: float) -> str:
    """``<token> <expires> <host>:<pid> taken=<epoch> [pidns=<id>]``; first two fields as before."""
    value = f"{token} {expires:.3f} {socket.gethostname()}:{os.getpid()} taken={taken:.3f}"
    namespace = _pid_namespace()
    return f"{value} pidns={namespace}" if namespace else value


def _latest_lease(params: Mapping[str, str]) -> LeaseHolder | None:
    numbers = [_as_int(k[len(_LEASE_PREFIX) :]) for k in params if k.startswith(_LEASE_PREFIX)]
    if not numbers:
        return None
    number = max(numbers)
    return _parse_lease(number, params[f"{_LEASE_PREFIX}{number}"])


def _parse_lease(number: int, value: str) -> LeaseHolder:
    """Read any format: ``<token> <expires>``, ``... <host:pid>``, ``... taken=<t> pidns=<id>``."""
    token, *parts = value.split(" ")
    expires = _as_float(parts[0]) if parts else 0.0
    where = parts[1] if len(parts) > 1 and "=" not in parts[1] else ""
    host, _, pid = where.rpartition(":")
    fields = {key: text for key, _, text in (part.partition("=") for part in parts[2:])}
    return LeaseHolder(
        number=number,
        token=token,
        expires=expires,
        host=host or None,
        pid=_as_int(pid) or None,
        taken_at=_as_float(fields["taken"]) if "taken" in fields else None,
        pid_namespace=fields.get("pidns") or None,
    )


def _standing(holder: LeaseHolder | None) -> Standing:
    """Whether the newest unreleased lease blocks a claimant (module docstring, Takeover)."""
    if holder is None:
        return "free"
    if holder.expires <= time.time():
        return "expired"
    if _process_gone(holder):
        return "gone"
    return "live"


def _process_gone(holder: LeaseHolder) -> bool:
    """The holder recorded its process in this host's process table and it is no longer there.

    Only this release's format (``taken=``) counts: older leases are judged by their TTL.
    """
    if holder.taken_at is None or holder.pid is None or not _on_this_host(holder):
        return False
    return not process_alive(holder.pid)


def _on_this_host(holder: LeaseHolder) -> bool:
    """Same host name and, where both are known, the same PID namespace (one container)."""
    if holder.host != socket.gethostname():
        return False
    here = _pid_namespace()
    return holder.pid_namespace is None or not here or holder.pid_namespace == here


def _pid_namespace() -> str:
    """This process's PID namespace on Linux (``4026531836``); empty where there is none."""
    try:
        link = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return link.removeprefix("pid:[").removesuffix("]")


def _as_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _as_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _tag_key(check_id: str) -> str:
    slug = _UNSAFE_KEY.sub("_", check_id)[:120]
    digest = hashlib.sha1(check_id.encode()).hexdigest()[:10]
    return f"{_STATE_PREFIX}{slug}.{digest}"


def _encode(marks: CheckMarks) -> str:
    channels = {
        key: {
            "severity": m.severity,
            "sent_at": utc_text(m.sent_at, precise=True),
            "windows": list(m.windows[-_WINDOWS_KEPT:]),
            **({"acknowledged_by": m.acknowledged_by} if m.acknowledged_by else {}),
        }
        for key, m in marks.channels.items()
    }
    body: dict[str, object] = {"check_id": marks.check_id, "channels": channels}
    if marks.opened_at is not None:
        body["opened_at"] = utc_text(marks.opened_at, precise=True)
    held = marks.escalation
    if held is not None:
        body["escalation"] = {
            "severity": held.severity,
            "since": utc_text(held.since, precise=True),
            "steps": list(held.steps),
            "run_id": held.run_id,
            "window": held.window,
        }
    return json.dumps(body, sort_keys=True)


def _decode(text: str) -> CheckMarks | None:
    """Marks from a state tag; an unreadable tag is ignored (it can only cause one re-send)."""
    try:
        data = json.loads(text)
        channels = {
            key: ChannelMark(
                m["severity"],
                parse_utc(m["sent_at"]),
                tuple(m.get("windows", ())),
                m.get("acknowledged_by") or None,
            )
            for key, m in data["channels"].items()
        }
        opened = data.get("opened_at")
        return CheckMarks(
            str(data["check_id"]),
            channels,
            parse_utc(opened) if opened else None,
            _decode_escalation(data.get("escalation")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _decode_escalation(raw: object) -> EscalationMark | None:
    if not isinstance(raw, dict):
        return None
    return EscalationMark(
        raw["severity"],
        parse_utc(raw["since"]),
        tuple(int(i) for i in raw.get("steps", ())),
        str(raw.get("run_id", "")),
        str(raw.get("window", "")),
    )
