"""The declared hooks: provenance and JIT register through apps.queries.hooks (queries through
apps.policy_studio.hooks), and the system checks refuse to start when provenance has no
manifest recorder or the simulator no decision history."""

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


def test_upper_apps_plug_in_without_being_imported() -> None:
    """JIT describes and issues grants, provenance compiles ``prov`` chains, queries hands the
    simulator its history: each registered downward, none imported upward."""
    from apps.jit_approvals.demo import approved_grant
    from apps.jit_approvals.selectors import grant_summary
    from apps.policy_studio import hooks as studio_hooks
    from apps.provenance.dsl_compiler import query_spec
    from apps.queries.selectors import past_decisions

    assert hooks._grant_describers == [grant_summary] and hooks._grant_issuers == [approved_grant]
    assert hooks.chain_compiler() is query_spec
    assert studio_hooks._sources == [past_decisions]
    assert hooks.describe_grant(None) is None


def test_startup_check_fails_when_the_simulator_has_no_history(monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.policy_studio import hooks as studio_hooks

    assert studio_hooks.decision_history_registered() == []
    monkeypatch.setattr(studio_hooks, "_sources", [])
    with pytest.raises(SystemCheckError, match=r"policy_studio\.E001"):
        call_command("check")
