"""The crypto kit is one Django-free package in core that every app (provenance, zk_proofs,
tenant_rollups, the audit chain) uses, and the attested components measure it."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
KIT = ROOT / "apps" / "core" / "crypto"


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def test_kit_imports_neither_django_nor_other_apps() -> None:
    modules = sorted(KIT.glob("*.py"))
    assert {p.stem for p in modules} >= {"canonical", "signing", "merkle", "checkpoint", "keyed"}
    for path in modules:
        for name in _imports(path):
            assert not name.startswith("django"), f"{path.name} imports {name}"
            assert not name.startswith("apps.") or name.startswith("apps.core.crypto"), f"{path.name} imports {name}"


def test_zk_proofs_takes_crypto_and_keys_from_core_not_provenance() -> None:
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "apps" / "zk_proofs").rglob("*.py")
        for name in _imports(path)
        if name.startswith("apps.provenance")
    }
    assert not offenders


def test_no_second_copy_of_the_kit_in_provenance() -> None:
    pcq = ROOT / "apps" / "provenance" / "pcq"
    assert not {"signing.py", "merkle.py", "checkpoint.py", "canonical.py"} & {p.name for p in pcq.iterdir()}
    assert not (ROOT / "apps" / "provenance" / "keys.py").exists()


def test_attested_components_measure_the_kit() -> None:
    from apps.provenance.attest import files_of

    kit = {p.relative_to(ROOT).as_posix() for p in KIT.glob("*.py")}
    for component in ("verifier", "witness"):
        measured = {p.relative_to(ROOT).as_posix() for p in files_of(component)}
        assert kit <= measured, component
