"""What a denial tells whom: the subject's answer versus the auditor's record.

The API's 403 body and the run pages for the subject are built here, so the web UI and the
API cannot disagree about what a denial discloses.
"""

from __future__ import annotations

from typing import Any

from .models import QueryRun


def denial_body(run: QueryRun) -> dict[str, Any]:
    """The 403 ``query_denied`` body the subject receives for a denied run."""
    details: dict[str, Any] = {
        "run_id": run.pk,
        "reason_codes": run.reason_codes,
        "violations": [v for d in run.decisions.all() for v in d.violations],
        "audit_seq": run.audit_seq,
    }
    if "JIT_REQUIRED" in run.reason_codes:
        details["request_access"] = {
            "run": run.pk,
            "rule": run.jit_rule,
            "url": f"/jit/?run={run.pk}",
            "api": "/api/jit/requests/",
        }
    return {"code": "query_denied", "message": run.explanation, "details": details}
