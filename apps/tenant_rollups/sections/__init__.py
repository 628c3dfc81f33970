"""The digest's sections: a small registry of providers (see ``base``). Built-in providers
are registered on import of ``builtin``; other apps register theirs in ``AppConfig.ready``."""

from .base import REGISTRY, Context, Proposal, SectionProvider, collect_all, register

__all__ = ["REGISTRY", "Context", "Proposal", "SectionProvider", "collect_all", "register"]
