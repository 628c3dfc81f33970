"""Robustness gaps an outside tester found: coerced types, page parameters, error codes
outside the documented table, the middleware's 413, and a wholly deleted audit chain."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from apps.core.models import AuditHead
from apps.core.services import audit_chain_walk
from tests.conftest import demo_query, tamper
from tests.core.test_api import assert_envelope
from tests.factories import audit_event_in

ROOT = Path(__file__).resolve().parents[2]


# 1. Wrong JSON types are refused, not coerced ------------------------------------------


@pytest.mark.parametrize("name", [123, 1.5, True, [1], {"a": "b"}])
def test_token_name_of_the_wrong_type_is_refused(api_a, name) -> None:
    body = assert_envelope(api_a.post("/api/tokens/", {"name": name}, format="json"), 400, "validation_error")
    assert set(body["details"]) == {"name"}


@pytest.mark.parametrize("prov", [123, True, ["prov"], {"a": 1}])
def test_query_prov_of_the_wrong_type_is_a_validation_error(api_a, prov) -> None:
    body = assert_envelope(api_a.post("/api/queries/", {"prov": prov}, format="json"), 400, "validation_error")
    assert set(body["details"]) == {"prov"}


def test_strict_serializer_refuses_coercions() -> None:
    from rest_framework import serializers

    from apps.core.api.base import StrictSerializer

    class S(StrictSerializer):
        flag = serializers.BooleanField(required=False)
        n = serializers.IntegerField(required=False)
        names = serializers.ListField(child=serializers.CharField(), required=False)
        choice = serializers.ChoiceField(choices=["1", "2"], required=False)

    for data in (
        {"flag": "true"},
        {"flag": 1},
        {"n": 7.0},
        {"n": "7"},
        {"n": True},
        {"names": ["a", 2]},
        {"choice": 1},
    ):
        s = S(data=data)
        assert not s.is_valid(), data
        assert set(s.errors) == set(data)
    good = S(data={"flag": False, "n": 7, "names": ["a"], "choice": "1"})
    assert good.is_valid(), good.errors


def test_every_serializer_that_reads_input_is_strict() -> None:
    """Audit: each ``X(data=...)`` in the apps, and each serializer handed to the zk
    ``validated`` helper, is a StrictSerializer (the others only render output)."""
    import ast
    import importlib

    from apps.core.api.base import StrictSerializer

    loose, seen = [], 0
    for path in sorted((ROOT / "apps").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        names = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if any(k.arg == "data" for k in node.keywords) and node.func.id.endswith("Serializer"):
                names.add(node.func.id)
            if node.func.id == "validated" and node.args and isinstance(node.args[0], ast.Name):
                names.add(node.args[0].id)
        if not names:
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for name in names:
            seen += 1
            if not issubclass(getattr(module, name), StrictSerializer):
                loose.append(f"{path.relative_to(ROOT)}: {name}")
    assert seen > 10 and not loose, loose


def test_form_bodies_keep_text_parsing() -> None:
    from django.http import QueryDict
    from rest_framework import serializers

    from apps.core.api.base import StrictSerializer

    class S(StrictSerializer):
        n = serializers.IntegerField()
        flag = serializers.BooleanField()

    s = S(data=QueryDict("n=7&flag=true"))
    assert s.is_valid(), s.errors and s.validated_data == {"n": 7, "flag": True}


def test_simulation_limit_given_as_float_is_refused(api_a) -> None:
    body = assert_envelope(
        api_a.post("/api/simulations/", {"policy": "p", "version_a": 1.0, "version_b": "2"}, format="json"), 400
    )
    assert body["code"] == "validation_error" and {"version_a", "version_b"} <= set(body["details"])


# 2. Page parameters --------------------------------------------------------------------


@pytest.mark.parametrize("page", ["-1", "0", "abc", "1.5", "99999999999999999999", "²", "9" * 5000])
def test_malformed_page_is_400_naming_the_parameter(api_a, page) -> None:
    body = assert_envelope(api_a.get("/api/tokens/", {"page": page}), 400, "validation_error")
    assert set(body["details"]) == {"page"}


@pytest.mark.parametrize("size", ["²", "9" * 5000])
def test_odd_page_size_is_400(api_a, size) -> None:
    assert_envelope(api_a.get("/api/tokens/", {"page_size": size}), 400, "validation_error")


def test_page_past_the_end_is_404_and_last_works(api_a) -> None:
    assert_envelope(api_a.get("/api/tokens/", {"page": "5"}), 404, "not_found")
    assert api_a.get("/api/tokens/", {"page": "last"}).status_code == 200
    assert api_a.get("/api/tokens/", {"page": "1"}).status_code == 200


# 3. Every error code the API emits is in docs/api.md ---------------------------------------

_CODE_PATTERNS = (
    re.compile(r'\bcode="([a-z_]+)"'),  # DomainError(..., code="x")
    re.compile(r'^\s+code = "([a-z_]+)"', re.M),  # DomainError subclasses
    re.compile(r'_refuse\(\s*"([a-z_]+)"'),  # zk refusals
    re.compile(r'(?<!payload=)\{\s*"code": "([a-z_]+)"'),  # hand-built envelopes
    re.compile(r'^\s+"code": "([a-z_]+)",$', re.M),
    re.compile(r'error_http_response\(\s*\d+,\s*"([a-z_]+)"'),
    re.compile(r'error_body\(\s*"([a-z_]+)"'),
    re.compile(r'^\s+"([a-z_]+)",\n(?:.*\n){1,3}?\s+4\d\d,$', re.M),  # (condition, code, message, status)
)


def _emitted_codes() -> set[str]:
    codes: set[str] = set()
    for path in (ROOT / "apps").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        for pattern in _CODE_PATTERNS:
            codes.update(pattern.findall(text))
    return codes


def test_every_error_code_is_documented() -> None:
    documented = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "api.md").read_text()))
    codes = _emitted_codes()
    assert {"validation_error", "k_floor", "invalid_prov", "query_denied", "no_tenant"} <= codes  # the grep works
    assert not codes - documented, f"codes missing from docs/api.md: {sorted(codes - documented)}"


def test_zk_verify_empty_is_a_documented_validation_error(api_a) -> None:
    body = assert_envelope(api_a.post("/api/zk/verify/", {"bundles": []}, format="json"), 400, "validation_error")
    assert "bundles" in body["details"]


# 4. The middleware's 413 is byte-for-byte the DRF envelope ---------------------------------


@override_settings(TF_MAX_REQUEST_BYTES=1024)
def test_middleware_413_matches_the_drf_envelope(api_a) -> None:
    too_big = api_a.post("/api/tokens/", {"name": "x" * 5000}, format="json")
    body = assert_envelope(too_big, 413, "request_too_large")
    assert body["details"] == {"max_bytes": 1024}
    assert too_big["Content-Type"] == "application/json"
    drf = api_a.post("/api/tokens/", {}, format="json")  # a DRF-rendered error, for the formatting
    assert b", " not in too_big.content and b'": ' not in too_big.content
    assert drf.content.startswith(b'{"code":"') and too_big.content.startswith(b'{"code":"')


# 5. A chain deleted together with its head is not "OK, 0 events" ---------------------------


def _wipe_chain(tenant) -> None:
    tamper("DELETE FROM core_auditevent WHERE tenant_id = %s", [tenant.pk], "core_auditevent", "audit_append_only")
    AuditHead.all_tenants.filter(tenant=tenant).delete()


def _verify(tenant) -> str:
    out = StringIO()
    with pytest.raises(CommandError, match="broken"):
        call_command("audit_verify", tenant=tenant.slug, stdout=out)
    return out.getvalue()


def test_whole_chain_and_head_deleted_is_broken_when_anchored(tenant_a, tenant_b) -> None:
    from apps.provenance import services

    for i in range(3):
        audit_event_in(tenant_a, f"test.step{i}")
    services.audit_heads_anchor([tenant_a])
    _wipe_chain(tenant_a)
    report = audit_chain_walk(tenant_a)
    assert not report.ok and report.events_checked == 0
    assert "audit-head anchor" in _verify(tenant_a) and "#3" in report.first_break.problem
    assert audit_chain_walk(tenant_b).ok  # a tenant that never had events is still fine


def test_whole_chain_and_head_deleted_is_broken_when_a_query_run_names_a_seq(analyst_api_a, lac_a) -> None:
    from apps.provenance.models import AuditHeadAnchor
    from apps.queries.models import QueryRun

    response = analyst_api_a.post("/api/queries/", demo_query(seeds=["hub-a"], metric="degree"), format="json")
    assert response.status_code in (201, 403), response.content  # a denied run records its seq too
    assert QueryRun.all_tenants.filter(tenant=lac_a, audit_seq__isnull=False).exists()
    assert not AuditHeadAnchor.all_tenants.filter(tenant=lac_a).exists()
    _wipe_chain(lac_a)
    assert "query run" in _verify(lac_a)


def test_earlier_passing_check_is_evidence(tenant_a) -> None:
    from apps.core.services import audit_chain_check

    for i in range(2):
        audit_event_in(tenant_a, f"test.step{i}")
    assert audit_chain_check(tenant_a).ok
    _wipe_chain(tenant_a)
    assert "earlier passing chain check" in _verify(tenant_a)
