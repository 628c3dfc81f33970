"""An auditor, in a real browser: run a query, open its evidence, see the verdict, the diff,
the sim attestation, the log index and the inclusion proof checked by the browser itself;
download the bundle and verify it offline from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from apps.core.models import Role
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.conftest import ROOT, load_calls_demo, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_evidence_page_and_offline_bundle(page, tenant_a, tmp_path) -> None:
    user = member(tenant_a, "auditor-analyst", Role.ANALYST, Role.AUDITOR)
    load_calls_demo(tenant_a, user)
    sign_in(page, "auditor-analyst", "correct horse battery staple")
    page.click("nav >> text=Queries")
    page.fill(
        "#id_spec",
        '{"dataset": "calls-demo", "seeds": ["grp12-0"], "hops": 2, "metric": "pagerank", "fields": ["city"], "purpose": "investigation", "reason": "case 7"}',
    )
    page.click("button:has-text('Run query')")
    page.wait_for_selector("[data-status=allowed]")
    run_id = page.url.rstrip("/").split("/")[-1]

    page.click("nav >> text=Evidence")
    page.click(f"text=#{run_id}")
    page.wait_for_selector("[data-verdict=match]")
    assert "affirming" in page.inner_text("[data-attestation]") and "sim" in page.inner_text("h1")
    assert page.inner_text("[data-leaf-index]").strip().isdigit()
    page.wait_for_selector("[data-proof-status=ok]")
    assert "Metric values" in page.inner_text("table.diff")
    page.screenshot(path=str(SCREENSHOTS / "evidence.png"), full_page=True)

    with page.expect_download() as download:
        page.click("[data-bundle]")
    bundle = tmp_path / "evidence.tar.gz"
    download.value.save_as(bundle)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    from apps.core.keys import public_keys

    keys = tmp_path / "trusted-keys.json"
    keys.write_text(json.dumps(public_keys()))
    result = subprocess.run(
        [sys.executable, "-m", "apps.provenance.offline", "verify", str(bundle), "--keys", str(keys)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERIFIED (attestation mode: sim)" in result.stdout


def _witnessed_run(tenant, user) -> int:
    from tests.conftest import demo_query, token_client

    load_calls_demo(tenant, user)
    response = token_client(user, tenant).post(
        "/api/queries/", demo_query(seeds=["grp12-0"], hops=2, metric="pagerank"), format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _checks(page) -> dict[str, str]:
    page.wait_for_selector("[data-proof-status=ok], [data-proof-status=failed]")
    return {
        li.get_attribute("data-check"): f"{li.get_attribute('data-ok')} {li.inner_text()}"
        for li in page.query_selector_all("#browser-checks li")
    }


def test_the_browser_verifies_signatures_against_keys_it_pinned(page, tenant_a) -> None:
    import base64
    import json

    user = member(tenant_a, "auditor-pins", Role.ANALYST, Role.AUDITOR)
    run_id = _witnessed_run(tenant_a, user)
    sign_in(page, "auditor-pins", "correct horse battery staple")
    page.goto(f"/evidence/{run_id}/")
    checks = _checks(page)
    assert page.get_attribute("#proof-status", "data-proof-status") == "ok", checks
    assert set(checks) == {"keys", "manifest", "envelope", "subject", "checkpoint", "inclusion"}
    assert all(v.startswith("true") for v in checks.values()), checks
    assert "(first use)" in page.inner_text("#pinned-keys")
    assert "|safe" not in (ROOT / "templates" / "provenance" / "evidence_detail.html").read_text()

    # A server that swaps its log key (to sign a forged checkpoint) is caught: the browser
    # checks with the key it pinned, not the one the page carries.
    other = base64.b64encode(bytes(range(32))).decode()
    page.evaluate(
        """(other) => { const p = JSON.parse(localStorage.getItem("trustfabric.pinned-keys"));
                        p.keys.log = other; localStorage.setItem("trustfabric.pinned-keys", JSON.stringify(p)); }""",
        other,
    )
    page.reload()
    checks = _checks(page)
    assert page.get_attribute("#proof-status", "data-proof-status") == "failed"
    assert checks["keys"].startswith("false") and "log key differs" in checks["keys"]
    assert checks["checkpoint"].startswith("false") and "not signed by the pinned log key" in checks["checkpoint"]
    assert checks["envelope"].startswith("true")

    # Forgetting the pinned keys pins the served ones again; pasted keys are used as given.
    page.click("#browser-check summary")
    with page.expect_navigation():
        page.click("#pin-forget")
    _checks(page)
    assert page.get_attribute("#proof-status", "data-proof-status") == "ok"
    from apps.core.keys import public_keys

    served = public_keys()
    page.click("#browser-check summary")
    page.fill("#pin-keys", json.dumps({**served, "witness": other}))
    with page.expect_navigation():
        page.click("#pin-save")
    checks = _checks(page)
    assert "(pasted)" in page.inner_text("#pinned-keys")
    assert checks["envelope"].startswith("false") and "pinned witness key" in checks["envelope"]


def test_the_browser_recomputes_the_leaf_from_the_envelope(page, tenant_a) -> None:
    import json

    from apps.provenance.models import WitnessedEntry
    from tests.conftest import tamper

    user = member(tenant_a, "auditor-leaf", Role.ANALYST, Role.AUDITOR)
    run_id = _witnessed_run(tenant_a, user)
    entry = WitnessedEntry.all_tenants.get(verification__manifest__query_run_id=run_id)
    envelope = {**entry.envelope, "payloadType": "application/vnd.trustfabric.forged+json"}
    tamper(
        "UPDATE provenance_witnessedentry SET envelope = %s WHERE id = %s",
        [json.dumps(envelope), entry.pk],
        "provenance_witnessedentry",
    )
    sign_in(page, "auditor-leaf", "correct horse battery staple")
    page.goto(f"/evidence/{run_id}/")
    checks = _checks(page)
    assert page.get_attribute("#proof-status", "data-proof-status") == "failed"
    assert checks["inclusion"].startswith("false") and checks["envelope"].startswith("false")
    assert page.get_attribute("[data-verdict]", "data-verdict") == "integrity_failed"
