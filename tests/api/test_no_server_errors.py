"""The answers that used to be 500s: format-suffix routes, NUL and lone surrogates, deep
nesting, out-of-range instants in audit filters, and a database that goes away."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.db import connection
from django.urls import get_resolver
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rest_framework.exceptions import ParseError

from apps.core.api.parsers import MAX_DEPTH, BodyRefused, SafeJSONParser
from apps.core.models import ApiToken
from tests.conftest import demo_query, scan_logs_for, token_client

pytestmark = pytest.mark.django_db


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    if code:
        assert body["code"] == code
    return body


# --- Format suffixes ------------------------------------------------------------------------


def test_format_suffix_routes_of_custom_actions_and_create_answer(api_a) -> None:
    current = api_a.get("/api/tokens/current.json")
    assert current.status_code == 200 and current.json()["name"] == "test"
    created = api_a.post("/api/tokens.json", {"name": "via-suffix"}, format="json")
    assert created.status_code == 201 and created.json()["token"].startswith("tf_")
    scan_logs_for(created.json()["token"])
    assert ApiToken.all_tenants.filter(name="via-suffix").exists()


def test_post_queries_json_is_an_answer_not_a_crash(lac_a, analyst_api_a) -> None:
    response = analyst_api_a.post("/api/queries.json", demo_query(metric="degree", seeds=["p1"]), format="json")
    assert response.status_code in (201, 403), response.content[:300]


def _suffix_routes() -> list[str]:
    """Every router route with a ``format`` suffix, with its parameters filled by a number."""
    routes = []
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) != "api/":
            continue
        for sub in pattern.url_patterns:
            regex = str(sub.pattern)
            if "(?P<format>" not in regex:
                continue
            path = regex.strip("^$").replace("\\.(?P<format>[a-z0-9]+)/?", ".json")
            path = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", path).replace("\\", "")
            routes.append("/api/" + path)
    return sorted(set(routes))


def test_every_format_suffix_route_answers_without_a_server_error(api_a) -> None:
    routes = _suffix_routes()
    assert len(routes) > 20
    for path in routes:
        for method in ("get", "post"):
            response = getattr(api_a, method)(path, {}, format="json")
            assert response.status_code < 500, (method, path, response.content[:200])


# --- Bodies the storage layer or the stack cannot take ---------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"name": "a\\u0000b"}', "nul_character"),
        ('{"name": "a\\ud800b"}', "invalid_unicode"),
        ('{"na\\u0000me": "x"}', "nul_character"),
        ("[" * 100_000 + "]" * 100_000, "too_deeply_nested"),
        ('{"a":' * 5000 + "1" + "}" * 5000, "too_deeply_nested"),
        ('{"name": "x", "name": "y"}', "duplicate_key"),
        ('{"name": "x", "d": {"a": "\\u0000", "a": 1}}', "duplicate_key"),  # a NUL hidden behind a repeat
        ('{"name": "x", "max": 1e400}', "malformed_request"),  # would read as infinity
        ('{"name": "x", "max": -1e400}', "malformed_request"),
        ('{"name": "x", "n": ' + "1" * 4301 + "}", "malformed_request"),  # Python's integer digit limit
    ],
)
@pytest.mark.parametrize("route", ["/api/tokens/", "/api/datasets/", "/api/pcq-ops/suppressions/"])
def test_bodies_refused_by_the_parser(api_a, body, code, route) -> None:
    assert_envelope(api_a.post(route, body, content_type="application/json"), 400, code)


def test_every_api_view_parses_json_with_the_safe_parser() -> None:
    """A view that lists its own ``parser_classes`` must not bring back the plain JSONParser."""
    from django.urls import get_resolver

    from apps.core.api.parsers import SafeJSONParser
    from apps.core.permissions import _walk

    unsafe = set()
    for route, callback in _walk(get_resolver().url_patterns):
        cls = getattr(callback, "cls", None)
        for parser in getattr(cls, "parser_classes", ()):
            if "json" in parser.media_type and not issubclass(parser, SafeJSONParser):
                unsafe.add(f"{route} {cls.__name__}: {parser.__name__}")
    assert not unsafe, sorted(unsafe)


def test_nul_and_lone_surrogates_in_a_json_column_are_refused(lac_a, analyst_api_a) -> None:
    # The query spec is stored in a JSON column; PostgreSQL's jsonb refuses \u0000.
    for bad in ("p1\\u0000", "p1\\udfff"):
        body = json.dumps(demo_query(metric="degree")).replace('"metric"', f'"seeds": ["{bad}"], "metric"')
        assert_envelope(analyst_api_a.post("/api/queries/", body, content_type="application/json"), 400)


def test_nan_is_not_json(api_a) -> None:
    assert_envelope(api_a.post("/api/tokens/", '{"name": NaN}', content_type="application/json"), 400)


def test_nesting_at_the_limit_is_accepted() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert SafeJSONParser().parse(io.BytesIO(text.encode()), parser_context={}) is not None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_parser_round_trips_clean_json_and_refuses_dirty(value) -> None:
    text = json.dumps(value)
    dirty = any(re.search("[\x00\ud800-\udfff]", s) for s in _strings(value))
    try:
        parsed = SafeJSONParser().parse(io.BytesIO(text.encode("utf-8")), parser_context={})
    except BodyRefused:
        assert dirty
        return
    except ParseError:
        pytest.fail(f"clean JSON refused: {text[:80]}")
    assert not dirty and parsed == value


# --- Audit filters --------------------------------------------------------------------------


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:00"])
@pytest.mark.parametrize(
    ("api", "page", "param"), [("/api/audit-events/", "/audit/", "until"), ("/api/evidence/", "/evidence/", "since")]
)
def test_list_filter_instants_outside_utc_range_are_400(api_a, instant, client, admin_a, api, page, param) -> None:
    body = assert_envelope(api_a.get(api, {"since": instant}), 400, "validation_error")
    assert "since" in body["details"]
    client.force_login(admin_a)
    assert client.get(page, {param: instant}).status_code == 200  # the form shows the error


def test_audit_filter_with_a_large_but_valid_offset_works(api_a) -> None:
    assert api_a.get("/api/audit-events/", {"since": "2026-01-01T00:00:00+23:00"}).status_code == 200


# --- The database goes away -----------------------------------------------------------------


def _require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (a server whose connections can be cut)")


def _cut_our_connection() -> None:
    """What a PostgreSQL restart does to an open connection: the server ends it."""
    import psycopg

    pid = connection.connection.info.backend_pid
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], dbname=s["NAME"], autocommit=True
    ) as side:
        side.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.django_db(transaction=True)
def test_a_read_retries_once_on_a_fresh_connection(tenant_a, admin_a) -> None:
    _require_postgres()
    api = token_client(admin_a, tenant_a)
    assert api.get("/api/me/").status_code == 200
    _cut_our_connection()
    assert api.get("/api/audit-events/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_write_during_a_restart_is_503_with_retry_after(tenant_a, admin_a) -> None:
    _require_postgres()
    api = token_client(admin_a, tenant_a)
    before = ApiToken.all_tenants.count()
    _cut_our_connection()
    response = api.post("/api/tokens/", {"name": "during-restart"}, format="json")
    assert_envelope(response, 503, "database_unavailable")
    assert int(response["Retry-After"]) > 0
    assert ApiToken.all_tenants.count() == before


@pytest.mark.django_db(transaction=True)
def test_while_the_database_is_down_reads_and_pages_are_503(tenant_a, admin_a, client) -> None:
    _require_postgres()
    api = token_client(admin_a, tenant_a)
    client.force_login(admin_a)
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = 1  # nothing listens: every connect is refused
    try:
        read = api.get("/api/audit-events/")
        page = client.get("/audit/")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert_envelope(read, 503, "database_unavailable")
    assert read["Retry-After"] == page["Retry-After"]
    assert page.status_code == 503 and b"briefly unavailable" in page.content


@pytest.mark.parametrize("size", ["0", "-1", "1.5", "501", "abc", "1e3"])
def test_page_size_outside_its_bounds_is_400(api_a, size) -> None:
    body = assert_envelope(api_a.get("/api/tokens/", {"page_size": size}), 400, "validation_error")
    assert "page_size" in body["details"]


def test_page_size_within_bounds_is_used(api_a) -> None:
    assert api_a.get("/api/audit-events/", {"page_size": "500"}).status_code == 200
