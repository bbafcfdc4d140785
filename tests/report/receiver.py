"""A real HTTP receiver on 127.0.0.1 for notification tests: ok, failing, slow or down."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Receiver:
    """Answers per ``mode`` and keeps every request it got.

    Modes: ``ok``; ``fail500``; ``robot_error`` (errcode 93000); ``slow`` (answers after
    ``delay_s``); ``hang`` (never answers until stopped). :meth:`stop` closes the port
    (a receiver that is down refuses connections); :meth:`start` opens it again on the
    same port.
    """

    mode: str = "ok"
    delay_s: float = 2.0
    requests: list[tuple[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None
    port: int = 0

    def start(self) -> Receiver:
        receiver = self
        self.release.clear()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                receiver.requests.append((self.path, body))
                if receiver.mode == "hang":
                    receiver.release.wait(30)
                    return
                if receiver.mode == "slow":
                    receiver.release.wait(receiver.delay_s)
                status = 500 if receiver.mode == "fail500" else 200
                errcode = 93000 if receiver.mode == "robot_error" else 0
                payload = json.dumps({"errcode": errcode, "errmsg": "ok"}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def robot_url(self) -> str:
        return f"{self.url}/cgi-bin/webhook/send?key=robotkey-0123456789abcdef"

    @property
    def bodies(self) -> list[Any]:
        return [body for _, body in self.requests]

    def kinds(self) -> list[str]:
        """The ``kind`` of each webhook body, in the order received."""
        return [body["kind"] for body in self.bodies]

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver().start()
    yield rec
    rec.stop()


@pytest.fixture
def robot() -> Iterator[Receiver]:
    rec = Receiver().start()
    yield rec
    rec.stop()
