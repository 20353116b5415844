"""The package's shape: dependencies point one way, and each rule has one home.

The import graph is read from the source (AST), imports inside functions included: a deferred
import is a dependency all the same, only hidden from a reader. Imports under ``TYPE_CHECKING``
never run and are left out; the lazy re-exports of ``django_seeclickfix.client`` (its
``_LAZY`` table, loaded with ``import_module``) are counted.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "django_seeclickfix"
PACKAGE = ROOT.name

# allauth's own pattern: the provider class names its OAuth2 adapter, which lives in the views,
# and the views import the provider class.
ALLOWED_CYCLES = [
    {f"{PACKAGE}.allauth_provider.provider", f"{PACKAGE}.allauth_provider.views"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(path): path for path in ROOT.rglob("*.py") if "migrations" not in path.parts}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(inner) for inner in ast.walk(node))
    return hidden


def _function_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inside.update(id(inner) for inner in ast.walk(node) if inner is not node)
    return inside


def _absolute(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _known(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


class Import:
    def __init__(self, module: str, target: str, node: ast.stmt, deferred: bool) -> None:
        self.module, self.target, self.node, self.deferred = module, target, node, deferred


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    hidden, inside = _type_checking_nodes(tree), _function_nodes(tree)
    found: list[Import] = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, path.name == "__init__.py", node)
            # ``from pkg import submodule`` depends on the submodule, not on pkg's __init__.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets
        ):
            assert isinstance(node.value, ast.Dict)
            targets = [value.value for value in node.value.values]  # type: ignore[attr-defined]
        for target in targets:
            known = _known(target)
            if known and known != module:
                found.append(Import(module, known, node, id(node) in inside))  # type: ignore[arg-type]
    return found


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        for edge in imports_of(module):
            graph[module].add(edge.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(set(graph).union(*graph.values())):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_every_module():
    graph = import_graph()
    assert f"{PACKAGE}.tokens" in graph[f"{PACKAGE}.sync"]
    # The facade's lazy names count: client (package) -> tokens.
    assert f"{PACKAGE}.tokens" in graph[f"{PACKAGE}.client"]
    # A deferred import counts too.
    assert f"{PACKAGE}.allauth_provider.views" in graph[f"{PACKAGE}.allauth_provider.provider"]


def test_no_import_cycle_outside_the_allowed_ones():
    unexpected = [sorted(c) for c in cycles(import_graph()) if c not in ALLOWED_CYCLES]
    assert unexpected == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": {"c"}, "d": {"a"}}) == []


def test_every_deferred_import_says_what_it_avoids():
    silent = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        for edge in imports_of(module) + _third_party_deferred(module):
            if not edge.deferred:
                continue
            line = edge.node.lineno - 1
            above = line - 1  # a comment may head a group of deferred imports
            while lines[above].strip().startswith(("from ", "import ")):
                above -= 1
            said = "#" in lines[line] or lines[above].strip().startswith("#")
            if not said:
                silent.append(f"{path.relative_to(ROOT.parent)}:{line + 1}")
    assert sorted(set(silent)) == [], "\n".join(sorted(set(silent)))


def _third_party_deferred(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text())
    hidden, inside = _type_checking_nodes(tree), _function_nodes(tree)
    return [
        Import(module, "", node, True)
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        and id(node) in inside
        and id(node) not in hidden
    ]


# One home for each rule -------------------------------------------------------------------------

RULES = [
    "check_usable",  # the "usable account" predicate (usable() is its SQL twin, beside it)
    "for_user",  # "the user's account"
    "account_for_request",
    "error_text",
    "MESSAGES",
    "message_for",
    "E_STATE",
    "E_LINKED_ELSEWHERE",
    "Outcome",
    "CacheLock",
    "SyncLock",
    "AreaLock",
    "PROVIDER_ID",
    "social_uid",
    "seal_tokens",
    "unseal_tokens",
    "queue_revocation",
    "wake_on_commit",
    "oauth_client",
    "upsert_issue_rows",
    "authorization_url",
    "SECURITY_HEADERS",
    "requests_made",
    "LinkRefused",
    "MAX_ERROR_LENGTH",
]


def definitions() -> dict[str, list[str]]:
    """Where each top-level or class-level name is defined (def, class or assignment)."""
    where: dict[str, list[str]] = defaultdict(list)
    for module, path in MODULES.items():
        if module.startswith(f"{PACKAGE}.testing"):
            continue  # the emulator is its own program
        tree = ast.parse(path.read_text())
        bodies = [tree.body] + [n.body for n in tree.body if isinstance(n, ast.ClassDef)]
        for body in bodies:
            for node in body:
                names: list[str] = []
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names = [node.name]
                elif isinstance(node, ast.Assign):
                    names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    names = [node.target.id]
                for name in names:
                    where[name].append(module)
    return where


CLIENT_MODULES = {m for m in MODULES if m.startswith(f"{PACKAGE}.client")}


@pytest.mark.parametrize("name", RULES)
def test_each_rule_is_defined_once(name):
    assert len(definitions()[name]) == 1, definitions()[name]


def test_no_service_module_shares_a_name_with_a_task():
    """``sync.sync_now(account)`` and the task ``tasks.sync_account(account_id)`` are two
    things; one name for both made readers (and mock.patch) pick the wrong one. (The client's
    methods, ``client.add_comment(...)``, are the API calls the tasks are named after.)"""
    where = {
        name: [m for m in modules if m not in CLIENT_MODULES]
        for name, modules in definitions().items()
    }
    task_names = {
        node.name
        for node in ast.parse(MODULES[f"{PACKAGE}.tasks"].read_text()).body
        if isinstance(node, ast.FunctionDef)
    }
    shared = {
        name: [m for m in where[name] if m != f"{PACKAGE}.tasks"]
        for name in task_names
        if len(where[name]) > 1
    }
    assert shared == {}
