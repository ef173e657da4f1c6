"""Reads the YAML quality contracts from their directories and compiles the valid ones.

Every ``*.yaml``/``*.yml`` directly inside each directory is read with a safe loader
(no Python objects from YAML) and validated. Parsing is bounded: at most ``max_bytes`` of
text, and at most ``max_nodes`` YAML nodes counted with every alias expanded, checked on the
composed node graph before any Python value is built (a 500-byte "billion laughs" expands
to 10^9 nodes; its graph has 100, its expansion is refused). A broken file becomes a load error
``{file, line, reason}`` and never hides the others; of two files with one contract name,
the later one is the load error. ``yaml`` is imported on first use, off the server's
start-up path.

Direction: infrastructure → validators (pure schema and rule engine) → domain.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from domain.errors import NotFound, shorten
from validators.contract_rules import Contract
from validators.contract_schema import validate_contract

MAX_CONTRACT_BYTES = 1_000_000  # contracts are small; a larger file is a mistake, not a contract
MAX_CONTRACT_NODES = 20_000  # the shipped contracts have < 600 nodes each
MAX_CONTRACT_FILES = 200  # files read per directory; the rest are load errors
CONTRACT_SUFFIXES = (".yaml", ".yml")


@dataclass
class ContractCatalog:
    """The contracts that loaded, in load order, and what failed to load."""

    contracts: list[Contract] = field(default_factory=list)
    load_errors: list[dict[str, Any]] = field(default_factory=list)
    directories: tuple[str, ...] = ()
    # file → (the name it declares, if readable; its errors as {location, line, message})
    broken: dict[str, tuple[str | None, list[dict[str, Any]]]] = field(default_factory=dict)

    def get(self, name: str) -> Contract:
        for contract in self.contracts:
            if contract.name == name:
                return contract
        known = ", ".join(c.name for c in self.contracts) or "none"
        broken = [e["file"] for e in self.load_errors if Path(e["file"]).stem == name]
        hint = f" The file {broken[0]} failed to load; see contracts_list's load_errors." if broken else ""
        raise NotFound(f"No contract is named {shorten(name)}. Loaded contracts: {known}.{hint} Call contracts_list to see them.")

    def active(self) -> list[Contract]:
        return [c for c in self.contracts if c.status == "active"]

    def errors_of(self, name: str) -> tuple[str, list[dict[str, Any]]] | None:
        """The file and errors of a contract that failed to load, found by its declared name or file name."""
        for file, (declared, errors) in self.broken.items():
            if name in (declared, Path(file).stem):
                return file, errors
        return None


def load_contracts(
    directories: Iterable[str | Path], *, max_bytes: int = MAX_CONTRACT_BYTES, max_nodes: int = MAX_CONTRACT_NODES
) -> ContractCatalog:
    """Every contract in the given directories, plus the load errors of the files that failed."""
    catalog = ContractCatalog(directories=tuple(str(d) for d in directories))
    origin: dict[str, str] = {}
    for directory in map(Path, catalog.directories):
        if not directory.is_dir():
            catalog.load_errors.append(
                {"file": str(directory), "line": None, "reason": "the contracts directory does not exist; fix CONTRACTS_DIR"}
            )
            continue
        paths = sorted(p for p in directory.iterdir() if p.suffix in CONTRACT_SUFFIXES and p.is_file())
        if len(paths) > MAX_CONTRACT_FILES:
            catalog.load_errors.append(
                {"file": str(directory), "line": None, "reason": f"more than {MAX_CONTRACT_FILES} contract files; "
                 f"only the first {MAX_CONTRACT_FILES} by name are read. Move the others out of CONTRACTS_DIR"}
            )
            del paths[MAX_CONTRACT_FILES:]
        for path in paths:
            contract, errors, declared = _load_file(path, max_bytes, max_nodes)
            if errors:
                catalog.load_errors.extend({"file": str(path), "line": e["line"], "reason": _reason(e)} for e in errors)
                catalog.broken[str(path)] = (declared, errors)
            elif contract.name in origin:
                catalog.load_errors.append(
                    {
                        "file": str(path),
                        "line": None,
                        "reason": f"the contract name {contract.name!r} is already used by {origin[contract.name]}, "
                        "which stays loaded; rename one of them",
                    }
                )
            else:
                origin[contract.name] = str(path)
                catalog.contracts.append(contract)
    return catalog


def parse_contract_yaml(
    text: str, source: str = "<yaml>", *, max_bytes: int = MAX_CONTRACT_BYTES, max_nodes: int = MAX_CONTRACT_NODES
) -> tuple[Contract | None, list[dict[str, Any]]]:
    """One contract from YAML text: the compiled contract, or the errors ``{location, line, message}``."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return None, [_too_large(size, max_bytes)]
    contract, errors, _ = _parse(text, source, max_nodes)
    return contract, errors


def _too_large(size: int, max_bytes: int) -> dict[str, Any]:
    return {"location": "file", "line": None, "message": f"the contract has {size} bytes, more than the {max_bytes} allowed "
            "(setting CONTRACT_MAX_BYTES); contracts are small, split this one"}


def _parse(text: str, source: str, max_nodes: int) -> tuple[Contract | None, list[dict[str, Any]], str | None]:
    import yaml  # deferred: only contract work needs it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
        expanded = _expanded_size(root, max_nodes)
        if expanded is not None:
            return None, [{"location": "yaml", "line": expanded[1], "message": expanded[0]}], None
        document = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [{"location": "yaml", "line": mark.line + 1 if mark else None, "message": f"YAML syntax error: {problem}"}], None
    except RecursionError:
        return None, [{"location": "yaml", "line": None, "message": "the YAML is nested too deeply; a contract needs a few levels"}], None
    finally:
        loader.dispose()
    body = document.get("contract") if isinstance(document, dict) else None
    declared = body.get("name") if isinstance(body, dict) and isinstance(body.get("name"), str) else None
    errors = validate_contract(document)
    if errors:
        located = [{"location": e["location"], "line": _line_of(root, e["location"]), "message": e["message"]} for e in errors]
        return None, located, declared
    try:
        return Contract(body, source), [], declared
    except ValueError as exc:  # each regex passed alone; combined (a layer's globs) it is too large
        return None, [{"location": "contract", "line": None, "message": f"a combined glob or regex {exc}"}], declared


def _load_file(path: Path, max_bytes: int, max_nodes: int) -> tuple[Contract | None, list[dict[str, Any]], str | None]:
    try:
        with open(path, "rb") as f:  # read at most one byte past the bound: a file can grow after a stat
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            return None, [_too_large(len(data), max_bytes)], None
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [{"location": "file", "line": None, "message": f"the file is not UTF-8 text ({exc.reason})"}], None
    except OSError as exc:
        return None, [{"location": "file", "line": None, "message": f"the file cannot be read ({exc.strerror})"}], None
    return _parse(text, str(path), max_nodes)


def _reason(error: dict[str, Any]) -> str:
    if error["location"] in ("yaml", "file"):
        return error["message"]
    return f"{error['location']}: {error['message']}"


def _expanded_size(root: Any, limit: int) -> tuple[str, int | None] | None:
    """Why the node graph is refused, and the line, or None: it has more than ``limit`` nodes
    once every alias is expanded, or an alias that contains itself. Iterative and memoised
    per node, so the cost is the size of the graph, not of its expansion."""
    from yaml.nodes import MappingNode, SequenceNode

    if root is None:
        return None
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            if isinstance(node, SequenceNode):
                children = node.value
            else:
                children = [n for pair in node.value for n in pair]
            size = 1 + sum(sizes[id(c)] for c in children)
            if size > limit:
                return (f"the YAML has more than {limit} nodes once its aliases (*name) are expanded (setting "
                        "CONTRACT_MAX_NODES); write the values out or use fewer aliases", node.start_mark.line + 1)
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if not isinstance(node, (SequenceNode, MappingNode)):
            sizes[key] = 1
            continue
        if key in open_nodes:
            return "an alias refers to a node that contains it (a recursive YAML structure); remove it", node.start_mark.line + 1
        open_nodes.add(key)
        stack.append((node, True))
        children = node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
        for child in children:
            if id(child) in open_nodes:
                return "an alias refers to a node that contains it (a recursive YAML structure); remove it", child.start_mark.line + 1
            stack.append((child, False))
    return None


_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _line_of(node: Any, location: str) -> int | None:
    """The line of ``contract.rules[2].severity`` in the YAML, or of the nearest parent that exists."""
    from yaml.nodes import MappingNode, SequenceNode

    if node is None:
        return None
    for index, key in _STEP.findall(location):
        child = None
        if index and isinstance(node, SequenceNode) and int(index) < len(node.value):
            child = node.value[int(index)]
        elif key and isinstance(node, MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        if child is None:
            break
        node = child
    return node.start_mark.line + 1
