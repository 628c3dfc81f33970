"""The pipeline's declared hooks: what other apps plug into the query road, typed.

- a **grant provider** (``jit_approvals``) returns the subject's active just-in-time grants,
  consulted before access rules deny; expiry is checked by the pipeline at plan time;
- a **manifest recorder** (``provenance``) is called inside the pipeline's transaction for
  every executed query, so a run is never stored without its manifest;
- a **grant describer** (``jit_approvals``) says who approved the grant a run used (for the
  manifest), and a **grant issuer** leaves an approved grant as the JIT flow would (for the
  red-team corpus), so neither ``queries`` nor ``provenance`` imports ``jit_approvals``;
- **run link providers** (``jit_approvals``, ``provenance``) name the pages about a run
  that live in their apps (the access request it led to, the grant it ran under, its
  evidence), so the run's page links to them without importing upward;
- a **chain compiler** (``provenance``) turns the ``prov`` member of a query body (a
  provenance DSL chain) into the query spec it describes, for the query page and the API.

Apps register in their ``AppConfig.ready``; registering twice is a no-op. A system check
(``queries.E001``) refuses to start when provenance is installed and no recorder is registered.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from django.apps import apps
from django.core import checks

if TYPE_CHECKING:
    from apps.policy_studio.lac.engine import GrantFacts

    from .models import QueryRun


class GrantProvider(Protocol):
    def __call__(self, user: Any, now: datetime, /) -> Iterable[GrantFacts]: ...


class ManifestRecorder(Protocol):
    def __call__(self, run: QueryRun, execution: Any, steps: list[Any], /) -> None: ...


class GrantDescriber(Protocol):
    def __call__(self, grant_id: int, /) -> dict[str, Any]: ...


class GrantIssuer(Protocol):
    def __call__(
        self, user: Any, /, *, dataset: str, rule_id: str, data_classes: list[str], purpose: str, reason: str
    ) -> int: ...


class RunLink(NamedTuple):
    kind: str  # "request", "grant", "evidence", ... (a data attribute on the page)
    label: str  # a human name: "Access request #4 (approved)"
    url: str


class RunLinkProvider(Protocol):
    def __call__(self, run: QueryRun, user: Any, roles: frozenset[str], /) -> Iterable[RunLink]: ...


class ChainCompiler(Protocol):
    def __call__(self, text: str, /) -> dict[str, Any]: ...


_chain_compilers: list[ChainCompiler] = []
_run_link_providers: list[RunLinkProvider] = []
_grant_providers: list[GrantProvider] = []
_manifest_recorders: list[ManifestRecorder] = []
_grant_describers: list[GrantDescriber] = []
_grant_issuers: list[GrantIssuer] = []


def register_grant_provider(provider: GrantProvider) -> None:
    if provider not in _grant_providers:
        _grant_providers.append(provider)


def register_manifest_recorder(recorder: ManifestRecorder) -> None:
    if recorder not in _manifest_recorders:
        _manifest_recorders.append(recorder)


def register_grant_describer(describer: GrantDescriber) -> None:
    if describer not in _grant_describers:
        _grant_describers.append(describer)


def register_grant_issuer(issuer: GrantIssuer) -> None:
    if issuer not in _grant_issuers:
        _grant_issuers.append(issuer)


def describe_grant(grant_id: int | None) -> dict[str, Any] | None:
    if grant_id is None or not _grant_describers:
        return None
    return _grant_describers[0](grant_id)


def issue_grant(user: Any, *, dataset: str, rule_id: str, data_classes: list[str], purpose: str, reason: str) -> int:
    if not _grant_issuers:
        raise LookupError("no grant issuer is registered (apps.jit_approvals is not installed)")
    return _grant_issuers[0](
        user, dataset=dataset, rule_id=rule_id, data_classes=data_classes, purpose=purpose, reason=reason
    )


def register_run_links(provider: RunLinkProvider) -> None:
    if provider not in _run_link_providers:
        _run_link_providers.append(provider)


def run_links(run: QueryRun, user: Any, roles: frozenset[str]) -> list[RunLink]:
    """Every page about the run that the user may open, from every registered provider."""
    return [link for provider in _run_link_providers for link in provider(run, user, roles)]


def register_chain_compiler(compiler: ChainCompiler) -> None:
    if compiler not in _chain_compilers:
        _chain_compilers.append(compiler)


def chain_compiler() -> ChainCompiler | None:
    return _chain_compilers[0] if _chain_compilers else None


def grant_providers() -> tuple[GrantProvider, ...]:
    return tuple(_grant_providers)


def manifest_recorders() -> tuple[ManifestRecorder, ...]:
    return tuple(_manifest_recorders)


@checks.register()
def manifest_recorder_registered(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """ "Never without its manifest" depends on provenance's recorder being registered."""
    if apps.is_installed("apps.provenance") and not _manifest_recorders:
        return [
            checks.Error(
                "apps.provenance is installed but no manifest recorder is registered with "
                "apps.queries.hooks.register_manifest_recorder: executed queries would be stored "
                "without their manifests.",
                id="queries.E001",
            )
        ]
    return []
