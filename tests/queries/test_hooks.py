"""The declared hooks: provenance and JIT register through apps.queries.hooks, and the
system check refuses to start when provenance has no manifest recorder registered."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.jit_approvals.selectors import active_grant_facts
from apps.provenance.receivers import sign_and_queue
from apps.queries import hooks


def test_apps_register_their_hooks_once() -> None:
    assert hooks.manifest_recorders() == (sign_and_queue,)
    assert hooks.grant_providers() == (active_grant_facts,)
    hooks.register_manifest_recorder(sign_and_queue)
    assert hooks.manifest_recorders() == (sign_and_queue,)


def test_check_passes_with_the_recorder_registered() -> None:
    assert hooks.manifest_recorder_registered() == []
    call_command("check")


def test_startup_check_fails_when_provenance_has_no_manifest_recorder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "_manifest_recorders", [])
    errors = hooks.manifest_recorder_registered()
    assert [e.id for e in errors] == ["queries.E001"]
    with pytest.raises(SystemCheckError, match=r"queries\.E001"):
        call_command("check")
