"""The provenance DSL: ``prov{ source -> transform(params) -> metric }`` (pure; lark).

    prov {
      dataset("calls-demo" @ 1)
        -> seeds(ids=["grp12-0"])
        -> expand(hops=2, edge_filter={type: ["calls"]})
        -> pagerank()
        -> top_k(k=10)
        -> select(fields=["city", "age"])
    }

Sources: ``dataset("slug")`` or ``dataset("slug" @ version)``, ``view("slug")``. Steps, in this
order: ``seeds(ids=[…])``; ``expand(hops=n, node_filter={…}, edge_filter={…})``; one metric —
``neighbourhood()``, ``degree()``, ``pagerank()``, ``betweenness()``, ``communities()``,
``shortest_paths(target="id")``; optionally ``top_k(k=n, offset=m)``, ``select(fields=[…])`` and
``random_seed(value=n)``. Errors carry line and column and say what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

GRAMMAR = r"""
start: "prov" "{" source ("->" step)+ "}"
source: SOURCE_KIND "(" STRING ("@" INT)? ")"
SOURCE_KIND: "dataset" | "view"
step: NAME "(" [arg ("," arg)*] ")"
arg: NAME "=" value
?value: STRING -> string
      | SIGNED_NUMBER -> number
      | "true" -> true
      | "false" -> false
      | "[" [value ("," value)*] "]" -> list
      | "{" [pair ("," pair)*] "}" -> map
pair: (NAME | STRING) ":" value
COMMENT: /#[^\n]*/
%import common.CNAME -> NAME
%import common.ESCAPED_STRING -> STRING
%import common.SIGNED_NUMBER
%import common.INT
%import common.WS
%ignore WS
%ignore COMMENT
"""
_parser = Lark(GRAMMAR, parser="lalr", propagate_positions=True)
METRICS = {"neighbourhood", "degree", "pagerank", "betweenness", "communities", "shortest_paths"}
STEP_ARGS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "seeds": {"ids": list},
    "expand": {"hops": int, "node_filter": dict, "edge_filter": dict},
    "top_k": {"k": int, "offset": int},
    "select": {"fields": list},
    "random_seed": {"value": int},
    "shortest_paths": {"target": str},
    **{m: {} for m in METRICS - {"shortest_paths"}},
}
ORDER = ["seeds", "expand", "metric", "top_k", "select", "random_seed"]
_TOKEN_NAMES = {
    "__ANON_0": "'->'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "EQUAL": "'='",
    "NAME": "a name",
    "STRING": "a quoted string",
    "SIGNED_NUMBER": "a number",
    "INT": "an integer",
    "SOURCE_KIND": "dataset or view",
    "LSQB": "'['",
    "RSQB": "']'",
    "COLON": "':'",
    "AT": "'@'",
    "PROV": "'prov'",
    "$END": "the end of the chain",
}


class ProvSyntaxError(ValueError):
    def __init__(self, line: int, column: int, message: str) -> None:
        self.line, self.column, self.message = line, column, message
        super().__init__(f"line {line}, column {column}: {message}")

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass
class Chain:
    source_kind: str
    source: str
    version: int | None
    spec: dict[str, Any]


@v_args(inline=True)
class _Values(Transformer[Token, Any]):
    def string(self, s: Token) -> str:
        import json

        value: str = json.loads(s)
        return value

    def number(self, n: Token) -> int | float:
        return float(n) if any(c in n for c in ".eE") else int(n)

    def true(self) -> bool:
        return True

    def false(self) -> bool:
        return False

    def list(self, *items: Any) -> list[Any]:
        return [i for i in items if i is not None]

    def map(self, *pairs: Any) -> dict[str, Any]:
        return dict(p for p in pairs if p is not None)

    def pair(self, key: Token, value: Any) -> tuple[str, Any]:
        import json

        return (json.loads(key) if key.type == "STRING" else str(key)), value


def _expected(exc: UnexpectedInput) -> str:
    names = sorted(
        {
            _TOKEN_NAMES.get(t, t.lower())
            for t in (getattr(exc, "expected", None) or getattr(exc, "allowed", None) or [])
        }
    )
    return ", ".join(names[:8]) or "something else"


def parse(text: str) -> Chain:
    if len(text) > 50_000:
        raise ProvSyntaxError(1, 1, "the chain is longer than 50,000 characters")
    try:
        tree = _parser.parse(text)
    except UnexpectedEOF as exc:
        lines = text.splitlines() or [""]
        raise ProvSyntaxError(
            len(lines), len(lines[-1]) + 1, f"the chain ends early; expected {_expected(exc)}"
        ) from exc
    except UnexpectedToken as exc:
        if exc.token.type == "$END":
            raise ProvSyntaxError(exc.line, exc.column, f"the chain ends early; expected {_expected(exc)}") from exc
        raise ProvSyntaxError(
            exc.line, exc.column, f"unexpected {str(exc.token)!r}; expected {_expected(exc)}"
        ) from exc
    except UnexpectedCharacters as exc:
        raise ProvSyntaxError(
            exc.line, exc.column, f"unexpected character {text[exc.pos_in_stream or 0]!r}; expected {_expected(exc)}"
        ) from exc
    return _compile(tree)


def _compile(tree: Tree[Any]) -> Chain:
    source, *steps = tree.children
    kind, name_token, *version = source.children
    import json

    chain = Chain(str(kind), json.loads(str(name_token)), int(str(version[0])) if version else None, {})
    if chain.source_kind == "view" and chain.version is not None:
        raise ProvSyntaxError(source.meta.line, source.meta.column, "a view has no versions; drop the @")
    values = _Values()
    spec: dict[str, Any] = {}
    position = -1
    for step in steps:
        name_tok, *args = step.children
        name = str(name_tok)
        line, col = step.meta.line, step.meta.column
        if name not in STEP_ARGS:
            raise ProvSyntaxError(line, col, f"unknown step {name!r}; expected one of {', '.join(sorted(STEP_ARGS))}")
        slot = ORDER.index("metric" if name in METRICS else name)
        if slot <= position:
            raise ProvSyntaxError(line, col, f"{name}() is out of order; steps go {' -> '.join(ORDER)}")
        position = slot
        _apply_step(spec, name, _step_args(name, args, values), line, col)
    if "seeds" not in spec:
        raise ProvSyntaxError(tree.meta.line, tree.meta.column, "the chain needs seeds(ids=[…])")
    if "metric" not in spec:
        raise ProvSyntaxError(
            tree.meta.end_line, tree.meta.end_column, "the chain needs a metric step (e.g. pagerank())"
        )
    chain.spec = spec
    return chain


def _step_args(name: str, args: list[Any], values: _Values) -> dict[str, Any]:
    """A step's named arguments, each allowed for the step and of its type."""
    given: dict[str, Any] = {}
    for arg in (a for a in args if a is not None):
        key_tok, value_tree = arg.children
        key_tok = cast(Token, key_tok)  # the grammar's argument is NAME "=" value
        key, at = str(key_tok), (key_tok.line or 1, key_tok.column or 1)
        if key not in STEP_ARGS[name]:
            allowed = ", ".join(STEP_ARGS[name]) or "no arguments"
            raise ProvSyntaxError(*at, f"{name}() takes {allowed}, not {key!r}")
        value = (
            values.transform(value_tree)
            if isinstance(value_tree, Tree)
            else values.transform(Tree("string", [value_tree]))
        )
        if not isinstance(value, STEP_ARGS[name][key]) or isinstance(value, bool):
            raise ProvSyntaxError(*at, f"{key} must be a {STEP_ARGS[name][key].__name__}")  # type: ignore[union-attr]
        given[key] = value
    return given


def _apply_step(spec: dict[str, Any], name: str, given: dict[str, Any], line: int, col: int) -> None:
    """What one step contributes to the query spec."""
    if name == "seeds":
        spec["seeds"] = given.get("ids", [])
    elif name == "expand":
        spec |= {
            "hops": given.get("hops", 1),
            "node_filter": given.get("node_filter", {}),
            "edge_filter": given.get("edge_filter", {}),
        }
    elif name in METRICS:
        spec["metric"] = name
        if name == "shortest_paths":
            if "target" not in given:
                raise ProvSyntaxError(line, col, 'shortest_paths() needs target="node id"')
            spec["target"] = given["target"]
    elif name == "top_k":
        spec["top_k"], spec["offset"] = given.get("k"), given.get("offset", 0)
    elif name == "select":
        spec["fields"] = given.get("fields", [])
    elif name == "random_seed":
        spec["random_seed"] = given.get("value", 7)
