"""Policy Studio's declared hooks: what it reads of the query road, one layer up.

The stored runs, their decisions and the red-team corpus belong to ``apps.queries``, which
registers them in its ``AppConfig.ready``; Policy Studio reads them only through these typed
functions and never imports ``apps.queries``:

- a **decision history** (``simulator.PastDecision`` values, optionally of one dataset or one
  environment) for the simulator and the promotion gate's simulation;
- **decision rows** (outcome, reason codes, violations, purpose) of one policy's versions, for
  the editor's history hints;
- the **red-team corpus** (cases with the replayable facts of their steps), for the promotion
  gate. A system check (``policy_studio.E001``) refuses to start when
apps.queries is installed and no source is registered (the simulator would see no history).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from django.apps import apps
from django.core import checks

if TYPE_CHECKING:
    from .simulator import PastDecision


class DecisionHistory(Protocol):
    def __call__(self, *, dataset: str | None, environment: str | None, limit: int) -> list[PastDecision]: ...


class DecisionRows(Protocol):
    def __call__(self, *, policy_id: int, since: datetime, limit: int) -> list[tuple[str, Any, Any, str | None]]: ...


class RedteamCorpus(Protocol):
    def __call__(self) -> list[dict[str, Any]]: ...


_sources: list[DecisionHistory] = []
_decision_rows: list[DecisionRows] = []
_corpora: list[RedteamCorpus] = []


def register_decision_history(source: DecisionHistory) -> None:
    if source not in _sources:
        _sources.append(source)


def decision_history(
    *, dataset: str | None = None, environment: str | None = None, limit: int = 5000
) -> list[PastDecision]:
    """The current tenant's latest ``limit`` runs, newest first (optionally of one dataset, or
    of the runs decided in one Studio environment)."""
    out: list[PastDecision] = []
    for source in _sources:
        out += source(dataset=dataset, environment=environment, limit=limit)
    return out


def register_decision_rows(source: DecisionRows) -> None:
    if source not in _decision_rows:
        _decision_rows.append(source)


def decision_rows(*, policy_id: int, since: datetime, limit: int) -> list[tuple[str, Any, Any, str | None]]:
    """(outcome, reason codes, violations, purpose) of the decisions any version of the policy
    made since ``since``, newest first, at most ``limit``."""
    return [row for source in _decision_rows for row in source(policy_id=policy_id, since=since, limit=limit)]


def register_redteam_corpus(source: RedteamCorpus) -> None:
    if source not in _corpora:
        _corpora.append(source)


def redteam_corpus() -> list[dict[str, Any]]:
    """Every red-team case with its label and the replayable facts of its steps."""
    return [case for source in _corpora for case in source()]


@checks.register()
def decision_history_registered(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if apps.is_installed("apps.queries") and not (_sources and _decision_rows and _corpora):
        return [
            checks.Error(
                "apps.queries is installed but its decision history, decision rows or red-team corpus "
                "is not registered with apps.policy_studio.hooks: the simulator and the promotion "
                "gates would replay nothing.",
                id="policy_studio.E001",
            )
        ]
    return []
