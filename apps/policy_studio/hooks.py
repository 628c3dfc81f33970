"""Policy Studio's declared hook: the decision history the simulator replays.

The stored runs belong to ``apps.queries``, one layer up, which registers a source in its
``AppConfig.ready``; Policy Studio reads them only as ``simulator.PastDecision`` values and
never imports ``apps.queries``. A system check (``policy_studio.E001``) refuses to start when
apps.queries is installed and no source is registered (the simulator would see no history).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from django.apps import apps
from django.core import checks

if TYPE_CHECKING:
    from .simulator import PastDecision


class DecisionHistory(Protocol):
    def __call__(self, *, dataset: str | None, limit: int) -> list[PastDecision]: ...


_sources: list[DecisionHistory] = []


def register_decision_history(source: DecisionHistory) -> None:
    if source not in _sources:
        _sources.append(source)


def decision_history(*, dataset: str | None = None, limit: int = 5000) -> list[PastDecision]:
    """The current tenant's latest ``limit`` runs, newest first (optionally of one dataset)."""
    out: list[PastDecision] = []
    for source in _sources:
        out += source(dataset=dataset, limit=limit)
    return out


@checks.register()
def decision_history_registered(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if apps.is_installed("apps.queries") and not _sources:
        return [
            checks.Error(
                "apps.queries is installed but no decision history is registered with "
                "apps.policy_studio.hooks.register_decision_history: the simulator would replay nothing.",
                id="policy_studio.E001",
            )
        ]
    return []
