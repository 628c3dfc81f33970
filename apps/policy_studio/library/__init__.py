"""The template library: starting points for new policies, each of which validates and lints
clean (tests/policy_studio/test_templates.py). Add a template by adding its YAML here and a
row to ``TEMPLATES``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PolicyTemplate:
    slug: str
    title: str
    summary: str

    @property
    def source(self) -> str:
        return _read(self.slug)


@cache
def _read(slug: str) -> str:
    return (HERE / f"{slug}.yaml").read_text()


TEMPLATES = (
    PolicyTemplate(
        "investigations", "Investigations", "Analysts investigate structure; a cleared team sees identities, minimized."
    ),
    PolicyTemplate("partner-access", "Partner access", "Partners see licensed, non-identifying data in small windows."),
    PolicyTemplate(
        "jit-identities", "JIT identities", "Identities only under a just-in-time grant two supervisors approve."
    ),
    PolicyTemplate(
        "graph-shape-caps", "Graph-shape caps", "Limits on what one subject learns about a graph's shape, per class."
    ),
)


def template(slug: str) -> PolicyTemplate | None:
    return next((t for t in TEMPLATES if t.slug == slug), None)
