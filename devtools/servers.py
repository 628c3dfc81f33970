"""Loopback stand-ins for the outside world, for tests and ``make bench-jit``: a small
Slack-compatible Web API server (chat.postMessage, chat.update, users.info,
conversations.open, conversations.history with message metadata) and an SMTP sink on
aiosmtpd. Both can be told to fail the next N requests; the Slack server can also hold the
next N posts (accepting them only when released, as a slow Slack would, whether or not the
client is still there). Never used by the running service (it lives outside apps/)."""

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


def _read_slack_request(handler: BaseHTTPRequestHandler) -> tuple[str, dict[str, Any]]:
    """The Web API method and its arguments (JSON or form-encoded, metadata decoded)."""
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length).decode()
    if "json" in (handler.headers.get("Content-Type") or ""):
        body = json.loads(raw or "{}")
    else:
        body = {k: v[0] for k, v in parse_qs(raw).items()}
    if isinstance(body.get("metadata"), str):
        body["metadata"] = json.loads(body["metadata"])
    return handler.path.rsplit("/", 1)[-1], body


def _send_json(handler: BaseHTTPRequestHandler, reply: dict[str, Any]) -> None:
    data = json.dumps(reply).encode()
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:
        pass  # the client went away (e.g. its worker was killed) after we accepted


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
                method, body = _read_slack_request(self)
                ts = outer._accept(method, body)
                if ts is None:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"unavailable")
                    return
                if self.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
                    reply: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
                else:
                    reply = outer._reply(method, body, ts)
                _send_json(self, reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _accept(self, method: str, body: dict[str, Any]) -> str | None:
        """Hold the post if told to, then fail it if told to (``None``) or record it; returns
        the message timestamp."""
        with self.lock:
            holding = method == "chat.postMessage" and self.hold > 0 and self.failures == 0
            if holding:
                self.hold -= 1
                self.held += 1
        if holding:
            self.release.wait(timeout=120)
        ts = f"{time.time():.6f}"
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                return None
            self.calls.append((method, body))
            self.events.append((time.perf_counter(), method))
            if method == "chat.postMessage":
                self.history.setdefault(body.get("channel", "C0"), []).append(
                    {"ts": ts, "text": body.get("text", ""), "metadata": body.get("metadata")}
                )
        return ts

    def _reply(self, method: str, body: dict[str, Any], ts: str) -> dict[str, Any]:
        if method in ("chat.postMessage", "chat.update"):
            return {"ok": True, "channel": body.get("channel", "C0"), "ts": body.get("ts") or ts}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": body.get("users", "")}}
        if method == "conversations.history":
            oldest = float(body.get("oldest") or 0)
            with self.lock:
                found = [m for m in self.history.get(body.get("channel", ""), []) if float(m["ts"]) >= oldest]
            return {"ok": True, "messages": list(reversed(found)), "has_more": False}
        if method == "users.info":
            return {"ok": True, "user": {"id": body.get("user"), "name": "someone"}}
        return {"ok": False, "error": "unknown_method"}

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
