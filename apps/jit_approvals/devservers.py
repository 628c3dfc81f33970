"""Loopback stand-ins for the outside world, for tests and ``make bench-jit``: a small
Slack-compatible Web API server (chat.postMessage, chat.update, users.info,
conversations.open, conversations.history with message metadata) and an SMTP sink on
aiosmtpd. Both can be told to fail the next N requests; the Slack server can also hold the
next N posts (accepting them only when released, as a slow Slack would, whether or not the
client is still there). Never used by the running service."""

from __future__ import annotations

import json
import socket
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

BOT_TOKEN = "xoxb-test-0000000000-abcdefghijkl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeSlack:
    """Enough of the Slack Web API for chat.postMessage, chat.update and users.info."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures = 0
        self.lock = threading.Lock()
        self.events: list[tuple[float, str]] = []
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.hold = 0
        self.held = 0
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                if isinstance(body.get("metadata"), str):
                    body["metadata"] = json.loads(body["metadata"])
                with outer.lock:
                    holding = method == "chat.postMessage" and outer.hold > 0 and outer.failures == 0
                    if holding:
                        outer.hold -= 1
                        outer.held += 1
                if holding:
                    outer.release.wait(timeout=120)
                ts = f"{time.time():.6f}"
                with outer.lock:
                    failing = outer.failures > 0
                    if failing:
                        outer.failures -= 1
                    else:
                        outer.calls.append((method, body))
                        outer.events.append((time.perf_counter(), method))
                        if method == "chat.postMessage":
                            outer.history.setdefault(body.get("channel", "C0"), []).append(
                                {"ts": ts, "text": body.get("text", ""), "metadata": body.get("metadata")}
                            )
                if failing:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"unavailable")
                    return
                if self.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
                    reply = {"ok": False, "error": "invalid_auth"}
                elif method in ("chat.postMessage", "chat.update"):
                    reply = {"ok": True, "channel": body.get("channel", "C0"), "ts": body.get("ts") or ts}
                elif method == "conversations.open":
                    reply = {"ok": True, "channel": {"id": body.get("users", "")}}
                elif method == "conversations.history":
                    oldest = float(body.get("oldest") or 0)
                    with outer.lock:
                        found = [m for m in outer.history.get(body.get("channel", ""), []) if float(m["ts"]) >= oldest]
                    reply = {"ok": True, "messages": list(reversed(found)), "has_more": False}
                elif method == "users.info":
                    reply = {"ok": True, "user": {"id": body.get("user"), "name": "someone"}}
                else:
                    reply = {"ok": False, "error": "unknown_method"}
                data = json.dumps(reply).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client went away (e.g. its worker was killed) after we accepted

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def posts(self) -> list[dict[str, Any]]:
        return [b for m, b in self.calls if m == "chat.postMessage"]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """aiosmtpd handler: stores messages; can refuse the next N with a 451."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.failures = 0
        self.events: list[tuple[float, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.failures > 0:
            self.failures -= 1
            return "451 4.3.0 Temporary failure, try again"
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.events.append((time.perf_counter(), envelope.rcpt_tos[0]))
        return "250 OK"

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in m["To"]]
