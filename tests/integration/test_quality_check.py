"""quality_check over real trees in tmp_path: exact violations, path confinement, skips, budgets, loading.

"Nothing read outside the roots" is observed, not assumed: a Python audit hook records
every file the process opens and every directory it lists while a check runs.
"""
from __future__ import annotations

import hashlib
import os
import socket
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from domain.errors import Forbidden, QualityError
from infrastructure.contract_loader import load_contracts
from infrastructure.quality_checker import run_quality_check
from validators.quality_report import format_markdown

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "contracts"

# Planted texts are assembled here, so this file trips no contract when the repository is checked.
AWS_KEY = "AKIA" + "Z3QX" * 4
PRIVATE_KEY = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
CONFLICT = "<" * 7 + " HEAD\nours\n" + "=" * 7 + "\ntheirs\n" + ">" * 7 + " feature\n"
BREAKPOINT = "breakpoint" + "()"
SET_TRACE = "pdb.set" + "_trace()"

_touched: list[tuple[str, str]] = []
_writes: list[str] = []
_recording = False
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _audit(event: str, args: tuple) -> None:
    if _recording and event in ("open", "os.scandir", "os.listdir"):
        path = args[0]
        if isinstance(path, (str, bytes, os.PathLike)):
            _touched.append((event, os.fsdecode(path)))
            if event == "open" and ((args[2] or 0) & _WRITE_FLAGS or set(str(args[1] or "")) & set("wax+")):
                _writes.append(os.fsdecode(path))


sys.addaudithook(_audit)


def check(path, contracts, roots, **kwargs):
    """run_quality_check, recording what it opened and listed."""
    global _recording
    _touched.clear()
    _writes.clear()
    _recording = True
    try:
        return run_quality_check(str(path), contracts, [str(r) for r in roots], **kwargs)
    finally:
        _recording = False


def touched_outside(root: Path) -> list[tuple[str, str]]:
    """Absolute paths opened or listed outside ``root``. The walk opens everything below the
    root by name relative to its parent's descriptor (O_NOFOLLOW); those relative names are
    inside by construction (test_contract_bounds swaps a directory mid-walk to prove it)."""
    real = os.path.realpath(root)
    return [(e, p) for e, p in _touched if os.path.isabs(p) and not (os.path.realpath(p) + os.sep).startswith(real + os.sep)]


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def contracts_from(tmp_path: Path, *yaml_texts: str):
    folder = tmp_path / "contracts"
    folder.mkdir(exist_ok=True)
    for i, text in enumerate(yaml_texts):
        (folder / f"c{i}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    catalog = load_contracts([folder])
    assert catalog.load_errors == []
    return catalog.contracts


def shipped(*names):
    catalog = load_contracts([SHIPPED])
    assert catalog.load_errors == []
    return [catalog.get(n) for n in names] if names else catalog.active()


def found(result) -> list[tuple[str, int, str]]:
    return [(v["file"], v["line"], v["rule_id"]) for v in result["violations"]]


EVERY_CHECK_TYPE = """
contract:
  name: fixture-rules
  version: "3.0"
  scope: {paths: ["src/**"], excludes: ["src/vendor/**"]}
  rules:
    - {id: no-dump, check_type: forbidden_pattern, severity: major, message: No dumps., patterns: ["var_dump("]}
    - {id: no-key, check_type: forbidden_pattern, severity: critical, message: No keys., secret: true, regex: true,
       patterns: ["AKIA[0-9A-Z]{16}"]}
    - {id: strict, check_type: required_pattern, severity: major, message: Strict types., files: "*.php",
       patterns: ["declare(strict_types=1);"], within_lines: 3}
    - {id: short, check_type: max_lines, severity: minor, message: Too long., max_lines: 20, files: ["**/Controller/**"]}
    - {id: names, check_type: naming, severity: info, message: Controller names., files: ["**/Controller/**"],
       filename_regex: "[A-Z][A-Za-z]*Controller\\\\.php"}
    - id: layers
      check_type: layer_dependency
      severity: critical
      message: Domain stays pure.
      layers:
        domain: {paths: ["src/Domain/**"], prefixes: ["App\\\\Domain"]}
        infra: {paths: ["src/Infra/**"], prefixes: ["App\\\\Infra"]}
      allow: {domain: [], infra: [domain]}
"""

STRICT = "<?php\ndeclare(strict_types=1);\n"


def planted_tree(root: Path) -> None:
    write(root, "src/Domain/User.php", STRICT + "namespace App\\Domain;\nuse App\\Infra\\Db;\nuse App\\Domain\\Id;\n")
    write(root, "src/Domain/Clean.php", STRICT + "namespace App\\Domain;\nfinal class Clean {}\n")
    write(root, "src/Infra/Db.php", "<?php\nuse App\\Domain\\User;\n\ndeclare(strict_types=1);\nvar_dump($x);\n")
    write(root, "src/Controller/UserController.php", STRICT + "".join(f"// {i}\n" for i in range(19)))
    write(root, "src/Controller/user_helper.php", STRICT + "$k = '" + AWS_KEY + "';\n")
    write(root, "src/config.py", "x = 1\nvar_dump(x)\n")
    write(root, "src/vendor/lib/Bad.php", "<?php\nvar_dump(1);\n")
    write(root, "docs/notes.php", "<?php\nvar_dump(1);\n")


def test_every_check_type_finds_exactly_the_planted_violations(tmp_path):
    root = tmp_path / "proj"
    planted_tree(root)
    result = check(root, contracts_from(tmp_path, EVERY_CHECK_TYPE), [root])
    assert found(result) == [
        ("src/Controller/UserController.php", 21, "short"),
        ("src/Controller/user_helper.php", 1, "names"),
        ("src/Controller/user_helper.php", 3, "no-key"),
        ("src/Domain/User.php", 4, "layers"),
        ("src/Infra/Db.php", 1, "strict"),
        ("src/Infra/Db.php", 5, "no-dump"),
        ("src/config.py", 2, "no-dump"),
    ]
    assert result["counts"] == {"critical": 2, "major": 3, "minor": 1, "info": 1}
    assert result["verdict"] == "rejected"
    assert result["critical_rules"] == ["layers", "no-key"]
    assert result["contracts"] == [{"name": "fixture-rules", "version": "3.0", "verdict": "rejected", "counts": result["counts"]}]
    assert result["files_scanned"] == 6 and result["truncated"] is False and result["budget_exhausted"] is None
    assert result["lines_scanned"] == 5 + 4 + 5 + 21 + 3 + 2
    assert result["skipped"] == {"excluded_directory": 1, "out_of_scope": 1}


def test_a_clean_tree_is_approved_with_no_violations(tmp_path):
    root = tmp_path / "proj"
    write(root, "src/Domain/Clean.php", STRICT + "use App\\Domain\\Id;\n")
    write(root, "src/Controller/HomeController.php", STRICT + "final class HomeController {}\n")
    result = check(root, contracts_from(tmp_path, EVERY_CHECK_TYPE), [root])
    assert (result["verdict"], result["violations"], result["files_scanned"]) == ("approved", [], 2)


def test_the_shipped_php_contract_finds_the_owners_rule_breaks(tmp_path):
    root = tmp_path / "app"
    write(root, "src/Domain/User/User.php", STRICT + "namespace App\\Domain\\User;\n\nuse App\\Infrastructure\\Persistence\\Pdo;\n")
    write(root, "src/Domain/User/Email.php", STRICT + "namespace App\\Domain\\User;\n")
    write(root, "src/Infrastructure/Persistence/Pdo.php", "<?php\nnamespace App\\Infrastructure\\Persistence;\nuse App\\Domain\\User\\User;\n")
    write(root, "src/Controller/OrderController.php",
          STRICT + "$sql = 'SELECT id, total FROM orders WHERE id = ?';\n" + "\n" * 497 + "// line 501\n")
    write(root, "src/Controller/HomeController.php", STRICT + "// Select the items from the list shown.\n")
    write(root, "vendor/acme/Lib.php", "<?php\nuse App\\Infrastructure\\X;\n")
    result = check(root, shipped("php-layered-architecture"), [root])
    assert found(result) == [
        ("src/Controller/OrderController.php", 3, "no-sql-in-controllers"),
        ("src/Controller/OrderController.php", 501, "controller-max-lines"),
        ("src/Domain/User/User.php", 5, "domain-independent-of-infrastructure"),
        ("src/Infrastructure/Persistence/Pdo.php", 1, "strict-types"),
    ]
    assert result["verdict"] == "rejected"


def test_the_shipped_php_contract_works_when_src_itself_is_checked(tmp_path):
    root = tmp_path / "app"
    write(root, "src/Domain/User.php", STRICT + "use Infrastructure\\Db;\n")
    result = check(root / "src", shipped("php-layered-architecture"), [root])
    assert found(result) == [("Domain/User.php", 3, "domain-independent-of-infrastructure")]


def test_code_hygiene_finds_conflicts_keys_and_dumps_and_never_shows_a_key(tmp_path):
    root = tmp_path / "proj"
    write(root, "README.md", "# x\n" + CONFLICT)
    write(root, "deploy/key.txt", "note\n" + PRIVATE_KEY)
    write(root, "app/settings.py", f"AWS = '{AWS_KEY}'\n{BREAKPOINT}\nimport pdb; {SET_TRACE}\n")
    write(root, "web/index.php", "<?php\nvar_dump($a);\nprint_r($b);\n$log = print_r($c, true);\n$x->add($y);\ndd($z);\n")
    write(root, "node_modules/pkg/x.js", CONFLICT)
    result = check(root, shipped("code-hygiene"), [root])
    assert found(result) == [
        ("README.md", 2, "merge-conflict-marker"),
        ("README.md", 6, "merge-conflict-marker"),
        ("app/settings.py", 1, "access-token"),
        ("app/settings.py", 2, "python-breakpoint"),
        ("app/settings.py", 3, "python-breakpoint"),
        ("deploy/key.txt", 2, "private-key"),
        ("web/index.php", 2, "php-debug-dump"),
        ("web/index.php", 3, "php-debug-dump"),
        ("web/index.php", 6, "php-debug-dump"),
    ]
    secrets = [v["match"] for v in result["violations"] if v["rule_id"] in ("access-token", "private-key")]
    assert secrets == ["[redacted]", "[redacted]"]
    everything = repr(result) + format_markdown(result)
    assert AWS_KEY not in everything and "MIIEowIBAAKCAQEA" not in everything and "PRIVATE KEY" not in everything


# ---- path confinement --------------------------------------------------------------------


@pytest.fixture
def fenced(tmp_path):
    """An allowed root, and a readable tree with a planted violation just outside it."""
    root = tmp_path / "allowed"
    write(root, "ok.py", "x = 1\n")
    outside = tmp_path / "outside"
    write(outside, "secret.py", f"{BREAKPOINT}\n")
    return root, outside


def assert_refused(path, root, expected_words, error=Forbidden):
    """Outside the roots is forbidden (code "forbidden"); an unusable path inside them is a QualityError."""
    with pytest.raises(error) as err:
        check(path, shipped("code-hygiene"), [root])
    message = str(err.value)
    for word in expected_words:
        assert word in message, message
    assert touched_outside(root) == []
    assert _touched == []  # refused before anything was opened or listed
    return message


def test_a_dot_dot_escape_is_refused(fenced):
    root, _ = fenced
    message = assert_refused(str(root / ".." / "outside"), root, ["outside the directories", "QUALITY_ALLOWED_PATHS", str(root)])
    assert "resolves to" in message
    assert_refused("../outside", root, ["QUALITY_ALLOWED_PATHS"])


def test_an_absolute_path_outside_the_roots_is_refused(fenced):
    root, outside = fenced
    assert_refused(str(outside), root, ["QUALITY_ALLOWED_PATHS", str(root)])
    assert_refused("/", root, ["QUALITY_ALLOWED_PATHS"])


def test_a_symlink_to_etc_is_refused(fenced):
    root, _ = fenced
    (root / "etc").symlink_to("/etc")
    assert_refused(str(root / "etc"), root, ["resolves to /etc", "QUALITY_ALLOWED_PATHS"])
    assert_refused("etc", root, ["resolves to /etc"])


def test_a_path_that_does_not_exist_is_refused(fenced):
    root, _ = fenced
    assert_refused(str(root / "missing"), root, ["does not exist"], error=QualityError)


def test_a_prefix_sibling_of_a_root_is_outside_it(tmp_path):
    root = tmp_path / "app"
    root.mkdir()
    sibling = tmp_path / "app-secrets"
    write(sibling, "a.py", "x\n")
    assert_refused(str(sibling), root, ["outside"])


def test_a_symlink_inside_the_tree_leading_outside_is_not_followed(fenced):
    root, outside = fenced
    (root / "linked_dir").symlink_to(outside)
    (root / "linked_file.py").symlink_to(outside / "secret.py")
    result = check(root, shipped("code-hygiene"), [root])
    assert result["violations"] == []
    assert result["skipped"] == {"symlink": 2}
    assert touched_outside(root) == []


def test_a_symlink_inside_the_roots_is_not_followed_the_file_is_checked_under_its_real_name(tmp_path):
    root = tmp_path / "proj"
    write(root, "real/a.py", f"{BREAKPOINT}\n")
    (root / "alias.py").symlink_to(root / "real" / "a.py")
    (root / "loop").symlink_to(root)
    result = check(root, shipped("code-hygiene"), [root])
    assert found(result) == [("real/a.py", 1, "python-breakpoint")]
    assert result["skipped"] == {"symlink": 2}


# ---- what is skipped ---------------------------------------------------------------------


def test_binary_large_fifo_and_socket_files_are_skipped_and_counted(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    write(root, "ok.py", f"{BREAKPOINT}\n")
    (root / "image.py").write_bytes(b"\x89PNG\x00\x00" + f"{BREAKPOINT}\n".encode())
    with open(root / "huge.py", "wb") as f:
        f.truncate(2 * 1024 * 1024 + 1)
    os.mkfifo(root / "pipe.py")
    monkeypatch.chdir(root)  # a socket path must be short
    sock = socket.socket(socket.AF_UNIX)
    sock.bind("sock.py")
    try:
        result = check(root, shipped("code-hygiene"), [root])
    finally:
        sock.close()
    assert found(result) == [("ok.py", 1, "python-breakpoint")]
    assert result["skipped"] == {"binary": 1, "fifo": 1, "socket": 1, "too_large": 1}
    assert result["files_scanned"] == 1


def test_a_text_file_of_exactly_two_megabytes_is_read_to_its_end(tmp_path):
    root = tmp_path / "proj"
    tail = f"{BREAKPOINT}\n"
    filler = "x = 1\n" * ((2 * 1024 * 1024 - len(tail)) // 6)
    pad = "#" * (2 * 1024 * 1024 - len(tail) - len(filler) - 1) + "\n"
    write(root, "big.py", filler + pad + tail)
    assert (root / "big.py").stat().st_size == 2 * 1024 * 1024
    write(root, "late_nul.py", "y = 2\n" * 2000 + "\x00\n" + tail)  # a NUL after the first 8 KB: still text
    result = check(root, shipped("code-hygiene"), [root])
    assert found(result) == [("big.py", filler.count("\n") + 2, "python-breakpoint"), ("late_nul.py", 2002, "python-breakpoint")]
    assert result["skipped"] == {}


def test_a_device_file_is_skipped(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    try:
        os.mknod(root / "null.py", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here: {exc}")
    result = check(root, shipped("code-hygiene"), [root])
    assert result["skipped"] == {"device": 1}


def test_files_that_hold_secrets_by_name_are_skipped(tmp_path):
    root = tmp_path / "proj"
    for name in (".env", ".env.production", "id_rsa", "deploy/server.pem", "tls.key", "cert.p12", ".netrc", ".pgpass"):
        write(root, name, f"AWS={AWS_KEY}\n")
    write(root, ".env.example", "AWS=" + AWS_KEY + "\n")  # a template is source, and checked
    write(root, "id_rsa.pub", "ssh-rsa AAAA\n")
    result = check(root, shipped("code-hygiene"), [root])
    assert found(result) == [(".env.example", 1, "access-token")]
    assert result["skipped"] == {"secret_filename": 8}
    assert not any(p.endswith((".env", "id_rsa", ".pem", ".key", ".p12", ".netrc", ".pgpass")) for e, p in _touched if e == "open")


def test_a_secret_file_is_read_when_a_contract_names_it_and_its_key_is_redacted(tmp_path):
    root = tmp_path / "proj"
    write(root, "app/.env", f"AWS={AWS_KEY}\n")
    write(root, "app/id_rsa", PRIVATE_KEY)
    contracts = contracts_from(tmp_path, """
        contract:
          name: env-files
          version: "1"
          rules:
            - {id: env-key, check_type: forbidden_pattern, severity: critical, message: No live keys in .env.,
               secret: true, regex: true, patterns: ["AKIA[0-9A-Z]{16}"], files: [".env"]}
    """)
    result = check(root, contracts, [root])
    assert found(result) == [("app/.env", 1, "env-key")]
    assert result["violations"][0]["match"] == "[redacted]"
    assert result["skipped"] == {"out_of_scope": 1}  # id_rsa: no rule covers it


# ---- budgets and limits ------------------------------------------------------------------


def many_files(root: Path, n: int) -> None:
    for i in range(n):
        write(root, f"f{i:02}.py", f"{BREAKPOINT}\n")


def test_the_files_budget_stops_the_check_and_says_so(tmp_path):
    root = tmp_path / "proj"
    many_files(root, 5)
    result = check(root, shipped("code-hygiene"), [root], max_files=2)
    assert (result["budget_exhausted"], result["files_scanned"]) == ("files", 2)
    assert found(result) == [("f00.py", 1, "python-breakpoint"), ("f01.py", 1, "python-breakpoint")]
    assert "files budget ran out" in format_markdown(result)


def test_the_seconds_budget_stops_the_check_and_says_so(tmp_path):
    root = tmp_path / "proj"
    many_files(root, 3)
    result = check(root, shipped("code-hygiene"), [root], max_seconds=0)
    assert (result["budget_exhausted"], result["files_scanned"]) == ("seconds", 0)


def test_max_violations_keeps_the_most_severe_and_counts_every_one(tmp_path):
    root = tmp_path / "proj"
    write(root, "a.py", f"{BREAKPOINT}\n" * 30)
    write(root, "z.py", f"K = '{AWS_KEY}'\n")
    result = check(root, shipped("code-hygiene"), [root], max_violations=5)
    assert result["truncated"] is True and result["total_violations"] == 31
    assert result["counts"] == {"critical": 1, "major": 30, "minor": 0, "info": 0}
    assert len(result["violations"]) == 5
    assert ("z.py", 1, "access-token") in found(result)
    assert found(result) == sorted(found(result))
    assert result["critical_rules"] == ["access-token"]


def test_a_check_changes_no_file(tmp_path):
    root = tmp_path / "proj"
    planted_tree(root)

    def snapshot():
        return {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}

    before = snapshot()
    check(root, contracts_from(tmp_path, EVERY_CHECK_TYPE) + shipped(), [root])
    assert snapshot() == before
    assert _writes == [] and any(event == "open" for event, _ in _touched)


def test_a_single_file_is_checked_with_paths_relative_to_its_root(tmp_path):
    root = tmp_path / "proj"
    planted_tree(root)
    result = check(root / "src" / "Domain" / "User.php", contracts_from(tmp_path, EVERY_CHECK_TYPE), [root])
    assert found(result) == [("src/Domain/User.php", 4, "layers")]
    assert result["files_scanned"] == 1


def test_a_relative_path_starts_at_the_first_allowed_root(tmp_path):
    root = tmp_path / "proj"
    planted_tree(root)
    result = check("src/Infra", contracts_from(tmp_path, EVERY_CHECK_TYPE), [root, tmp_path / "other"])
    # Globs are relative to the checked directory, so the contract's src/** scope no longer matches.
    assert result["path"] == str(root / "src" / "Infra") and result["files_scanned"] == 0


def test_an_excluded_directory_is_never_entered(tmp_path):
    root = tmp_path / "proj"
    write(root, "vendor/big/a.py", "x\n")
    write(root, "app.py", "x\n")
    result = check(root, shipped("code-hygiene"), [root])
    assert result["skipped"] == {"excluded_directory": 1}
    assert not any("vendor" in p for _, p in _touched)


def test_checking_without_a_contract_is_refused(tmp_path):
    with pytest.raises(QualityError, match="No contract"):
        run_quality_check(str(tmp_path), [], [str(tmp_path)])


# ---- loading -----------------------------------------------------------------------------

GOOD = 'contract:\n  name: {name}\n  version: "1"\n  rules:\n    - {{id: r, check_type: max_lines, severity: minor, message: m, max_lines: 9}}\n'


def test_a_broken_contract_file_is_a_load_error_with_its_line_and_hides_no_other(tmp_path):
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "a-good.yaml").write_text(GOOD.format(name="good-one"))
    (folder / "b-syntax.yml").write_text("contract:\n  name: x\n  rules: [\n    - broken\n")
    (folder / "c-schema.yaml").write_text(GOOD.format(name="schema-bad").replace("severity: minor", "severity: high"))
    (folder / "d-good.yml").write_text(GOOD.format(name="good-two"))
    (folder / "notes.txt").write_text("not a contract")
    catalog = load_contracts([folder])
    assert [c.name for c in catalog.contracts] == ["good-one", "good-two"]
    errors = {Path(e["file"]).name: e for e in catalog.load_errors}
    assert sorted(errors) == ["b-syntax.yml", "c-schema.yaml"]
    assert errors["b-syntax.yml"]["line"] == 4 and "YAML syntax error" in errors["b-syntax.yml"]["reason"]
    assert errors["c-schema.yaml"]["line"] == 5
    assert errors["c-schema.yaml"]["reason"].startswith("contract.rules[0].severity: 'high' is not allowed")
    assert catalog.errors_of("schema-bad")[0].endswith("c-schema.yaml")


def test_a_duplicate_contract_name_is_a_load_error_naming_both_files(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    (first / "x.yaml").write_text(GOOD.format(name="same"))
    (second / "y.yaml").write_text(GOOD.format(name="same"))
    catalog = load_contracts([first, second])
    assert [c.source for c in catalog.contracts] == [str(first / "x.yaml")]
    [error] = catalog.load_errors
    assert error["file"] == str(second / "y.yaml") and str(first / "x.yaml") in error["reason"]


def test_a_missing_contracts_directory_is_a_load_error(tmp_path):
    catalog = load_contracts([tmp_path / "nowhere", SHIPPED])
    assert len(catalog.contracts) == 3
    assert catalog.load_errors == [{"file": str(tmp_path / "nowhere"), "line": None,
                                    "reason": "the contracts directory does not exist; fix CONTRACTS_DIR"}]


def test_a_yaml_tag_that_would_build_an_object_is_refused(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "evil.yaml").write_text("contract: !!python/object/apply:os.system ['true']\n")
    catalog = load_contracts([folder])
    assert catalog.contracts == [] and "YAML syntax error" in catalog.load_errors[0]["reason"]


# ---- this repository -----------------------------------------------------------------------


def test_python_layered_passes_over_this_repository():
    result = check(REPO, shipped("python-layered"), [REPO])
    assert result["violations"] == [], format_markdown(result)
    assert result["verdict"] == "approved"
    assert result["files_scanned"] > 20


def test_code_hygiene_passes_over_this_repository():
    result = check(REPO, shipped("code-hygiene"), [REPO])
    assert result["violations"] == [], format_markdown(result)
