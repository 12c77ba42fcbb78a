"""A real HTTP file server on 127.0.0.1 for download tests: serves a folder (with directory
listings), honours ``Range`` requests, logs every request, and can misbehave on demand (drop the
connection part-way, answer an error status, ignore ``Range``)."""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


@dataclass
class ServerState:
    root: Path
    url: str = ""
    #: (method, path, Range header or None) per request, in arrival order
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: url path -> bytes to send before dropping the connection; each entry is used up by one request
    drop_after: dict[str, list[int]] = field(default_factory=dict)
    #: url path -> statuses to answer before serving normally; each is used up by one request
    fail_status: dict[str, list[int]] = field(default_factory=dict)
    ignore_range: bool = False
    #: url path -> extra response headers (e.g. a misleading Content-Encoding)
    extra_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gets(self, path: str | None = None) -> list[tuple[str, str, str | None]]:
        with self.lock:
            return [r for r in self.requests if r[0] == "GET" and (path is None or r[1] == path)]


def _handler(state: ServerState):
    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(state.root), **kwargs)

        def log_message(self, format, *args):  # noqa: A002 - quiet
            pass

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            rng = self.headers.get("Range")
            with state.lock:
                state.requests.append(("GET", path, rng))
                status = state.fail_status.get(path, []).pop(0) if state.fail_status.get(path) else None
                drop = state.drop_after.get(path, []).pop(0) if state.drop_after.get(path) else None
            if status is not None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            local = Path(self.translate_path(self.path))
            if not local.is_file():
                self.close_connection = True
                return super().do_GET()  # directory listing or 404
            data = local.read_bytes()
            total, start, end = len(data), 0, len(data) - 1
            if rng and not state.ignore_range and rng.startswith("bytes="):
                first, _, last = rng[len("bytes="):].partition("-")
                start = int(first) if first else 0
                end = min(int(last), total - 1) if last else total - 1
                if start >= total:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{total}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
            else:
                self.send_response(200)
            body = data[start:end + 1]
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            for key, value in state.extra_headers.get(path, {}).items():
                self.send_header(key, value)
            self.end_headers()
            if drop is not None:
                self.wfile.write(body[:drop])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def serve_directory(root: str | os.PathLike) -> Iterator[ServerState]:
    """Serve ``root`` on a free port of 127.0.0.1 in a thread; yields the :class:`ServerState`."""
    state = ServerState(root=Path(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http",
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
