"""The packaged tenant client (clients/python): built from the repository into a fresh
virtualenv with no Django and none of the server's code, it runs a whole session for both
tenants against a live server, saves the bundle, and verifies it offline against the pinned
trust file. Its HTTP layer retries 429/503 after Retry-After and reports an unreachable server
in one line."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from apps.zk_proofs.client import Api, ClientError
from tests.conftest import ROOT
from tests.zk.conftest import phone_sets
from tests.zk.test_zk_sessions import _propose


def _pem(private: Any, path: Path) -> Path:
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory) -> Path:
    """A fresh virtualenv with only the client wheel and its dependencies (from the index
    pip is configured with)."""
    base = tmp_path_factory.mktemp("tfzk")
    venv, wheels = base / "venv", base / "wheels"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet"]
    # setuptools builds in place and never prunes build/lib: start from a clean tree
    shutil.rmtree(ROOT / "clients" / "python" / "build", ignore_errors=True)
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT / "clients" / "python")],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = wheels.glob("*.whl")
    install = subprocess.run([*pip, "install", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    return venv


def _env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}  # no PYTHONPATH: only the venv


def test_the_wheel_holds_only_the_client_and_its_pure_kits(client_venv, tmp_path) -> None:
    py = str(client_venv / "bin" / "python")
    probe = "import importlib.util as u, apps.zk_proofs.client; print(u.find_spec('django'), u.find_spec('apps.zk_proofs.models'), u.find_spec('apps.core.models'))"
    out = subprocess.run([py, "-c", probe], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "None", "None"]
    # the same module set the supply chain signs as tf-zk-client (found from the import graph),
    # less the two docstring-only __init__ files that stay namespace packages here
    import zipfile

    from ops.supply_chain import client_modules

    [wheel] = (client_venv.parent / "wheels").glob("*.whl")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")}
    graph = {str(p.relative_to(ROOT)) for p in client_modules()[0]} - {"apps/__init__.py", "apps/core/__init__.py"}
    assert shipped == graph


def test_an_unreachable_server_is_one_clear_line(client_venv, tmp_path) -> None:
    key = tmp_path / "k.pem"
    subprocess.run([str(client_venv / "bin" / "tfzk"), "keygen", "--out", str(key)], check=True, capture_output=True)
    (tmp_path / "s.txt").write_text("+447700900001\n")
    result = subprocess.run(
        [
            *(str(client_venv / "bin" / "tfzk"), "run", "--server", "http://127.0.0.1:18599", "--token", "tf_x"),
            *("--tenant", "a", "--tenant-key", str(key), "--session", "s", "--type", "phone"),
            *("--selectors", str(tmp_path / "s.txt"), "--retries", "1"),
        ],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "tfzk: error: cannot reach the server at http://127.0.0.1:18599: connection refused "
        "(is the server running, and is the URL right?)"
    )


@pytest.mark.django_db(transaction=True)
def test_both_tenants_run_a_session_with_the_installed_client_and_verify_offline(
    client_venv, live_server, zk_pair, tmp_path
) -> None:
    set_a, set_b = phone_sets(150, 12, seed=11)
    session = _propose(zk_pair["api_a"], zk_pair["tb"].slug, 20)
    tfzk = str(client_venv / "bin" / "tfzk")
    procs = {}
    for side, tenant, values in (("a", zk_pair["ta"], set_a), ("b", zk_pair["tb"], set_b)):
        (tmp_path / f"{side}.txt").write_text("\n".join(values) + "\n")
        env = {**_env(tmp_path), "TF_TOKEN": zk_pair[f"api_{side}"].token_plaintext}
        procs[side] = subprocess.Popen(
            [
                *(tfzk, "run", "--server", live_server.url, "--tenant", tenant.slug, "--session", session),
                *("--tenant-key", str(_pem(zk_pair[f"key_{side}"], tmp_path / f"{side}.pem")), "--type", "phone"),
                *("--selectors", str(tmp_path / f"{side}.txt"), "--k", "20", "--out", str(tmp_path / f"{side}.json")),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    outputs = {side: p.communicate(timeout=240) for side, p in procs.items()}
    for side, (out, err) in outputs.items():
        assert procs[side].returncode == 0, err[-2000:]
        assert json.loads(out.splitlines()[-1]) == {"overlap_at_most_k": True, "count": 12}
        assert set_a[0] not in out + err and set_b[-1] not in out + err
    # the saved bundle is the server's bytes, and verifies offline against the pinned trust file
    assert (tmp_path / "b.json").read_bytes() == zk_pair["api_b"].get(f"/api/zk/sessions/{session}/bundle/").content
    (tmp_path / "trust.json").write_bytes(zk_pair["api_b"].get("/api/zk/trust/").content)
    verify = subprocess.run(
        [tfzk, "verify", str(tmp_path / "b.json"), "--trust", str(tmp_path / "trust.json")],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0 and "VERIFIED (L1" in verify.stdout, verify.stdout + verify.stderr
    tampered = bytearray((tmp_path / "b.json").read_bytes())
    tampered[len(tampered) // 2] ^= 0x01
    (tmp_path / "bad.json").write_bytes(bytes(tampered))
    bad = subprocess.run(
        [tfzk, "verify", str(tmp_path / "bad.json"), "--trust", str(tmp_path / "trust.json")],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "FAIL" in bad.stdout


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 429 (Retry-After: 2), then 503 without Retry-After, then 200."""

    answers: list[tuple[int, dict[str, str]]] = []

    def do_GET(self) -> None:
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        body = b'{"ok": true}' if status == 200 else b'{"code": "quota_exceeded", "message": "Quota used up."}'
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flaky() -> Any:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_429_and_503_are_retried_after_retry_after_then_backoff(flaky) -> None:
    _Flaky.answers = [(429, {"Retry-After": "2"}), (503, {})]
    pauses: list[float] = []
    api = Api(f"http://127.0.0.1:{flaky.server_port}", "tf_x", sleep=pauses.append)
    assert api.call("GET", "x/") == {"ok": True}
    assert pauses == [2.0, 2.0]  # Retry-After honoured; then backoff 2**1 s
    _Flaky.answers = [(429, {"Retry-After": "1"})] * 3
    api = Api(f"http://127.0.0.1:{flaky.server_port}", "tf_x", retries=2, sleep=pauses.append)
    with pytest.raises(ClientError, match=r"429: quota_exceeded: Quota used up\."):
        api.call("GET", "x/")


def test_the_client_never_retries_sooner_than_retry_after_nor_waits_unboundedly() -> None:
    @hsettings(max_examples=200, deadline=None)
    @given(attempt=st.integers(min_value=0, max_value=12), header=st.one_of(st.none(), st.text(max_size=6)))
    @example(attempt=0, header="\u00b2")  # a Unicode digit: str.isdigit() is true, int() refuses it
    @example(attempt=3, header="Wed, 21 Oct 2015 07:28:00 GMT")  # the HTTP-date form: backoff instead
    def check(attempt: int, header: str | None) -> None:
        pauses: list[float] = []
        Api("http://127.0.0.1:1", "t", sleep=pauses.append)._pause(attempt, header)
        [pause] = pauses
        asked = int(header.strip()) if header and header.strip().isascii() and header.strip().isdigit() else None
        if asked is not None:
            assert pause == min(asked, 300)  # never sooner than asked, capped at 5 minutes
        else:
            assert 1 <= pause <= 60 and pause == min(60, 2**attempt)

    check()
