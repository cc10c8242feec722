"""Offline access to the Bicep sources under infra/, parsed with the tree-sitter Bicep grammar.

Tests get a session-wide `infra` fixture (an `Infra`) instead of importing this module, so they
work under pytest's importlib import mode. Nothing here reaches the network or needs the Bicep
CLI: the grammar checks syntax, and the helpers read declarations out of the syntax tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"

_PARSER = Parser(Language(tree_sitter_bicep.language()))


def parse(source: bytes) -> Node:
    """The root node of a Bicep source."""
    return _PARSER.parse(source).root_node


def walk(node: Node) -> Iterator[Node]:
    """Every node under `node`, depth first, `node` included."""
    yield node
    for child in node.children:
        yield from walk(child)


def syntax_problems(root: Node) -> list[tuple[int, str]]:
    """(1-based line, description) of every ERROR or MISSING node."""
    problems = []
    for node in walk(root):
        if node.is_missing:
            problems.append((node.start_point[0] + 1, f"missing {node.type!r}"))
        elif node.type == "ERROR":
            snippet = (node.text or b"").decode(errors="replace").splitlines()
            problems.append((node.start_point[0] + 1, f"syntax error near {snippet[:1]!r}"))
    return problems


def text(node: Node) -> str:
    return (node.text or b"").decode()


def named(node: Node, type_: str) -> list[Node]:
    return [child for child in node.named_children if child.type == type_]


def key_of(prop: Node) -> str:
    """The key of an `object_property` (identifier or quoted string; an interpolated key, like
    `'${identityId}'`, comes back as written)."""
    key = prop.named_children[0]
    if key.type == "string" and not any(c.type == "interpolation" for c in key.named_children):
        return string_value(key)
    return text(key)


def value_of(prop: Node) -> Node:
    """The value expression of an `object_property`."""
    return prop.named_children[-1]


def string_value(node: Node) -> str:
    """The value of a string literal without interpolation; raises on anything else."""
    if node.type != "string" or any(c.type == "interpolation" for c in node.named_children):
        raise ValueError(f"not a plain string literal: {text(node)!r}")
    return "".join(text(c) for c in node.named_children if c.type == "string_content")


def literal(node: Node) -> Any:
    """The Python value of a literal expression (string, number, bool, null, array, object)."""
    if node.type == "string":
        return string_value(node)
    if node.type == "number" or (node.type == "unary_expression" and text(node).startswith("-")):
        return int(text(node))
    if node.type == "boolean":
        return text(node) == "true"
    if node.type == "null":
        return None
    if node.type == "array":
        return [literal(c) for c in node.named_children]
    if node.type == "object":
        return {key_of(p): literal(value_of(p)) for p in named(node, "object_property")}
    raise ValueError(f"not a literal: {text(node)!r}")


def properties(obj: Node) -> dict[str, Node]:
    """Key -> value node of an object literal's properties."""
    return {key_of(p): value_of(p) for p in named(obj, "object_property")}


def object_keys(node: Node) -> set[str]:
    """Keys of every object literal inside `node`."""
    objects = [n for n in walk(node) if n.type == "object"]
    return {key_of(p) for obj in objects for p in named(obj, "object_property")}


@dataclass(frozen=True)
class Declaration:
    """A top-level or nested `param`, `var`, `resource`, `module` or `output`."""

    kind: str
    name: str
    node: Node

    @property
    def target(self) -> str:
        """The type string of a resource/module ('Microsoft.X/y@v', './m.bicep', 'br/public:…')."""
        return string_value(named(self.node, "string")[0])

    @property
    def value(self) -> Node:
        """The declared value (after '='); a `for_statement` for loops."""
        return self.node.named_children[-1]

    @property
    def body(self) -> Node:
        """The object literal of a resource/module, seen through `if (...)` and `for`."""
        node = self.value
        if node.type == "for_statement":
            node = node.child_by_field_name("body") or node.named_children[-1]
        if node.type == "if_statement":
            node = node.named_children[-1]
        if node.type != "object":
            raise ValueError(f"{self.name}: no object body")
        return node

    @property
    def loop_source(self) -> str | None:
        """Text of the collection a looped declaration iterates over (None when not a loop)."""
        if self.value.type != "for_statement":
            return None
        children = self.value.children
        in_index = next(i for i, c in enumerate(children) if c.type == "in")
        return text(next(c for c in children[in_index + 1 :] if c.is_named))

    @property
    def default(self) -> Any:
        """Literal default value of a param (None when it has none)."""
        parts = self.node.named_children
        if self.kind != "param" or len(parts) < 3:
            return None
        return literal(parts[2])

    @property
    def type_name(self) -> str | None:
        """The declared type of a param or output ('string', 'int', 'bool', ...)."""
        types = named(self.node, "type")
        return text(types[0]) if types else None

    @property
    def decorators(self) -> dict[str, list[Any]]:
        """Decorator name -> its literal arguments (`@minValue(1)` -> {'minValue': [1]})."""
        found: dict[str, list[Any]] = {}
        previous = self.node.prev_named_sibling
        if previous is None or previous.type != "decorators":
            return found
        for decorator in named(previous, "decorator"):
            call = decorator.named_children[0]
            name = text(call.named_children[0])
            arguments = named(call, "arguments")
            found[name] = [literal(a) for a in arguments[0].named_children] if arguments else []
        return found


_KINDS = {
    "parameter_declaration": "param",
    "variable_declaration": "var",
    "resource_declaration": "resource",
    "module_declaration": "module",
    "output_declaration": "output",
}


@dataclass
class BicepFile:
    path: Path
    source: bytes
    root: Node = field(init=False)

    def __post_init__(self) -> None:
        self.root = parse(self.source)

    @property
    def rel(self) -> str:
        return self.path.relative_to(INFRA_DIR).as_posix()

    def declarations(self, kind: str | None = None) -> list[Declaration]:
        """Declarations anywhere in the file (nested resources included)."""
        found = []
        for node in walk(self.root):
            if node.type in _KINDS:
                decl = Declaration(_KINDS[node.type], text(node.named_children[0]), node)
                if kind is None or decl.kind == kind:
                    found.append(decl)
        return found

    def get(self, kind: str, name: str) -> Declaration:
        matches = [d for d in self.declarations(kind) if d.name == name]
        assert matches, f"{self.rel}: no {kind} named {name!r}"
        return matches[0]

    def names(self, kind: str) -> set[str]:
        return {d.name for d in self.declarations(kind)}


@dataclass
class Infra:
    files: dict[str, BicepFile]

    def __getitem__(self, rel: str) -> BicepFile:
        return self.files[rel]

    def resolve_module(self, owner: BicepFile, module: Declaration) -> BicepFile | None:
        """The local file a module declaration points at (None for registry modules)."""
        target = module.target
        if target.startswith("br/") or target.startswith("br:") or target.startswith("ts/"):
            return None
        path = (owner.path.parent / target).resolve()
        return self.files.get(path.relative_to(INFRA_DIR).as_posix())


class BicepFail(Exception):
    """A Bicep `fail(message)` reached while evaluating an expression."""


def evaluate(owner: BicepFile, node: Node, given: dict[str, Any]) -> Any:
    """Evaluate a Bicep expression the way ARM would, for the subset the templates use here:
    literals and objects, `given` values (by identifier or dotted text, e.g. `rg.name`), the
    file's `var`s and param defaults, `!`, `-`, `&&`, `||`, `==`, `!=`, `? :`, `empty()`,
    `string()` and `fail()` (raises BicepFail). Anything else raises NotImplementedError."""

    def ev(n: Node) -> Any:
        kind = n.type
        if kind in {"number", "string", "boolean", "null"}:
            return literal(n)
        if kind == "parenthesized_expression":
            return ev(n.named_children[0])
        if kind == "object":
            return {key_of(prop): ev(value_of(prop)) for prop in named(n, "object_property")}
        if kind == "identifier" or kind == "member_expression":
            name = text(n)
            if name in given:
                return given[name]
            if kind == "identifier":
                for decl in owner.declarations():
                    if decl.name == name and decl.kind == "var":
                        return ev(decl.value)
                    if decl.name == name and decl.kind == "param" and decl.default is not None:
                        return decl.default
            raise KeyError(f"no value for {name!r}")
        if kind == "ternary_expression":
            condition, when_true, when_false = n.named_children
            return ev(when_true) if ev(condition) else ev(when_false)
        if kind == "unary_expression":
            operator, operand = text(n.children[0]), n.named_children[-1]
            if operator == "!":
                return not ev(operand)
            if operator == "-":
                return -ev(operand)
        if kind == "binary_expression":
            left, right = n.named_children[0], n.named_children[-1]
            operator = text(n.children[1])
            if operator == "&&":
                return ev(left) and ev(right)
            if operator == "||":
                return ev(left) or ev(right)
            if operator == "==":
                return ev(left) == ev(right)
            if operator == "!=":
                return ev(left) != ev(right)
        if kind == "call_expression":
            function = text(n.named_children[0])
            arguments = named(n, "arguments")[0].named_children
            if function == "fail":
                raise BicepFail(ev(arguments[0]))
            if function == "empty":
                return not ev(arguments[0])
            if function == "string":
                value = ev(arguments[0])
                return str(value).lower() if isinstance(value, bool) else str(value)
        raise NotImplementedError(f"cannot evaluate {text(n)!r} ({kind})")

    return ev(node)


def load_infra() -> Infra:
    files = sorted(INFRA_DIR.rglob("*.bicep"))
    return Infra({f.relative_to(INFRA_DIR).as_posix(): BicepFile(f, f.read_bytes()) for f in files})


@pytest.fixture(scope="session")
def infra() -> Infra:
    return load_infra()


@pytest.fixture(scope="session")
def bicep() -> SimpleNamespace:
    """The syntax-tree helpers of this module, for tests (which cannot import a conftest)."""
    return SimpleNamespace(
        parse=parse,
        walk=walk,
        syntax_problems=syntax_problems,
        text=text,
        string_value=string_value,
        literal=literal,
        properties=properties,
        object_keys=object_keys,
        evaluate=evaluate,
        BicepFail=BicepFail,
        repo_root=REPO_ROOT,
        infra_dir=INFRA_DIR,
    )
