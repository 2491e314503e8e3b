"""The scenario DSL: parse a query with Python's `ast` (restricted to a handful of node types),
compile it to a deterministic program with a canonical text form and a sha256 `program_id`.

Grammar (docs/mining.md):

    query   := expr
    expr    := expr "and" expr | expr "or" expr | "not" expr | "(" expr ")" | atom | relation
    atom    := NAME | NAME "(" [kw "=" literal {"," kw "=" literal}] ")"
    relation:= "then" "(" expr "," expr ["," "within_s" "=" number] ")"
             | "during" "(" expr "," expr ")"
    literal := number | "-" number | string

Anything else (attributes, comparisons, arithmetic, subscripts, positional atom args, unknown atoms
or parameters, wrong literal types) is refused with a `QueryError` that says what and where.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

# Bump when the meaning of a program changes (atom semantics, combinators): it is part of program_id.
DSL_VERSION = "mining-dsl-v1"
MAX_QUERY_CHARS = 4000


class QueryError(ValueError):
    """A query the grammar refuses; the message says what and where (CLI exit 2)."""


# --- program nodes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    name: str
    params: tuple[tuple[str, Any], ...]  # sorted by name, defaults filled in

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Then:
    first: Node
    second: Node
    within_s: float


@dataclass(frozen=True)
class During:
    item: Node
    condition: Node


Node = Atom | And | Or | Not | Then | During

RELATIONS = {"then": {"within_s": 5.0}, "during": {}}


# --- canonical text ------------------------------------------------------------------------------


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    f = float(value)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def canonical(node: Node) -> str:
    """Deterministic text that parses back to the same program (idempotent)."""
    if isinstance(node, Atom):
        if not node.params:
            return node.name
        return f"{node.name}(" + ", ".join(f"{k}={_literal(v)}" for k, v in node.params) + ")"
    if isinstance(node, (And, Or)):
        word = " and " if isinstance(node, And) else " or "
        return word.join(_wrapped(i, type(node)) for i in node.items)
    if isinstance(node, Not):
        return "not " + _wrapped(node.item, Not)
    if isinstance(node, Then):
        return f"then({canonical(node.first)}, {canonical(node.second)}, within_s={_literal(node.within_s)})"
    if isinstance(node, During):
        return f"during({canonical(node.item)}, {canonical(node.condition)})"
    raise TypeError(node)


def _wrapped(node: Node, parent: type) -> str:
    text = canonical(node)
    if isinstance(node, (And, Or)) and (parent is Not or type(node) is not parent):
        return f"({text})"
    return text


# --- parsing -------------------------------------------------------------------------------------


def _where(n: ast.AST) -> str:
    return f"at column {getattr(n, 'col_offset', 0) + 1}"


def _literal_value(n: ast.AST, where: str) -> Any:
    if (
        isinstance(n, ast.Constant)
        and isinstance(n.value, (int, float, str))
        and not isinstance(n.value, bool)
    ):
        return n.value
    if (
        isinstance(n, ast.UnaryOp)
        and isinstance(n.op, (ast.USub, ast.UAdd))
        and isinstance(n.operand, ast.Constant)
        and isinstance(n.operand.value, (int, float))
        and not isinstance(n.operand.value, bool)
    ):
        return -n.operand.value if isinstance(n.op, ast.USub) else n.operand.value
    raise QueryError(f"{where}: parameter values must be literal numbers or strings ({_where(n)})")


def _check_param(atom: str, key: str, value: Any, default: Any, spec: dict) -> Any:
    choices = spec.get("choices", {}).get(key)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise QueryError(f"{atom}: {key} takes a string, got {value!r}")
        if choices and value not in choices:
            raise QueryError(f"{atom}: {key} must be one of {', '.join(choices)}, got {value!r}")
        return value
    if isinstance(value, str):
        raise QueryError(f"{atom}: {key} takes a number, got {value!r}")
    return float(value)


def _build(n: ast.AST) -> Node:
    from av_assets.mining.atoms import ATOMS

    if isinstance(n, ast.BoolOp):
        items = tuple(_build(v) for v in n.values)
        return And(items) if isinstance(n.op, ast.And) else Or(items)
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not):
        return Not(_build(n.operand))
    if isinstance(n, ast.Name):
        return _atom(n.id, {}, n)
    if isinstance(n, ast.Call):
        if not isinstance(n.func, ast.Name):
            raise QueryError(f"only named atoms and relations can be called ({_where(n)})")
        name = n.func.id
        kwargs: dict[str, Any] = {}
        for kw in n.keywords:
            if kw.arg is None:
                raise QueryError(f"{name}: **kwargs are not allowed ({_where(n)})")
            kwargs[kw.arg] = _literal_value(kw.value, f"{name}({kw.arg}=...)")
        if name in RELATIONS:
            if len(n.args) != 2:
                raise QueryError(f"{name} takes two sub-queries, got {len(n.args)} ({_where(n)})")
            unknown = sorted(set(kwargs) - set(RELATIONS[name]))
            if unknown:
                raise QueryError(f"{name}: unknown parameter(s) {', '.join(unknown)} ({_where(n)})")
            a, b = (_build(x) for x in n.args)
            if name == "during":
                return During(a, b)
            within = kwargs.get("within_s", RELATIONS["then"]["within_s"])
            if isinstance(within, str) or float(within) < 0:
                raise QueryError(f"then: within_s must be a number >= 0, got {within!r}")
            return Then(a, b, float(within))
        if name not in ATOMS:
            raise QueryError(_unknown(name, n))
        if n.args:
            raise QueryError(f"{name}: parameters are keyword-only, e.g. {name}(param=value) ({_where(n)})")
        return _atom(name, kwargs, n)
    kind = type(n).__name__
    raise QueryError(
        f"not allowed in a scenario query: {kind} ({_where(n)}); use atoms, and/or/not, then/during"
    )


def _unknown(name: str, n: ast.AST) -> str:
    import difflib

    from av_assets.mining.atoms import ATOMS

    close = difflib.get_close_matches(name, list(ATOMS) + list(RELATIONS), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown atom {name!r} ({_where(n)}){hint}"


def _atom(name: str, kwargs: dict[str, Any], n: ast.AST) -> Atom:
    from av_assets.mining.atoms import ATOMS

    if name in RELATIONS:
        raise QueryError(f"{name} needs two sub-queries: {name}(A, B) ({_where(n)})")
    spec = ATOMS.get(name)
    if spec is None:
        raise QueryError(_unknown(name, n))
    defaults = spec["params"]
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) or "none"
        raise QueryError(f"{name}: unknown parameter(s) {', '.join(unknown)} (allowed: {allowed})")
    params = {k: _check_param(name, k, kwargs.get(k, d), d, spec) for k, d in defaults.items()}
    return Atom(name, tuple(sorted(params.items())))


def _normalise(node: Node) -> Node:
    """Flatten nested and/or, drop duplicate operands, sort operands (and/or are commutative) and
    remove double negation, so equivalent spellings share one canonical text and program_id."""
    if isinstance(node, (And, Or)):
        flat: list[Node] = []
        for item in node.items:
            item = _normalise(item)
            flat.extend(item.items if type(item) is type(node) else [item])
        unique = {canonical(i): i for i in flat}
        items = tuple(unique[k] for k in sorted(unique))
        return items[0] if len(items) == 1 else type(node)(items)
    if isinstance(node, Not):
        inner = _normalise(node.item)
        return inner.item if isinstance(inner, Not) else Not(inner)
    if isinstance(node, Then):
        return Then(_normalise(node.first), _normalise(node.second), node.within_s)
    if isinstance(node, During):
        return During(_normalise(node.item), _normalise(node.condition))
    return node


def parse(text: str) -> Node:
    if not isinstance(text, str) or not text.strip():
        raise QueryError("empty query")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query longer than {MAX_QUERY_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise QueryError(f"syntax error at column {exc.offset or 0}: {exc.msg}") from None
    return _normalise(_build(tree.body))


# --- the compiled program ------------------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    root: Node
    canonical: str
    program_id: str
    atoms: tuple[str, ...] = field(default=())  # canonical atom texts, sorted (rarity keys on these)

    @property
    def scope(self) -> str:
        from av_assets.mining.atoms import scope_of

        return scope_of(self.root)

    def run(self, inputs) -> Any:
        """The referred objects of this program on one drive's `MiningInputs`: a polars frame
        `drive_id, track_id, t_ns` on the drive's 10 Hz grid (`track_id` "ego" for ego-scoped)."""
        from av_assets.mining.atoms import evaluate

        return evaluate(self.root, inputs)


def _atom_texts(node: Node) -> set[str]:
    if isinstance(node, Atom):
        return {canonical(node)}
    if isinstance(node, (And, Or)):
        return set().union(*(_atom_texts(i) for i in node.items))
    if isinstance(node, Not):
        return _atom_texts(node.item)
    if isinstance(node, Then):
        return _atom_texts(node.first) | _atom_texts(node.second)
    if isinstance(node, During):
        return _atom_texts(node.item) | _atom_texts(node.condition)
    raise TypeError(node)


def compile_query(text: str) -> Program:
    """Parse and compile a query. Raises QueryError (a clear message) for anything outside the grammar."""
    root = parse(text)
    canon = canonical(root)
    program_id = hashlib.sha256(f"{DSL_VERSION}\n{canon}".encode()).hexdigest()
    return Program(root=root, canonical=canon, program_id=program_id, atoms=tuple(sorted(_atom_texts(root))))
