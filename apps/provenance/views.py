"""Evidence pages for auditors: runs with their manifest, verdict, diff, attestation (sim),
envelope and log entry; inclusion proofs checked in the page; bundle downloads."""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views import View

from apps.core.crypto import checkpoint as checkpoint_mod
from apps.core.crypto import merkle
from apps.core.crypto.canonical import canonicalize
from apps.core.errors import DomainError
from apps.core.keys import public_keys
from apps.core.permissions import TenantRoleRequiredMixin
from apps.core.tenancy import require_current_tenant

from . import selectors, services
from .dsl_compiler import compile_plan
from .filters import EvidenceFilterSet
from .integrity import KINDS, latest_report_problem, manifest_problem, report_problem, witnessed_verdict
from .pcq import manifest as manifest_mod
from .permissions import EVIDENCE_READERS, PROV_AUTHORS


class EvidenceListView(TenantRoleRequiredMixin, View):
    required_roles = EVIDENCE_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = EvidenceFilterSet(request.GET, queryset=selectors.evidence_runs())
        page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
        slug = require_current_tenant().slug
        rows = []
        for run in page:
            v = selectors.latest_verification(run)
            rows.append((run, v, witnessed_verdict(v, slug)))
        query = request.GET.copy()
        query.pop("page", None)
        return render(
            request,
            "provenance/evidence_list.html",
            {
                "filter": filterset,
                "page": page,
                "rows": rows,
                "query": query.urlencode(),
                "checkpoint": services.latest_checkpoint(),
            },
        )


class EvidenceDetailView(TenantRoleRequiredMixin, View):
    required_roles = EVIDENCE_READERS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = get_object_or_404(selectors.evidence_runs(), pk=pk)
        verification = selectors.latest_verification(run)
        entry = getattr(verification, "entry", None) if verification else None
        checkpoint = services.latest_checkpoint()
        verdict = witnessed_verdict(verification, require_current_tenant().slug)
        proof = browser_check = None
        if entry is not None and checkpoint is not None:
            hashes = services.inclusion_proof(entry.leaf_index, checkpoint.size)
            leaf = merkle.leaf_hash(canonicalize(entry.envelope))
            root = merkle.root_from_inclusion(
                entry.leaf_index, checkpoint.size, leaf, [bytes.fromhex(h) for h in hashes]
            )
            proof = {
                "leaf_index": entry.leaf_index,
                "tree_size": checkpoint.size,
                "leaf_hash": leaf.hex(),
                "hashes": hashes,
                "server_check": root.hex() == checkpoint.root_hash,
            }
            # What the browser checks on its own, against keys it pinned (evidence.js): the
            # manifest's signature, the envelope's two signatures and subject, the leaf hash
            # recomputed from the envelope, the proof up to the root *inside* the signed note.
            browser_check = {
                "manifest": {
                    "body": run.manifest.body,
                    "digest": run.manifest.digest,
                    "signature": run.manifest.signature,
                    "canonicalization": manifest_mod.canonicalization(run.manifest.body),
                },
                "envelope": entry.envelope,
                "leaf_index": entry.leaf_index,
                "tree_size": checkpoint.size,
                "hashes": hashes,
                "checkpoint": checkpoint.note,
                "origin": checkpoint_mod.ORIGIN,
                "served_keys": {role: key for role, key in public_keys().items() if role != "tee_device"},
            }
        return render(
            request,
            "provenance/evidence_detail.html",
            {
                "run": run,
                "manifest": run.manifest,
                "manifest_json": json.dumps(run.manifest.body, indent=2, sort_keys=True),
                "verification": verification,
                "verdict": verdict,
                "manifest_problem": manifest_problem(run.manifest),
                "entry": entry,
                "envelope_json": json.dumps(entry.envelope, indent=2) if entry else "",
                "checkpoint": checkpoint,
                "proof": proof,
                "browser_check": browser_check,
            },
        )


class IntegrityView(TenantRoleRequiredMixin, View):
    """The latest integrity reports of the current tenant (nightly, or from the command)."""

    required_roles = EVIDENCE_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        reports = list(selectors.integrity_reports()[:20])
        latest = reports[0] if reports else None
        # A report is shown only with its signature checked: an edited or inserted one (or a
        # latest one that is not the report the audit chain last recorded) says so first.
        invalid = latest_report_problem(require_current_tenant(), latest)
        checks = [latest.results[k] | {"kind": k} for k in KINDS if k in latest.results] if latest else []
        history = [(r, report_problem(r)) for r in reports[1:]]
        return render(
            request,
            "provenance/integrity.html",
            {"latest": latest, "invalid": invalid, "checks": checks, "history": history},
        )


class EvidenceBundleView(TenantRoleRequiredMixin, View):
    required_roles = EVIDENCE_READERS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = get_object_or_404(selectors.evidence_runs(), pk=pk)
        verification = selectors.latest_verification(run)
        entry = getattr(verification, "entry", None) if verification else None
        if entry is None:
            return render(
                request,
                "error.html",
                {
                    "status": 404,
                    "error": {
                        "code": "not_witnessed",
                        "message": "This run has no witnessed verdict, so there is no evidence bundle.",
                    },
                },
                status=404,
            )
        response = HttpResponse(services.evidence_bundle(entry), content_type="application/gzip")
        response["Content-Disposition"] = f'attachment; filename="evidence-run-{run.pk}.tar.gz"'
        return response


class ProvenanceCompileView(TenantRoleRequiredMixin, View):
    required_roles = PROV_AUTHORS
    EXAMPLE = 'prov {\n  dataset("calls-demo")\n    -> seeds(ids=["grp12-0"])\n    -> expand(hops=2, edge_filter={type: ["calls", "texts"]})\n    -> pagerank()\n    -> top_k(k=10)\n    -> select(fields=["city"])\n}\n'

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "provenance/compile.html", {"source": self.EXAMPLE})

    def post(self, request: HttpRequest) -> HttpResponse:
        source = request.POST.get("source", "")
        context: dict[str, Any] = {"source": source}
        try:
            context["manifest_json"] = json.dumps(compile_plan(source), indent=2, sort_keys=True)
        except DomainError as exc:
            context["error"] = exc.message
            return render(request, "provenance/compile.html", context, status=exc.status)
        return render(request, "provenance/compile.html", context)
