"""make gameday's parts that can run in seconds: the fault proxy against a real socket
server, the alert transitions, and the postmortem file (the full scenario is a command)."""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "ops"))
import gameday
from faultproxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    p = FaultProxy(server.server_address[1], seed=7).start()
    yield p
    p.stop()
    server.shutdown()
    server.server_close()


def _roundtrip(port: int, payload: bytes = b"ping") -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        t0 = time.perf_counter()
        s.sendall(payload)
        data = s.recv(4096)
        return data, time.perf_counter() - t0


def test_proxy_forwards_then_delays_then_drops(proxy: FaultProxy) -> None:
    assert _roundtrip(proxy.port)[0] == b"ping"
    proxy.set_faults(delay_ms=(100, 120))
    data, took = _roundtrip(proxy.port)
    assert data == b"ping" and took >= 0.2  # both directions are delayed
    proxy.set_faults(loss=1.0)
    try:
        lost = _roundtrip(proxy.port)[0] == b""  # the peer vanished
    except OSError:
        lost = True  # or the connection was reset
    assert lost and proxy.stats.resets >= 1
    proxy.clear()
    assert _roundtrip(proxy.port)[0] == b"ping"


def test_alert_watch_finds_the_first_firing_after_a_fault() -> None:
    w = gameday.AlertWatch("http://127.0.0.1:9")
    w.events = [
        {"t": 5.0, "alert": "TFPolicyDrift", "tenant": "1", "from": "inactive", "to": "pending"},
        {"t": 9.0, "alert": "TFPolicyDrift", "tenant": "1", "from": "pending", "to": "firing"},
        {"t": 20.0, "alert": "TFApiAvailabilityBudgetBurnFast", "tenant": "2", "from": "pending", "to": "firing"},
    ]
    assert w.first(["TFPolicyDrift"], "firing", after=0)["t"] == 9.0
    assert w.first(["TFPolicyDrift"], "firing", after=10) is None
    assert w.first(["BudgetBurn"], "firing", after=10)["tenant"] == "2"


def test_postmortem_has_the_timeline_mtta_and_the_sections_to_fill(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(gameday, "ROOT", tmp_path)
    result = {
        "faults": {
            "flood": {"alert": "TFTenantFlooding", "mtta_s": 131.0, "recovered": True},
            "jitter": {"alert": None, "mtta_s": None, "recovered": False},
        },
        "slo_breaches": [{"alert": "TFApiLatencyBudgetBurnFast", "tenant": "3", "t": 160.0}],
        "phases": {"baseline": {}},
    }
    path = gameday.postmortem(result, [{"t": 100.0, "what": "fault: flood"}], t0=100.0)
    text = path.read_text()
    assert "| flood | TFTenantFlooding | 131.0 s | yes |" in text
    assert "| jitter | - | no alert | no |" in text
    assert "TFApiLatencyBudgetBurnFast tenant=3 at T+  60.0s" in text
    assert "T+   0.0s fault: flood" in text
    for section in ("## Timeline", "## What went well", "## What went wrong", "## Action items"):
        assert section in text
