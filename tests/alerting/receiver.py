"""A tiny HTTP receiver on 127.0.0.1 for apprise's ``json://`` and ``form://`` deliveries.

Records every POST (path, parsed title/message/type) so tests assert on what really arrived.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Received:
    """One delivered notification."""

    path: str
    title: str
    message: str
    type: str
    raw: str
    authorization: str = ""


class Receiver:
    """Starts on a free port; ``messages(path)`` returns what arrived there, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, scheme: str, path: str) -> str:
        """An apprise URL that delivers here, e.g. ``json://127.0.0.1:PORT/chat``."""
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def messages(self, path: str | None = None) -> list[Received]:
        with self._lock:
            found = list(self._received)
        return [r for r in found if path is None or r.path.strip("/").startswith(path)]

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                kind = self.headers.get("Content-Type", "")
                fields = _parse(raw, kind)
                record = Received(
                    self.path.split("?", 1)[0],
                    fields.get("title", ""),
                    fields.get("message", ""),
                    fields.get("type", ""),
                    raw,
                    self.headers.get("Authorization", ""),
                )
                with receiver._lock:
                    receiver._received.append(record)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        return _Handler


def _parse(raw: str, content_type: str) -> dict[str, str]:
    if "json" in content_type:
        data = json.loads(raw)
        return {k: str(v) for k, v in data.items()}
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
