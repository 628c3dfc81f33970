"""An auditor, in a real browser: run a query, open its evidence, see the verdict, the diff,
the sim attestation, the log index and the inclusion proof checked by the browser itself;
download the bundle and verify it offline from the command line."""

from __future__ import annotations

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
    result = subprocess.run(
        [sys.executable, "-m", "apps.provenance.offline", "verify", str(bundle)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERIFIED (attestation mode: sim)" in result.stdout
