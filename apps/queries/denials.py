"""What a denial tells whom: the subject's answer versus the auditor's record.

The subject gets the code, the limit and "more than the limit" (``subject_dict``): never the
observed value and never a witness, which would name records the answer withheld or give the
exact size of what the constraint protects. The decisions keep the full witness; auditors read
it on the decision log and the evidence pages. The API's 403 body and the run pages for the
subject are built here, so the web UI and the API cannot disagree about what a denial says.
"""

from __future__ import annotations

from typing import Any

from apps.policy_studio.lac.constraints import subject_dict

from .models import Decision, QueryRun
from .selectors import jit_offer


def denial_body(run: QueryRun) -> dict[str, Any]:
    """The 403 ``query_denied`` body the subject receives for a denied run."""
    details: dict[str, Any] = {
        "run_id": run.pk,
        "reason_codes": run.reason_codes,
        "violations": [subject_dict(v) for d in run.decisions.all() for v in d.violations],
        "audit_seq": run.audit_seq,
    }
    offer = jit_offer(run, run.user)
    if offer is not None and offer.kind == "request":
        details["request_access"] = {
            "run": run.pk,
            "rule": offer.rule,
            "url": offer.request_url,
            "api": "/api/jit/requests/",
        }
    elif offer is not None:
        details["covered_by_grant"] = offer.grant_id
    return {"code": "query_denied", "message": run.explanation, "details": details}


def subject_decision(decision: Decision) -> dict[str, Any]:
    """One decision as the subject may read it on their own run."""
    violations = [subject_dict(v) for v in decision.violations]
    explanation = (
        " ".join(v["message"] for v in violations if v.get("constraint")) or decision.explanation
        if decision.outcome == "deny" and any(v.get("constraint") for v in decision.violations)
        else decision.explanation
    )
    return {"outcome": decision.outcome, "stage": decision.stage, "explanation": explanation, "violations": violations}
