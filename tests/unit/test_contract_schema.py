"""The contract schema: every error at once, each at its exact location, saying what is allowed."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from validators.contract_schema import validate_contract

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"

VALID = {
    "contract": {
        "name": "demo-rules",
        "version": "1.0",
        "status": "active",
        "description": "A contract for tests.",
        "scope": {"paths": ["src/**/*.php"], "excludes": ["vendor/**"]},
        "thresholds": {"critical": 0, "major": 2, "minor": 5},
        "rules": [
            {"id": "no-dump", "check_type": "forbidden_pattern", "severity": "major", "message": "No dumps.", "patterns": ["var_dump("]},
            {"id": "strict", "check_type": "required_pattern", "severity": "major", "message": "Strict.",
             "patterns": [r"declare\(strict_types=1\)"], "regex": True, "within_lines": 5},
            {"id": "short", "check_type": "max_lines", "severity": "minor", "message": "Short.", "max_lines": 500,
             "files": "**/Controller/**", "exclude_files": ["**/Legacy/**"]},
            {"id": "layers", "check_type": "layer_dependency", "severity": "critical", "message": "Layers.",
             "layers": {"domain": {"paths": ["src/Domain/**"], "prefixes": ["App\\Domain"]},
                        "infra": {"paths": ["src/Infra/**"]}},
             "allow": {"domain": [], "infra": ["domain"]}},
            {"id": "names", "check_type": "naming", "severity": "info", "message": "Names.", "filename_regex": r"[A-Z]\w*\.php"},
            {"id": "keys", "check_type": "forbidden_pattern", "severity": "critical", "message": "Keys.", "secret": True,
             "patterns": ["AKIA[0-9A-Z]{16}"], "regex": True},
        ],
    }
}


def with_change(path: str, value, delete: bool = False) -> dict:
    """A copy of VALID with one key changed, addressed like 'rules.2.severity'."""
    doc = copy.deepcopy(VALID)
    node = doc["contract"]
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key = int(last) if last.isdigit() else last
    if delete:
        del node[key]
    else:
        node[key] = value
    return doc


def locations(doc) -> list[str]:
    return [e["location"] for e in validate_contract(doc)]


def only_error(doc) -> dict:
    errors = validate_contract(doc)
    assert len(errors) == 1, errors
    return errors[0]


def test_a_contract_using_every_check_type_is_valid():
    assert validate_contract(VALID) == []


@pytest.mark.parametrize("path", sorted(CONTRACTS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_contract_is_valid(path):
    assert validate_contract(yaml.safe_load(path.read_text())) == []


def test_a_document_without_the_contract_key_is_refused():
    assert only_error({"name": "x"})["location"] in ("contract", "name")
    assert locations(None) == ["contract"]
    assert locations(["contract"]) == ["contract"]


def test_a_name_with_capitals_is_refused_with_the_allowed_form():
    error = only_error(with_change("name", "PHP Rules"))
    assert error["location"] == "contract.name"
    assert "lower-case letters, digits and '-'" in error["message"]


def test_an_unquoted_version_is_refused_with_a_hint_to_quote_it():
    error = only_error(with_change("version", 1.0))
    assert error == {"location": "contract.version", "message": '1.0 is not a string; quote it, e.g. version: "1.0"'}


def test_a_missing_version_and_rules_are_both_reported():
    doc = with_change("version", None, delete=True)
    del doc["contract"]["rules"]
    assert locations(doc) == ["contract.version", "contract.rules"]


def test_an_unknown_status_lists_the_allowed_ones():
    error = only_error(with_change("status", "enabled"))
    assert error["location"] == "contract.status"
    assert "draft, active, deprecated" in error["message"]


def test_a_bad_severity_is_located_at_its_rule():
    error = only_error(with_change("rules.2.severity", "high"))
    assert error["location"] == "contract.rules[2].severity"
    assert "'high' is not allowed; use one of critical, major, minor, info" in error["message"]


def test_an_unknown_check_type_lists_the_check_types():
    error = only_error(with_change("rules.0.check_type", "line_count"))
    assert error["location"] == "contract.rules[0].check_type"
    assert "forbidden_pattern, required_pattern, max_lines, layer_dependency, naming" in error["message"]


def test_a_misspelt_key_is_an_error_naming_the_allowed_keys():
    error = only_error(with_change("rules.2.exclude_file", "x/**"))
    assert error["location"] == "contract.rules[2].exclude_file"
    assert "exclude_files" in error["message"] and "max_lines" in error["message"]


def test_a_key_of_another_check_type_is_refused():
    error = only_error(with_change("rules.0.max_lines", 10))
    assert error["location"] == "contract.rules[0].max_lines"
    assert "for check_type forbidden_pattern" in error["message"]


def test_an_invalid_regex_is_a_schema_error_at_its_pattern():
    error = only_error(with_change("rules.5.patterns", ["AKIA[0-9A-Z]{16}", "(unclosed"]))
    assert error["location"] == "contract.rules[5].patterns[1]"
    assert "not a valid regular expression" in error["message"]


def test_an_invalid_pattern_is_fine_when_patterns_are_literal():
    assert validate_contract(with_change("rules.0.patterns", ["(unclosed"])) == []


def test_a_regex_that_matches_empty_text_is_refused():
    for pattern in ("x*", r"\b", "^"):
        error = only_error(with_change("rules.5.patterns", [pattern]))
        assert error["location"] == "contract.rules[5].patterns[0]"
        assert "empty text" in error["message"]


def test_an_invalid_filename_regex_is_a_schema_error():
    assert locations(with_change("rules.4.filename_regex", "[A-Z")) == ["contract.rules[4].filename_regex"]


def test_max_lines_must_be_a_positive_whole_number():
    for bad in (0, -3, "500", 2.5, True):
        assert locations(with_change("rules.2.max_lines", bad)) == ["contract.rules[2].max_lines"]
    assert locations(with_change("rules.2.max_lines", None, delete=True)) == ["contract.rules[2].max_lines"]


def test_within_lines_must_be_a_positive_whole_number():
    assert locations(with_change("rules.1.within_lines", 0)) == ["contract.rules[1].within_lines"]


def test_patterns_must_be_a_non_empty_list_of_strings():
    assert locations(with_change("rules.0.patterns", "var_dump(")) == ["contract.rules[0].patterns"]
    assert locations(with_change("rules.0.patterns", [])) == ["contract.rules[0].patterns"]
    assert locations(with_change("rules.0.patterns", ["ok", 3])) == ["contract.rules[0].patterns[1]"]


def test_regex_and_secret_must_be_true_or_false():
    assert locations(with_change("rules.0.regex", "yes")) == ["contract.rules[0].regex"]
    assert locations(with_change("rules.0.secret", 1)) == ["contract.rules[0].secret"]


def test_duplicate_rule_ids_name_the_first_rule():
    error = only_error(with_change("rules.3.id", "no-dump"))
    assert error["location"] == "contract.rules[3].id"
    assert "contract.rules[0]" in error["message"]


def test_a_layer_in_allow_must_be_declared():
    error = only_error(with_change("rules.3.allow", {"domain": [], "infra": ["domian"]}))
    assert error["location"] == "contract.rules[3].allow.infra[0]"
    assert "declared layers are domain, infra" in error["message"]
    assert locations(with_change("rules.3.allow", {"ui": ["domain"]})) == ["contract.rules[3].allow.ui"]


def test_a_layer_needs_paths_or_prefixes():
    error = only_error(with_change("rules.3.layers", {"domain": {}, "infra": {"paths": ["src/Infra/**"]}}))
    assert error["location"] == "contract.rules[3].layers.domain"


def test_thresholds_must_be_whole_numbers_of_known_severities():
    assert locations(with_change("thresholds", {"critical": -1})) == ["contract.thresholds.critical"]
    assert locations(with_change("thresholds", {"info": 3})) == ["contract.thresholds.info"]


def test_globs_must_be_strings():
    assert locations(with_change("scope", {"paths": ["src/**", 7]})) == ["contract.scope.paths[1]"]
    assert locations(with_change("rules.2.files", [])) == ["contract.rules[2].files"]


def test_every_error_is_reported_in_one_pass():
    doc = with_change("name", "Bad Name")
    doc["contract"]["rules"][0]["severity"] = "blocker"
    doc["contract"]["rules"][4]["filename_regex"] = "("
    assert locations(doc) == ["contract.name", "contract.rules[0].severity", "contract.rules[4].filename_regex"]


def test_status_defaults_to_active_and_thresholds_and_scope_are_optional():
    doc = copy.deepcopy(VALID)
    for key in ("status", "thresholds", "scope", "description"):
        del doc["contract"][key]
    assert validate_contract(doc) == []


def test_no_mangled_document_makes_the_validator_raise():
    """Any YAML value in any place gives errors, never an exception (seeded, so repeatable)."""
    import random

    from validators.contract_rules import Contract, check_file

    values = [None, 0, -1, 1.5, True, "", "x", "(", [], [1], ["(", None], {}, {"a": 1}, [[1]], {1: 2}, "**", ["domain"]]

    def paths(node, prefix=()):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            yield prefix + (key,)
            yield from paths(child, prefix + (key,))

    every_path = list(paths(VALID))
    rng = random.Random(7)
    for _ in range(3000):
        doc = copy.deepcopy(VALID)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(every_path)
            node = doc
            try:
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = copy.deepcopy(rng.choice(values))
            except (KeyError, IndexError, TypeError):
                pass  # an earlier change removed the parent
        errors = validate_contract(doc)
        assert all(isinstance(e["location"], str) and isinstance(e["message"], str) for e in errors)
        if not errors:  # what the schema lets through must compile and run
            contract = Contract(doc["contract"])
            check_file(contract.rules, "src/Domain/a.php", "<?php\nuse App\\Infra\\X;\nvar_dump(1);\n")
