"""Bounds of the contract engine and of the walk (issue 11): hostile YAML, hostile regexes and
globs, a tree that changes under the walk, and the per-call budgets. Real files in tmp_path,
the real loader and checker; each test failed on the code before these bounds.
"""
from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from infrastructure.contract_loader import load_contracts, parse_contract_yaml
from infrastructure.quality_checker import run_quality_check

SHIPPED = Path(__file__).resolve().parents[2] / "contracts"
BREAKPOINT = "breakpoint" + "()"  # assembled, so this file trips no contract

# Nine levels of nine aliases: 9^9 (387 million) leaves from ~500 bytes.
BILLION_LAUGHS = "contract:\n  name: lol\n  version: '1'\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 9)
) + "  rules: *a8\n"


def contract_yaml(rule: str, scope: str = '{paths: ["**"]}') -> str:
    return textwrap.dedent(
        """\
        contract:
          name: probe
          version: "1"
          scope: %s
          rules:
        %s"""
    ) % (scope, textwrap.indent(textwrap.dedent(rule), "    "))


def compiled(rule: str, scope: str = '{paths: ["**"]}'):
    contract, errors = parse_contract_yaml(contract_yaml(rule, scope))
    assert errors == [] and contract is not None
    return contract


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


# ---- YAML ---------------------------------------------------------------------------------


def test_a_billion_laughs_is_refused_in_milliseconds_with_a_bounded_message():
    assert len(BILLION_LAUGHS) < 600
    (contract, errors), seconds = timed(parse_contract_yaml, BILLION_LAUGHS)
    assert contract is None and seconds < 1.0
    [error] = errors
    assert "CONTRACT_MAX_NODES" in error["message"] and "aliases" in error["message"]
    assert len(str(errors)) < 500


def test_a_billion_laughs_in_contracts_dir_is_one_load_error_and_the_others_still_load(tmp_path):
    (tmp_path / "lol.yaml").write_text(BILLION_LAUGHS)
    (tmp_path / "hygiene.yaml").write_text((SHIPPED / "code-hygiene.yaml").read_text())
    catalog, seconds = timed(load_contracts, [tmp_path])
    assert seconds < 1.0
    assert [c.name for c in catalog.contracts] == ["code-hygiene"]
    [error] = catalog.load_errors
    assert error["file"].endswith("lol.yaml") and "CONTRACT_MAX_NODES" in error["reason"]


def test_a_recursive_alias_and_an_oversized_document_are_refused():
    _, errors = parse_contract_yaml("contract: &c\n  name: x\n  self: *c\n")
    assert "recursive" in errors[0]["message"]
    _, errors = parse_contract_yaml("contract:\n  name: x\n  description: " + "y" * 2000 + "\n", max_bytes=1000)
    assert "CONTRACT_MAX_BYTES" in errors[0]["message"]


# ---- regular expressions ------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern", [r"(\w+)\1", r"foo(?=bar)", r"(?<!x)y", r"print_r\s*\((?![^;\n]*,\s*true\s*\))"]
)
def test_a_regex_re2_cannot_run_in_linear_time_is_refused_with_what_to_do(pattern):
    rule = f"""\
        - id: r
          check_type: forbidden_pattern
          severity: major
          message: m
          regex: true
          patterns: [{json.dumps(pattern)}]
        """
    contract, errors = parse_contract_yaml(contract_yaml(rule))
    assert contract is None
    [error] = errors
    assert error["location"] == "contract.rules[0].patterns[0]"
    assert "RE2" in error["message"] and "unless" in error["message"]


def test_a_catastrophic_regex_runs_in_linear_time(tmp_path):
    contract = compiled(
        """\
        - id: nested
          check_type: forbidden_pattern
          severity: major
          message: m
          regex: true
          patterns: ["(a+)+$", "(x+x+)+y"]
        """
    )
    (tmp_path / "short.txt").write_text("a" * 30 + "!")
    (tmp_path / "long.txt").write_text("x" * 2_000_000)
    result, seconds = timed(run_quality_check, str(tmp_path), [contract], [tmp_path])
    assert seconds < 2.0 and result["files_scanned"] == 2 and result["total_violations"] == 0


def test_hostile_globs_match_in_linear_time(tmp_path):
    contract = compiled(
        """\
        - id: cap
          check_type: max_lines
          severity: info
          message: m
          max_lines: 1000
          files: ["**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/zz", "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"]
        """
    )
    deep = tmp_path / "/".join(["d"] * 40)
    deep.mkdir(parents=True)
    (deep / ("a" * 200)).write_text("x\n")
    result, seconds = timed(run_quality_check, str(tmp_path), [contract], [tmp_path])
    assert seconds < 2.0 and result["skipped"] == {"out_of_scope": 1}


def test_the_shipped_print_r_rule_is_linear_on_a_one_line_file_and_keeps_its_meaning(tmp_path):
    [hygiene] = load_contracts([SHIPPED]).contracts[:1]
    assert hygiene.name == "code-hygiene"
    (tmp_path / "big.php").write_text("print_r($a, " * 90_000)  # ~1 MiB, one line, no `;`
    (tmp_path / "dump.php").write_text("<?php\nprint_r($user);\n$log = print_r($user, true);\ndd($x);\n$odd($y);\n")
    result, seconds = timed(run_quality_check, str(tmp_path), [hygiene], [tmp_path])
    assert seconds < 3.0
    found = sorted((v["file"], v["line"]) for v in result["violations"])
    assert found == [("big.php", 1), ("dump.php", 2), ("dump.php", 4)]


# ---- the walk -----------------------------------------------------------------------------

_swap: dict = {}


def _audit(event: str, args: tuple) -> None:
    """Swaps a directory for a symlink to outside the root the moment the walk reads a file
    in an earlier directory: the race of issue 11, made deterministic."""
    if _swap and event == "open" and isinstance(args[0], str) and args[0].endswith(_swap["trigger"]):
        target, outside = _swap.pop("target"), _swap.pop("outside")
        _swap.clear()
        os.rename(target, str(target) + ".moved")
        os.symlink(outside, target)


sys.addaudithook(_audit)


def test_a_directory_swapped_for_a_symlink_during_the_walk_is_not_followed(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    outside.mkdir()
    (root / "a" / "first.py").write_text("x = 1\n")
    (root / "b" / "inner.py").write_text("y = 2\n")
    (outside / "stolen.py").write_text(f"{BREAKPOINT}\n")
    [hygiene] = [c for c in load_contracts([SHIPPED]).contracts if c.name == "code-hygiene"]
    _swap.update(trigger="first.py", target=root / "b", outside=outside)
    result = run_quality_check(str(root), [hygiene], [root])
    assert not _swap, "the walk never opened a/first.py, so the swap did not happen"
    assert result["violations"] == []
    assert result["files_scanned"] == 1
    assert result["skipped"] == {"changed_during_walk": 1}


def test_a_symlink_with_an_innocent_name_to_a_secret_file_is_never_read(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / ".env").write_text("AWS=" + "AKIA" + "Q7WX" * 4 + "\n")
    (root / "notes.txt").symlink_to(root / ".env")
    [hygiene] = [c for c in load_contracts([SHIPPED]).contracts if c.name == "code-hygiene"]
    result = run_quality_check(str(root), [hygiene], [root])
    assert result["violations"] == [] and result["files_scanned"] == 0
    assert result["skipped"] == {"secret_filename": 1, "symlink": 1}


# ---- budgets ------------------------------------------------------------------------------


def test_the_total_bytes_budget_ends_the_check_with_a_partial_report(tmp_path):
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text("x = 1\n" * 100)  # 600 bytes each
    [hygiene] = [c for c in load_contracts([SHIPPED]).contracts if c.name == "code-hygiene"]
    result = run_quality_check(str(tmp_path), [hygiene], [tmp_path], max_total_bytes=1000)
    assert (result["budget_exhausted"], result["files_scanned"]) == ("bytes", 1)


def test_the_seconds_budget_is_checked_while_walking_out_of_scope_files(tmp_path):
    for i in range(3000):
        (tmp_path / f"f{i}.bin").write_text("x")
    contract = compiled(
        """\
        - id: cap
          check_type: max_lines
          severity: info
          message: m
          max_lines: 10
        """,
        scope='{paths: ["*.py"]}',
    )
    result = run_quality_check(str(tmp_path), [contract], [tmp_path], max_seconds=0)
    assert result["budget_exhausted"] == "seconds"
    assert sum(result["skipped"].values()) < 3000


def test_import_extraction_is_linear_on_one_long_line_of_imports(tmp_path):
    [layered] = [c for c in load_contracts([SHIPPED]).contracts if c.name == "php-layered-architecture"]
    domain = tmp_path / "src" / "Domain"
    domain.mkdir(parents=True)
    (domain / "User.php").write_text("<?php declare(strict_types=1); " + "x use App\\Infrastructure\\Db;" * 60_000)
    result, seconds = timed(run_quality_check, str(tmp_path), [layered], [tmp_path])
    assert seconds < 3.0 and result["files_scanned"] == 1
