"""Reads the YAML quality contracts from their directories and compiles the valid ones.

Every ``*.yaml``/``*.yml`` directly inside each directory is read with a safe loader
(no Python objects from YAML) and validated. A broken file becomes a load error
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


def load_contracts(directories: Iterable[str | Path]) -> ContractCatalog:
    """Every contract in the given directories, plus the load errors of the files that failed."""
    catalog = ContractCatalog(directories=tuple(str(d) for d in directories))
    origin: dict[str, str] = {}
    for directory in map(Path, catalog.directories):
        if not directory.is_dir():
            catalog.load_errors.append(
                {"file": str(directory), "line": None, "reason": "the contracts directory does not exist; fix CONTRACTS_DIR"}
            )
            continue
        for path in sorted(p for p in directory.iterdir() if p.suffix in CONTRACT_SUFFIXES and p.is_file()):
            contract, errors, declared = _load_file(path)
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


def parse_contract_yaml(text: str, source: str = "<yaml>") -> tuple[Contract | None, list[dict[str, Any]]]:
    """One contract from YAML text: the compiled contract, or the errors ``{location, line, message}``."""
    contract, errors, _ = _parse(text, source)
    return contract, errors


def _parse(text: str, source: str) -> tuple[Contract | None, list[dict[str, Any]], str | None]:
    import yaml  # deferred: only contract work needs it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        document = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [{"location": "yaml", "line": mark.line + 1 if mark else None, "message": f"YAML syntax error: {problem}"}], None
    body = document.get("contract") if isinstance(document, dict) else None
    declared = body.get("name") if isinstance(body, dict) and isinstance(body.get("name"), str) else None
    errors = validate_contract(document)
    if errors:
        root = _compose(text, loader)
        located = [{"location": e["location"], "line": _line_of(root, e["location"]), "message": e["message"]} for e in errors]
        return None, located, declared
    return Contract(body, source), [], declared


def _load_file(path: Path) -> tuple[Contract | None, list[dict[str, Any]], str | None]:
    try:
        if path.stat().st_size > MAX_CONTRACT_BYTES:
            return None, [{"location": "file", "line": None, "message": f"the file is larger than {MAX_CONTRACT_BYTES} bytes"}], None
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [{"location": "file", "line": None, "message": f"the file is not UTF-8 text ({exc.reason})"}], None
    except OSError as exc:
        return None, [{"location": "file", "line": None, "message": f"the file cannot be read ({exc.strerror})"}], None
    return _parse(text, str(path))


def _reason(error: dict[str, Any]) -> str:
    if error["location"] in ("yaml", "file"):
        return error["message"]
    return f"{error['location']}: {error['message']}"


def _compose(text: str, loader: Any) -> Any:
    import yaml

    try:
        return yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
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
