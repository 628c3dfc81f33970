"""Parse and validate uploaded graphs (pure; no Django).

Two formats, one canonical form:

* JSON: ``{"attributes": {"nodes": {"name": "P1"}, "edges": {"since": "P2"}},
  "nodes": [{"id": "p1", "type": "person", "name": "Ann"}],
  "edges": [{"source": "p1", "target": "p2", "type": "calls", "since": "2026-01-02"}]}``
* CSV: a nodes file with header ``id,type,<attr>:<class>,…`` and an edges file with header
  ``source,target,type,<attr>:<class>,…``; the data class (P0–P3) of each attribute rides in
  its column header.

Errors name the file, the row (1-based, header = row 1 in CSV; array index in JSON) and the
problem. The canonical form is sorted, so the same graph always has the same content hash.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from apps.core.crypto import canonical as canon

DATA_CLASSES = ("P0", "P1", "P2", "P3")
RESERVED_NODE = {"id", "type"}
RESERVED_EDGE = {"source", "target", "type"}
_ATTR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_ERRORS = 20


class GraphFormatError(ValueError):
    """Carries every problem found (up to MAX_ERRORS), each with where it is."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        first = problems[0]
        where = f"{first['file']} row {first['row']}" if first.get("row") is not None else first["file"]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{where}: {first['message']}{more}")


@dataclass
class Graph:
    node_classes: dict[str, str] = field(default_factory=dict)
    edge_classes: dict[str, str] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def canonical(self) -> dict[str, Any]:
        return {
            "attributes": {
                "nodes": dict(sorted(self.node_classes.items())),
                "edges": dict(sorted(self.edge_classes.items())),
            },
            "nodes": sorted(self.nodes, key=lambda n: n["id"]),
            "edges": sorted(self.edges, key=lambda e: (e["source"], e["target"], e.get("type", ""))),
        }

    def canonical_bytes(self, version: str = canon.CURRENT) -> bytes:
        """RFC 8785 by default; versions uploaded before keep their ``tf-json-1`` hash, and a
        manifest names which one its input's hash used."""
        return canon.canonicalize(self.canonical(), version)

    def content_hash(self, version: str = canon.CURRENT) -> str:
        return hashlib.sha256(self.canonical_bytes(version)).hexdigest()


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, file: str, row: int | None, message: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append({"file": file, "row": row, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            raise GraphFormatError(self.items)

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_ERRORS


def _check_classes(classes: Any, file: str, problems: _Problems, reserved: set[str]) -> dict[str, str]:
    if not isinstance(classes, dict):
        problems.add(file, None, "attribute classes must be an object of name → P0..P3")
        return {}
    out = {}
    for name, cls in classes.items():
        if not isinstance(name, str) or not _ATTR_NAME.match(name) or name in reserved:
            problems.add(file, None, f"attribute name {name!r} is not allowed")
        elif cls not in DATA_CLASSES:
            problems.add(file, None, f"attribute {name!r} has data class {cls!r}; use one of P0, P1, P2, P3")
        else:
            out[name] = cls
    return out


# The content hash is RFC 8785, which (like every JSON verifier using doubles) cannot carry
# integers beyond 2**53 exactly, nor NaN or Infinity.
_NOT_CANONICAL = "attribute {key!r}: integers beyond ±9007199254740991, NaN and Infinity cannot be hashed canonically; quote the value as a string"


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _build(
    node_rows: list[tuple[int, dict[str, Any]]],
    edge_rows: list[tuple[int, dict[str, Any]]],
    node_classes: dict[str, str],
    edge_classes: dict[str, str],
    files: tuple[str, str],
    problems: _Problems,
) -> Graph:
    graph = Graph(node_classes=node_classes, edge_classes=edge_classes)
    _check_shared_names(node_classes, edge_classes, problems)
    seen: dict[str, int] = {}
    for row, raw in node_rows:
        if problems.full:
            break
        node = _node(row, raw, seen, node_classes, files[0], problems)
        if node is not None:
            graph.nodes.append(node)
    for row, raw in edge_rows:
        if problems.full:
            break
        edge = _edge(row, raw, seen, edge_classes, files[1], problems)
        if edge is not None:
            graph.edges.append(edge)
    if not graph.nodes and not problems.items:
        problems.add(files[0], None, "the graph has no nodes")
    problems.raise_if_any()
    return graph


def _check_shared_names(node_classes: dict[str, str], edge_classes: dict[str, str], problems: _Problems) -> None:
    for name in sorted(set(node_classes) & set(edge_classes)):
        if node_classes[name] != edge_classes[name]:
            # One name with two classes is ambiguous everywhere a name stands alone (fields,
            # minimization rules by attribute, reviewers reading a result): refuse it.
            problems.add(
                "attributes",
                None,
                f"attribute {name!r} is declared on nodes as {node_classes[name]} and on edges as "
                f"{edge_classes[name]}; use one class or rename one of them",
            )


def _node(
    row: int, raw: dict[str, Any], seen: dict[str, int], classes: dict[str, str], file: str, problems: _Problems
) -> dict[str, Any] | None:
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id.strip():
        problems.add(file, row, "node has no id")
        return None
    node_id = node_id.strip()
    if node_id in seen:
        problems.add(file, row, f"duplicate node id {node_id!r} (first at row {seen[node_id]})")
        return None
    seen[node_id] = row
    node = {"id": node_id, "type": str(raw.get("type") or "node")}
    _copy_attributes(raw, RESERVED_NODE, classes, node, file, row, problems)
    return node


def _edge(
    row: int, raw: dict[str, Any], seen: dict[str, int], classes: dict[str, str], file: str, problems: _Problems
) -> dict[str, Any] | None:
    source, target = raw.get("source"), raw.get("target")
    if not isinstance(source, str) or not isinstance(target, str) or not source or not target:
        problems.add(file, row, "edge needs a source and a target")
        return None
    dangling = [end for end in (source, target) if end not in seen]
    if dangling:
        problems.add(file, row, f"edge refers to unknown node {dangling[0]!r} (dangling edge)")
        return None
    if source == target:
        problems.add(file, row, f"self-loop on {source!r} is not allowed")
        return None
    edge = {"source": source, "target": target, "type": str(raw.get("type") or "link")}
    _copy_attributes(raw, RESERVED_EDGE, classes, edge, file, row, problems)
    return edge


def _copy_attributes(
    raw: dict[str, Any],
    reserved: Any,
    classes: dict[str, str],
    into: dict[str, Any],
    file: str,
    row: int,
    problems: _Problems,
) -> None:
    """Declared, scalar, canonically hashable attributes are kept; empty values are dropped."""
    for key, value in raw.items():
        if key in reserved:
            continue
        if key not in classes:
            problems.add(file, row, f"attribute {key!r} has no data class; declare it")
        elif not _scalar(value):
            problems.add(file, row, f"attribute {key!r} must be a string, number or boolean")
        elif not canon.is_canonicalizable(value):
            problems.add(file, row, _NOT_CANONICAL.format(key=key))
        elif value not in (None, ""):
            into[key] = value


def parse_json(data: bytes, name: str = "graph.json") -> Graph:
    problems = _Problems()
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise GraphFormatError([{"file": name, "row": None, "message": f"not UTF-8 text (byte {exc.start})"}]) from exc
    except json.JSONDecodeError as exc:
        raise GraphFormatError(
            [
                {
                    "file": name,
                    "row": exc.lineno,
                    "message": f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                }
            ]
        ) from exc
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("nodes"), list)
        or not isinstance(doc.get("edges", []), list)
    ):
        raise GraphFormatError(
            [{"file": name, "row": None, "message": 'expected an object with "nodes" and "edges" arrays'}]
        )
    attrs = doc.get("attributes", {})
    if not isinstance(attrs, dict):
        attrs = {"nodes": None}
    node_classes = _check_classes(attrs.get("nodes", {}), name, problems, RESERVED_NODE)
    edge_classes = _check_classes(attrs.get("edges", {}), name, problems, RESERVED_EDGE)
    unknown = set(doc) - {"attributes", "nodes", "edges"}
    if unknown:
        problems.add(name, None, f"unknown top-level keys: {sorted(unknown)}")
    node_rows, edge_rows = [], []
    for i, raw in enumerate(doc["nodes"]):
        if isinstance(raw, dict):
            node_rows.append((i, raw))
        else:
            problems.add(f"{name} nodes", i, "each node must be an object")
    for i, raw in enumerate(doc.get("edges", [])):
        if isinstance(raw, dict):
            edge_rows.append((i, raw))
        else:
            problems.add(f"{name} edges", i, "each edge must be an object")
    problems.raise_if_any()
    return _build(node_rows, edge_rows, node_classes, edge_classes, (f"{name} nodes", f"{name} edges"), problems)


def _csv_rows(
    data: bytes, name: str, required: tuple[str, ...], problems: _Problems
) -> tuple[dict[str, str], list[tuple[int, dict[str, Any]]]]:
    reader = csv.reader(io.StringIO(_csv_text(data, name), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise GraphFormatError([{"file": name, "row": 1, "message": "the file is empty"}]) from None
    except csv.Error as exc:
        raise GraphFormatError([{"file": name, "row": 1, "message": f"unreadable CSV header: {exc}"}]) from exc
    columns, classes = _csv_header(header, name, required, problems)
    problems.raise_if_any()
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        for line_no, values in enumerate(reader, start=2):
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(columns):
                problems.add(name, line_no, f"expected {len(columns)} fields, found {len(values)}")
                if problems.full:
                    break
                continue
            rows.append((line_no, {c: v.strip() for c, v in zip(columns, values, strict=True)}))
    except csv.Error as exc:
        problems.add(name, reader.line_num, f"unreadable CSV: {exc}")
    problems.raise_if_any()
    return classes, rows


def _csv_text(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GraphFormatError([{"file": name, "row": None, "message": f"not UTF-8 text (byte {exc.start})"}]) from exc
    if "\x00" in text:
        raise GraphFormatError([{"file": name, "row": None, "message": "binary data (NUL bytes) is not a CSV file"}])
    return text


def _csv_header(
    header: list[str], name: str, required: tuple[str, ...], problems: _Problems
) -> tuple[list[str], dict[str, str]]:
    """Column names, and the data class each attribute column declares (``name:P2``)."""
    columns: list[str] = []
    classes: dict[str, str] = {}
    for col in header:
        col = col.strip()
        if col in required or col == "type":
            columns.append(col)
            continue
        attr, _, cls = col.partition(":")
        if not cls:
            problems.add(name, 1, f"column {col!r} needs a data class, e.g. {col}:P2")
        elif cls not in DATA_CLASSES:
            problems.add(name, 1, f"column {col!r}: data class must be P0, P1, P2 or P3")
        elif not _ATTR_NAME.match(attr):
            problems.add(name, 1, f"column name {attr!r} is not allowed")
        else:
            classes[attr] = cls
        columns.append(attr)
    missing = [c for c in required if c not in columns]
    if missing:
        problems.add(name, 1, f"missing column(s) {missing}; the header must start with {', '.join(required)}")
    if len(set(columns)) != len(columns):
        problems.add(name, 1, "duplicate column names")
    return columns, classes


def parse_csv(nodes: bytes, edges: bytes, names: tuple[str, str] = ("nodes.csv", "edges.csv")) -> Graph:
    problems = _Problems()
    node_classes, node_rows = _csv_rows(nodes, names[0], ("id",), problems)
    edge_classes, edge_rows = _csv_rows(edges, names[1], ("source", "target"), problems)
    for rows, classes in ((node_rows, node_classes), (edge_rows, edge_classes)):
        for _, row in rows:
            for key in classes:
                row[key] = _coerce(row.get(key, ""))
    return _build(node_rows, edge_rows, node_classes, edge_classes, names, problems)


def _coerce(value: str) -> Any:
    """CSV cells are text; numbers become numbers so bucketing works."""
    if re.fullmatch(r"-?\d{1,15}", value):
        return int(value)
    if re.fullmatch(r"-?\d{1,15}\.\d{1,15}", value):
        return float(value)
    return value
