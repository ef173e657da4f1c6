"""The rule engine over texts: globs, each check type, line numbers, redaction, verdicts, the report."""
from __future__ import annotations

import pytest

from domain.errors import QualityError
from validators.contract_rules import check_file, check_text, compile_contract, count_lines, verdict_for, worst_verdict
from validators.globs import GlobSet
from validators.quality_report import format_markdown, summarise

AWS_KEY = "AKIA" + "Q7ZX" * 4  # built here, so this file itself holds no key


def contract(*rules, scope=None, thresholds=None, name="demo"):
    body = {"name": name, "version": "2.1", "rules": list(rules)}
    if scope:
        body["scope"] = scope
    if thresholds:
        body["thresholds"] = thresholds
    return compile_contract({"contract": body})


def rule(rule_id="r", check_type="forbidden_pattern", severity="major", **extra):
    return {"id": rule_id, "check_type": check_type, "severity": severity, "message": f"Rule {rule_id}.", **extra}


def hits(violations):
    return [(v.file, v.line, v.rule_id) for v in violations]


# ---- globs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "glob, path, expected",
    [
        ("src/**/*.php", "src/a.php", True),  # **/ is zero directories too
        ("src/**/*.php", "src/x/y/a.php", True),
        ("src/**/*.php", "lib/src/a.php", False),
        ("src/**/*.php", "src/a.phpx", False),
        ("*.pem", "deep/down/key.pem", True),  # no slash: a name at any depth
        ("/server.py", "server.py", True),  # leading slash: anchored
        ("/server.py", "tests/server.py", False),
        ("vendor/**", "vendor/a/b.php", True),
        ("vendor", "x/vendor/a.php", True),  # a matching directory covers what is below it
        ("vendor", "vendors/a.php", False),
        ("**/Domain/**", "Domain/User.php", True),
        ("**/Domain/**", "src/DomainX/User.php", False),
        ("*.{js,ts}", "web/a.ts", True),
        ("src/*", "src/a/b.py", True),  # src/a matches, and a directory covers its contents
    ],
)
def test_globs_match_relative_paths(glob, path, expected):
    assert GlobSet([glob]).matches(path) is expected


def test_a_star_does_not_cross_a_slash_in_a_file_name():
    assert GlobSet(["src/*.php"]).matches("src/a.php")
    assert not GlobSet(["src/*.php"]).matches("src/sub/a.php")


def test_an_explicit_name_differs_from_a_wildcard_folder():
    assert GlobSet(["*.pem"]).names_explicitly("certs/server.pem")
    assert GlobSet(["config/.env"]).names_explicitly("config/.env")
    assert not GlobSet(["**"]).names_explicitly("config/.env")
    assert not GlobSet(["config"]).names_explicitly("config/.env")
    assert not GlobSet(["**/*"]).names_explicitly(".env")


# ---- forbidden_pattern -------------------------------------------------------------------


def test_a_literal_pattern_matches_literally_and_reports_lines_of_the_whole_text():
    c = contract(rule(patterns=["var_dump(", "a.b"]))
    text = "<?php\n$x = 1;\nvar_dump($x);\naxb();\n\n  a.b var_dump(1);\n"
    assert hits(check_text(c, "f.php", text)) == [("f.php", 3, "r"), ("f.php", 6, "r")]


def test_a_line_with_several_hits_of_one_rule_is_one_violation():
    c = contract(rule(patterns=["dump", "print"]))
    found = check_text(c, "f.php", "dump(); dump(); print();\nok\n")
    assert hits(found) == [("f.php", 1, "r")]
    assert found[0].match == "dump"


def test_regex_patterns_use_line_anchors_over_the_whole_text():
    c = contract(rule(patterns=["^<<<<<<< ", "^>>>>>>> "], regex=True))
    text = "a\n" + "<" * 7 + " HEAD\nx\n" + "=" * 7 + "\ny\n" + ">" * 7 + " br\n  " + "<" * 7 + " not at start\n"
    assert [v.line for v in check_text(c, "f.txt", text)] == [2, 6]


def test_the_first_and_last_line_are_numbered_right():
    c = contract(rule(patterns=["X"]))
    assert [v.line for v in check_text(c, "f", "X\na\nX")] == [1, 3]


def test_a_long_match_is_cut_to_120_characters():
    c = contract(rule(patterns=["SELECT.*"], regex=True))
    found = check_text(c, "f.py", "q = 'SELECT " + "x, " * 100 + "'\n")
    assert len(found[0].match) == 120 and found[0].match.endswith("...")


def test_the_match_of_a_secret_rule_is_redacted():
    c = contract(rule("aws", severity="critical", secret=True, patterns=["AKIA[0-9A-Z]{16}"], regex=True))
    found = check_text(c, "config.py", f"KEY = '{AWS_KEY}'\n")
    assert [(v.line, v.match) for v in found] == [(1, "[redacted]")]
    assert AWS_KEY not in repr(found)


def test_a_clean_text_has_no_violations():
    c = contract(rule(patterns=["var_dump("]))
    assert check_text(c, "f.php", "<?php\necho 1;\n") == []


# ---- required_pattern, max_lines, naming ---------------------------------------------------


def test_a_required_pattern_must_be_within_the_first_lines():
    c = contract(rule("strict", "required_pattern", patterns=["declare(strict_types=1);"], within_lines=3))
    assert check_text(c, "a.php", "<?php\n\ndeclare(strict_types=1);\n") == []
    late = check_text(c, "b.php", "<?php\n\n\ndeclare(strict_types=1);\n")
    assert hits(late) == [("b.php", 1, "strict")]
    assert "missing in the first 3 lines: 'declare(strict_types=1);'" in late[0].message


def test_each_missing_required_pattern_is_one_violation():
    c = contract(rule("req", "required_pattern", patterns=["alpha", "beta", "gamma"]))
    assert len(check_text(c, "f", "beta\n")) == 2


def test_max_lines_allows_exactly_the_limit_and_reports_the_first_line_over_it():
    c = contract(rule("long", "max_lines", max_lines=3))
    assert check_text(c, "ok.php", "1\n2\n3\n") == []
    assert check_text(c, "ok2.php", "1\n2\n3") == []
    over = check_text(c, "long.php", "1\n2\n3\n4")
    assert hits(over) == [("long.php", 4, "long")]
    assert "4 lines, at most 3 allowed" in over[0].message


def test_lines_are_counted_as_an_editor_counts_them():
    assert [count_lines(t) for t in ("", "a", "a\n", "a\nb", "\n\n")] == [0, 1, 1, 2, 2]


def test_naming_matches_the_whole_file_name():
    c = contract(rule("names", "naming", filename_regex=r"[A-Z][A-Za-z0-9]*Controller\.php"))
    assert check_text(c, "src/Controller/UserController.php", "") == []
    bad = check_text(c, "src/Controller/userController.php.bak", "")
    assert [(v.line, v.match) for v in bad] == [(1, "userController.php.bak")]


# ---- layer_dependency --------------------------------------------------------------------

PHP_LAYERS = rule(
    "layers", "layer_dependency", severity="critical",
    layers={
        "domain": {"paths": ["src/Domain/**"], "prefixes": ["App\\Domain"]},
        "infrastructure": {"paths": ["src/Infrastructure/**"], "prefixes": ["App\\Infrastructure"]},
        "application": {"paths": ["src/Application/**"], "prefixes": ["App\\Application"]},
    },
    allow={"domain": [], "infrastructure": ["domain"], "application": ["domain", "infrastructure"]},
)


def test_php_use_of_a_forbidden_layer_is_reported_at_its_line():
    c = contract(PHP_LAYERS)
    text = (
        "<?php\nnamespace App\\Domain\\User;\n\nuse App\\Domain\\Shared\\Id;\n"
        "use App\\Infrastructure\\Db\\Connection;\nuse Psr\\Log\\LoggerInterface;\n"
        "use App\\Application\\{Bus, Query as Q};\n"
    )
    found = check_text(c, "src/Domain/User/User.php", text)
    assert hits(found) == [("src/Domain/User/User.php", 5, "layers"), ("src/Domain/User/User.php", 7, "layers"),
                           ("src/Domain/User/User.php", 7, "layers")]
    assert found[0].match == "use App\\Infrastructure\\Db\\Connection;"
    assert "domain → infrastructure: App\\Infrastructure\\Db\\Connection" in found[0].message


def test_php_require_of_a_file_in_a_forbidden_layer_is_reported():
    c = contract(PHP_LAYERS)
    text = "<?php\nrequire_once __DIR__ . '/../../Infrastructure/Db.php';\ninclude 'Helper.php';\n"
    assert hits(check_text(c, "src/Domain/User/User.php", text)) == [("src/Domain/User/User.php", 2, "layers")]


def test_allowed_and_unknown_imports_pass():
    c = contract(PHP_LAYERS)
    text = "<?php\nuse App\\Domain\\User;\nuse Symfony\\Component\\X;\n$f = function () use ($x) {};\n// we use App\\Infrastructure\\Y; in prose\n"
    assert check_text(c, "src/Infrastructure/Repo.php", text) == []
    assert check_text(c, "src/Domain/User.php", text) == []


def test_a_file_in_no_layer_is_not_checked():
    c = contract(PHP_LAYERS)
    assert check_text(c, "tests/UserTest.php", "<?php\nuse App\\Infrastructure\\Db;\n") == []


PY_LAYERS = rule(
    "py", "layer_dependency", severity="critical",
    layers={
        "tools": {"paths": ["tools/**"], "prefixes": ["tools"]},
        "infrastructure": {"paths": ["infrastructure/**"], "prefixes": ["infrastructure"]},
        "domain": {"paths": ["domain/**"], "prefixes": ["domain"]},
        "sdk": {"prefixes": ["mcp"]},
    },
    allow={"tools": ["infrastructure", "domain", "sdk"], "infrastructure": ["domain"], "domain": []},
)


def test_python_imports_absolute_relative_and_indented_are_read():
    c = contract(PY_LAYERS)
    text = (
        '"""Docstring: import of nothing."""\n'
        "from __future__ import annotations\n"
        "import os, mcp.types as t\n"
        "from .errors import X\n"
        "from .. import tools\n"
        "from infrastructure.db import Database\n"
        "def f():\n"
        "    from mcp.server import Server\n"
        "mcpx = 'import mcp'\n"
    )
    found = check_text(c, "domain/models.py", text)
    assert [(v.line, v.message.rsplit(": ", 1)[1].rstrip(")")) for v in found] == [
        (3, "mcp.types"), (5, "tools"), (6, "infrastructure.db"), (8, "mcp.server"),
    ]


def test_python_imports_in_the_allowed_direction_pass():
    c = contract(PY_LAYERS)
    text = "from domain.models import Task\nfrom infrastructure import db\nimport mcp\nfrom . import quality_tools\n"
    assert check_text(c, "tools/task_tools.py", text) == []


def test_javascript_imports_resolve_relative_paths_against_layer_globs():
    c = contract(rule(
        "js", "layer_dependency",
        layers={"ui": {"paths": ["web/ui/**"]}, "api": {"paths": ["web/api/**"], "prefixes": ["@app/api"]}},
        allow={"api": []},
    ))
    text = "import x from '../ui/button';\nimport { y } from \"@app/api/client\";\nconst z = require('../ui/z.js');\nexport * from './local';\n"
    assert [v.line for v in check_text(c, "web/api/index.ts", text)] == [1, 3]


# ---- scope, files, verdicts --------------------------------------------------------------


def test_scope_and_rule_globs_choose_the_rules_of_a_file():
    c = contract(
        rule("everywhere", patterns=["x"]),
        rule("controllers", patterns=["x"], files=["**/Controller/**"], exclude_files="**/Legacy/**"),
        scope={"paths": ["src/**/*.php"], "excludes": ["src/vendor/**"]},
    )
    assert [r.id for r in c.rules_for("src/Controller/A.php")] == ["everywhere", "controllers"]
    assert [r.id for r in c.rules_for("src/Controller/Legacy/A.php")] == ["everywhere"]
    assert c.rules_for("src/vendor/lib/A.php") == []
    assert c.rules_for("src/Controller/A.js") == []
    assert c.excludes_directory("src/vendor") and not c.excludes_directory("src/Controller")


def test_a_file_that_holds_secrets_by_name_gets_only_rules_that_name_it():
    c = contract(rule("all", patterns=["x"]), rule("env", patterns=["x"], files=[".env"]))
    assert [r.id for r in c.rules_for("app/.env", explicit_only=True)] == ["env"]
    assert [r.id for r in c.rules_for("app/.env")] == ["all", "env"]


@pytest.mark.parametrize(
    "counts, verdict",
    [
        ({}, "approved"),
        ({"info": 9}, "approved_with_notes"),
        ({"minor": 5, "major": 2}, "approved_with_notes"),
        ({"minor": 6}, "revision_required"),
        ({"major": 3}, "revision_required"),
        ({"critical": 1}, "rejected"),
        ({"critical": 1, "major": 9}, "rejected"),
    ],
)
def test_the_verdict_follows_the_default_thresholds(counts, verdict):
    assert verdict_for(counts) == verdict


def test_a_contract_s_own_thresholds_decide_its_verdict():
    assert verdict_for({"critical": 1}, {"critical": 1, "major": 0, "minor": 0}) == "approved_with_notes"
    assert verdict_for({"minor": 1}, {"critical": 0, "major": 0, "minor": 0}) == "revision_required"


def test_the_worst_verdict_of_several_contracts_wins():
    assert worst_verdict(["approved", "rejected", "approved_with_notes"]) == "rejected"
    assert worst_verdict(["approved", "approved_with_notes"]) == "approved_with_notes"
    assert worst_verdict([]) == "approved"


def test_compiling_an_invalid_contract_raises_a_quality_error_listing_locations():
    with pytest.raises(QualityError) as err:
        compile_contract({"contract": {"name": "x", "version": "1", "rules": [rule(severity="high")]}}, "x.yaml")
    assert "in x.yaml" in str(err.value) and "contract.rules[0].severity" in str(err.value)


def test_check_file_counts_lines_and_runs_each_given_rule():
    c = contract(rule("a", patterns=["x"]), rule("b", "max_lines", max_lines=1))
    found, lines = check_file(c.rules, "f", "x\ny\n")
    assert lines == 2 and sorted(v.rule_id for v in found) == ["a", "b"]


# ---- the report --------------------------------------------------------------------------


def sample_result():
    return {
        "path": "/srv/app", "verdict": "rejected",
        "counts": {"critical": 1, "major": 1, "minor": 0, "info": 0}, "total_violations": 3,
        "violations": [
            {"file": "a.py", "line": 3, "rule_id": "aws", "severity": "critical", "message": "Key.", "match": "[redacted]", "contract": "c"},
            {"file": "b.php", "line": 9, "rule_id": "dump", "severity": "major", "message": "Dump.", "match": "var_dump(`x`)", "contract": "c"},
        ],
        "truncated": True, "critical_rules": ["aws"],
        "contracts": [{"name": "c", "version": "1.0", "verdict": "rejected", "counts": {"critical": 1, "major": 1, "minor": 0, "info": 0}}],
        "files_scanned": 2, "lines_scanned": 40, "skipped": {"binary": 1}, "duration_ms": 5, "budget_exhausted": "files",
    }


def test_the_markdown_report_shows_verdict_counts_files_and_what_was_left_out():
    report = format_markdown(sample_result())
    assert report.startswith("# Quality check: rejected\n")
    assert "| c@1.0 | rejected | 1 | 1 | 0 | 0 |" in report
    assert "### a.py" in report and "- line 3: **critical** `aws` Key. `[redacted]`" in report
    assert "``" in report  # a match holding a backtick gets a double fence
    assert "Showing 2 of 3 violations" in report
    assert "files budget ran out" in report and "binary 1" in report


def test_the_task_summary_names_verdict_counts_and_worst_violations():
    text = summarise(sample_result())
    assert text.startswith("Quality check rejected: 1 critical, 1 major, 0 minor, 0 info in 2 files")
    assert "a.py:3 aws" in text and "Incomplete" in text
