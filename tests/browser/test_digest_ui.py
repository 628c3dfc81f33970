"""A tenant owner, in a real browser under the strict CSP: the digest archive and one
week's page draw their charts with the vendored Chart.js from json_script data, with no
CSP violation; the signed document downloads and verifies offline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from apps.core.keys import public_keys
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.conftest import ROOT
from tests.tenant_rollups.conftest import digest_world, local_time  # noqa: F401  (fixture)
from tests.tenant_rollups.test_digest_delivery import beat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""

DRAWN = """(key) => {
  const canvas = document.querySelector(`canvas[data-chart="${key}"]`);
  const chart = Chart.getChart(canvas);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
  return {type: chart.config.type, data: chart.data.datasets.map((d) => d.data), inked};
}"""


def test_archive_and_week_pages_draw_charts_under_the_csp(
    page, request, smtp, django_capture_on_commit_callbacks, tmp_path
) -> None:
    w = request.getfixturevalue("digest_world")
    beat(local_time(w["week"], w["tz"], 7, 7, 5), django_capture_on_commit_callbacks)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.add_init_script(WATCH_CSP)
    sign_in(page, "owner-a", "correct horse battery staple")

    response = page.goto("/digests/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    page.wait_for_selector("canvas[data-chart=read_rate][data-rendered=true]")
    read_rate = page.evaluate(DRAWN, "read_rate")
    assert read_rate["type"] == "line" and read_rate["data"][1] == [0.95] and read_rate["inked"] > 500

    page.click(f"text={w['week'].label}")
    page.wait_for_selector("canvas[data-chart=denials_by_reason][data-rendered=true]")
    denials = page.evaluate(DRAWN, "denials_by_reason")
    assert denials["type"] == "bar" and denials["data"] == [[1, 1], [4, 4]] and denials["inked"] > 500
    for key in ("approval_times", "verdicts"):
        assert page.evaluate(DRAWN, key)["inked"] > 500
    assert page.inner_text("[data-section=anomalies]").count("Not recorded yet") == 1
    assert page.get_attribute("[data-verified]", "data-verified") == "true"
    page.screenshot(path=str(SCREENSHOTS / "digest.png"), full_page=True)

    assert page.evaluate("window.__csp") == [] and not [m for m in console if "Content Security Policy" in m]

    with page.expect_download() as download:
        page.click("a.button[data-download]")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(public_keys()))
    result = subprocess.run(
        [sys.executable, "-m", "apps.tenant_rollups.offline", "verify-digest", str(path), "--keys", str(keys)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0 and "VERIFIED digest agency-a" in result.stdout, result.stdout + result.stderr
