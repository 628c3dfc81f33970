"""Logs are JSON lines with request and tenant ids, and never carry secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from apps.core.logging import RedactSecretsFilter, build_formatter


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(build_formatter("json"))
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        root.removeHandler(handler)


def test_request_lines_carry_request_and_tenant_ids(api_a, tenant_a, log_lines) -> None:
    api_a.get("/api/me/", HTTP_X_REQUEST_ID="req-12345678")
    lines = [line for line in log_lines() if line.get("event") == "request"]
    assert lines[-1]["request_id"] == "req-12345678"
    assert lines[-1]["tenant_id"] == tenant_a.pk
    assert lines[-1]["route"] == "api/me/" and lines[-1]["status"] == 200


def test_secrets_are_redacted_from_messages_args_and_extras(log_lines) -> None:
    log = logging.getLogger("trustfabric.test")
    token = "tf_" + "A" * 40
    log.info("calling with %s", f"Authorization: Bearer {token}")
    log.info("slack said xoxb-1234-abcd-secret", extra={"api_key": "k-123", "note": token})
    text = json.dumps(log_lines())
    assert token not in text and "xoxb-1234" not in text and "k-123" not in text
    assert text.count("[REDACTED]") >= 3


def test_a_bad_token_in_a_request_never_reaches_the_log(db, log_lines) -> None:
    from rest_framework.test import APIClient

    secret = "tf_" + "Z" * 43
    APIClient().get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert secret not in json.dumps(log_lines())


def test_email_action_tokens_are_redacted_from_django_request_logs(log_lines) -> None:
    token = "eyJuIjoiYWJjIn0:1tXyZ:signature-part-AbC123"
    logging.getLogger("django.request").error("Internal Server Error: /jit/email/%s/", token)
    text = json.dumps(log_lines())
    assert token not in text and "/jit/email/" not in text.replace("[REDACTED]", "")


def test_secrets_quoted_in_a_traceback_are_redacted(log_lines) -> None:
    token = "tf_" + "Q" * 40
    try:
        int(f"Bearer {token}")
    except ValueError:
        logging.getLogger("trustfabric.test").exception("parsing failed")
    text = json.dumps(log_lines())
    assert token not in text and "invalid literal" in text
