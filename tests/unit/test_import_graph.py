"""The imports between our own modules, read from the source (every import, the ones inside
functions too): no import circle, neither between two modules nor between the rooms of
docs/DESIGN.md, and the rooms import only downwards."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_CODE = {"tests", "bench", "docs", "scripts", "build", "sql", "contracts"}

# Each room and the rooms it may import (docs/DESIGN.md "The house"). The command line and
# the composition root sit on top; domain at the bottom imports nothing of ours.
MAY_IMPORT = {
    "__main__": {"server"},
    "server": {"bootstrap", "server_commands", "config", "domain", "transports"},
    "server_commands": {"bootstrap", "config", "domain", "infrastructure", "transports"},
    "bootstrap": {"config", "domain", "infrastructure", "tools", "transports", "web"},
    "web": {"config", "domain", "validators", "infrastructure"},
    "tools": {"config", "domain", "validators", "infrastructure", "transports"},
    "transports": {"config", "domain", "validators", "infrastructure"},
    "infrastructure": {"config", "domain", "validators"},
    "validators": {"domain"},
    "config": {"domain"},
    "domain": set(),
}


def our_modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in NOT_CODE or relative.parts[0].startswith(".") or relative.parts[0].endswith(".egg-info"):
            continue
        name = ".".join(relative.with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from tools import profiles` imports the module tools.profiles
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            targets |= {target for target in names if target in modules and target != name}
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def rooms(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    room = {}
    for name, targets in graph.items():
        room.setdefault(name.split(".")[0], set()).update(t.split(".")[0] for t in targets if t.split(".")[0] != name.split(".")[0])
    return room


def test_the_cycle_finder_finds_a_circle_of_three_and_none_in_a_line():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_module_of_ours_imports_itself_back_through_others():
    graph = import_graph()
    assert {"server", "bootstrap", "server_commands", "tools.common", "transports.stdio_transport"} <= set(graph)
    assert not cycles(graph), f"import circles between modules: {cycles(graph)}"


def test_no_room_imports_itself_back_through_others():
    assert not cycles(rooms(import_graph())), f"import circles between rooms: {cycles(rooms(import_graph()))}"


def test_each_room_imports_only_the_rooms_below_it():
    wrong = {
        room: sorted(targets - MAY_IMPORT.get(room, set()))
        for room, targets in rooms(import_graph()).items()
        if targets - MAY_IMPORT.get(room, set())
    }
    assert not wrong, f"imports against the direction of docs/DESIGN.md: {wrong}"


def test_tools_hold_no_transport():
    """stdio, HTTP and bearer keys are transports/; tools/ holds the MCP tools, resources,
    prompts and subscriptions, and never imports a web server."""
    graph = import_graph()
    for name, path in our_modules().items():
        if name.startswith("tools."):
            text = path.read_text(encoding="utf-8")
            assert "import uvicorn" not in text and "from starlette" not in text, name
            assert not any(target.startswith(("web", "server", "bootstrap")) for target in graph[name]), name
