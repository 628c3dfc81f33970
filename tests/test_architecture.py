"""The import contract (issue 12): apps import only downward.

    core ← graphs ← policy_studio ← queries ← jit_approvals | provenance ← zk_proofs | pcq_ops ← pilots | tenant_rollups

An app may import apps in lower layers only; apps sharing a layer are independent of each other.
``pcq_ops`` sits beside ``zk_proofs`` (it reads provenance, nothing reads it) and
``tenant_rollups`` on top (its digest sections read every app), which is where they are today;
``pilots`` (appeals, pilot readiness) sits beside it, above the ZK-TX sessions it is about.

Upward needs go through declared hooks, which import downward by construction: the upper app
registers into the lower one in ``AppConfig.ready`` (``queries.hooks``: grant providers,
describers and issuers, manifest recorders, the chain compiler, run links; ``policy_studio.hooks``: the
decision history; ``core.services.register_audit_evidence``; ``core.metrics.register_scrape_collector``;
``core.probes.register_readiness_detail``). So the contract needs no hook exceptions.

Why an AST walk and not import-linter: no new dependency, it sees imports inside functions and
under ``TYPE_CHECKING`` (the ones that hide a dependency), and the contract, its two declared
kinds of entry point and its one pending item sit in one short file.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS = {
    "core": 0,
    "graphs": 1,
    "policy_studio": 2,
    "queries": 3,
    "jit_approvals": 4,
    "provenance": 4,
    "zk_proofs": 5,
    "pcq_ops": 5,
    "pilots": 6,
    "tenant_rollups": 6,
}

# Pending upward imports, listed so they cannot grow (the test fails once an entry is gone, so
# the list only shrinks). Empty: the People page moved from core up to policy_studio.
PENDING: set[tuple[str, str]] = set()


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def _is_entry_point(rel: str) -> bool:
    """Management commands wire apps together (seed_demo, dr_agent, the gameday): nothing imports them."""
    return "/management/commands/" in rel


def _app_modules() -> list[tuple[str, str]]:
    return [
        (str(p.relative_to(ROOT)), p.relative_to(ROOT / "apps").parts[0])
        for p in sorted((ROOT / "apps").rglob("*.py"))
        if p.relative_to(ROOT / "apps").parts[0] != "__init__.py"
    ]


def test_every_app_has_a_layer() -> None:
    apps = {p.name for p in (ROOT / "apps").iterdir() if (p / "apps.py").exists()}
    assert apps == set(LAYERS)


def test_no_app_imports_upward_or_sideways() -> None:
    found, pending = [], set()
    for rel, app in _app_modules():
        if _is_entry_point(rel):
            continue
        for line, module in _imports(ROOT / rel):
            parts = module.split(".")
            if parts[0] != "apps" or len(parts) < 2 or parts[1] == app:
                continue
            if LAYERS[parts[1]] >= LAYERS[app]:
                key = (rel, f"apps.{parts[1]}")
                if key in PENDING:
                    pending.add(key)
                else:
                    found.append(f"{rel}:{line} ({app}, layer {LAYERS[app]}) imports {module}")
    assert found == [], "\n".join(found)
    assert pending == PENDING, f"fixed, remove from PENDING: {sorted(PENDING - pending)}"


def test_nothing_imports_an_entry_point() -> None:
    bad = [
        f"{rel}:{line} imports {module}"
        for rel, _ in _app_modules()
        for line, module in _imports(ROOT / rel)
        if ".management.commands" in module
    ]
    assert bad == []


def test_the_running_service_never_imports_the_dev_servers() -> None:
    """``devtools/`` (loopback Slack and SMTP stand-ins) serves tests, benchmarks and the
    gameday; in apps/ only benchmark code may import it, and it imports no app."""
    bad = [
        f"{rel}:{line}"
        for rel, _ in _app_modules()
        for line, module in _imports(ROOT / rel)
        if module.split(".")[0] == "devtools" and not (rel.endswith("/bench.py") or "/commands/bench_" in rel)
    ]
    assert bad == []
    for path in (ROOT / "devtools").rglob("*.py"):
        assert not [m for _, m in _imports(path) if m.split(".")[0] == "apps"], path


def test_the_contract_catches_an_upward_import(tmp_path: Path) -> None:
    """The walk sees imports inside functions and under TYPE_CHECKING, where they hide."""
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from apps.queries.models import QueryRun\n"
        "def f():\n    import apps.provenance.services\n"
    )
    assert [m for _, m in _imports(module)] == ["typing", "apps.queries.models", "apps.provenance.services"]
