"""Benchmark of quality_check: the shipped contracts against `grep -rEc` on one generated tree.

    python bench/quality_bench.py [--files 10000] [--lines 1000000] [--repeat 3] [--write-results]

Generates a PHP/Python/TypeScript/Markdown tree in a temporary directory (a fixed seed,
so every run sees the same tree, with a few planted violations), runs every active
shipped contract over it in this process, and in the same run `grep -rEc` with the
forbidden patterns of those contracts, translated to POSIX ERE, over the same tree.
Each side runs once to warm the page cache, then `--repeat` times; the best run counts.
Prints lines/s and the ratio; `--write-results` puts them into bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from infrastructure.contract_loader import load_contracts  # noqa: E402
from infrastructure.quality_checker import run_quality_check  # noqa: E402

TARGET_LINES_PER_SECOND = 300_000
TARGET_GREP_RATIO = 5.0

# --- the generated tree -------------------------------------------------------------

CONTEXTS = ["Billing", "Catalog", "Customer", "Shipping", "Identity", "Reporting", "Search", "Inventory"]
WORDS = "invoice order customer price amount total line item status account address stock report".split()


def _php_method(rng: random.Random, i: int) -> list[str]:
    a, b = rng.choice(WORDS), rng.choice(WORDS)
    return [
        "",
        "    /**",
        f"     * Returns the {a} of this {b}, recalculated when the {b} changed.",
        "     */",
        f"    public function {a}{b.title()}{i}(int $limit = 10): array",
        "    {",
        f"        $result = $this->{a}Repository->findBy(['{b}' => $this->id], $limit);",
        "        if ($result === []) {",
        f"            throw new \\DomainException('No {a} for {b} ' . $this->id);",
        "        }",
        f"        $this->logger->info('{a} loaded', ['count' => \\count($result)]);",
        "        return array_map(static fn (array $row): array => $row + ['seen' => true], $result);",
        "    }",
    ]


def _php_file(rng: random.Random, layer: str, context: str, name: str, lines: int, strict: bool = True) -> list[str]:
    head = ["<?php", ""]
    if strict:
        head += ["declare(strict_types=1);", ""]
    head += [
        f"namespace App\\{layer}\\{context};",
        "",
        f"use App\\Domain\\{context}\\{context}Id;",
        "use Psr\\Log\\LoggerInterface;",
        "",
        f"final class {name}",
        "{",
        f"    public function __construct(private readonly {context}Id $id, private LoggerInterface $logger)",
        "    {",
        "    }",
    ]
    body, i = [], 0
    while len(head) + len(body) < lines - 1:
        body += _php_method(rng, i)
        i += 1
    return (head + body)[: lines - 1] + ["}"]


def _py_function(rng: random.Random, i: int) -> list[str]:
    a, b = rng.choice(WORDS), rng.choice(WORDS)
    return [
        "",
        "",
        f"def {a}_{b}_{i}(rows: list[dict], limit: int = 10) -> list[dict]:",
        f'    """The {a} of each {b}, newest first."""',
        "    found = []",
        "    for row in rows:",
        f"        if row.get('{a}') is None:",
        "            continue",
        f"        found.append({{'{b}': row['{b}'], 'value': row['{a}']}})",
        "    found.sort(key=lambda r: r['value'], reverse=True)",
        "    return found[:limit]",
    ]


def _py_file(rng: random.Random, package: str, lines: int) -> list[str]:
    imports = {"domain": ["from dataclasses import dataclass"], "validators": ["from domain.errors import InvalidInput"],
               "infrastructure": ["from domain.models import Task"], "tools": ["from validators.rules import check"]}[package]
    head = [f'"""The {rng.choice(WORDS)} helpers of {package}."""', "from __future__ import annotations", "", "import re", *imports]
    body, i = [], 0
    while len(head) + len(body) < lines:
        body += _py_function(rng, i)
        i += 1
    return (head + body)[:lines]


def _ts_file(rng: random.Random, lines: int) -> list[str]:
    head = ["import { api } from '../lib/api';", "import type { Order } from '@app/domain';", ""]
    body, i = [], 0
    while len(head) + len(body) < lines:
        a = rng.choice(WORDS)
        body += [
            f"export async function load{a.title()}{i}(id: string): Promise<Order[]> {{",
            f"  const response = await api.get(`/{a}/${{id}}`);",
            "  if (!response.ok) {",
            f"    throw new Error(`cannot load {a} ${{id}}: ${{response.status}}`);",
            "  }",
            "  return (await response.json()) as Order[];",
            "}",
            "",
        ]
        i += 1
    return (head + body)[:lines]


def _md_file(rng: random.Random, lines: int) -> list[str]:
    out = [f"# The {rng.choice(WORDS)} guide", ""]
    while len(out) < lines:
        out += [" ".join(rng.choice(WORDS) for _ in range(12)) + ".", ""]
    return out[:lines]


def generate_tree(root: Path, files: int, total_lines: int, seed: int = 4) -> dict[str, int]:
    """Write the tree; returns how many violations of each kind were planted."""
    rng = random.Random(seed)
    sizes = [rng.randint(20, 180) for _ in range(files)]
    long_controllers = {n for n in range(files) if n % 20 == 8 and n % 997 == 8}
    for n in long_controllers:
        sizes[n] = 620  # over the 500-line limit of php-layered-architecture
    # Make the sizes add up to exactly total_lines, keeping every file at 10 lines or more.
    diff, i = total_lines - sum(sizes), 0
    while diff:
        step = 1 if diff > 0 else -1
        n = i % files
        if n not in long_controllers and (step > 0 or sizes[n] > 10):
            sizes[n] += step
            diff -= step
        i += 1
    planted = {"var_dump": 0, "missing_strict_types": 0, "domain_uses_infrastructure": 0, "sql_in_controller": 0,
               "long_controller": 0, "breakpoint": 0, "conflict_marker": 0, "aws_key": 0}
    for n, size in enumerate(sizes):
        kind = n % 20
        context = CONTEXTS[n % len(CONTEXTS)]
        if kind < 10:  # PHP: Domain, Infrastructure, Application, Controller
            layer = ("Domain", "Domain", "Domain", "Infrastructure", "Infrastructure", "Application", "Application",
                     "Application", "Controller", "Controller")[kind]
            if layer == "Controller":
                name = f"{context}{n}Controller"
                planted["long_controller"] += n in long_controllers
            else:
                name = f"{context}{rng.choice(WORDS).title()}{n}"
            strict = n % 701 != 3
            planted["missing_strict_types"] += not strict
            text = _php_file(rng, layer, context, name, size, strict)
            if layer == "Domain" and n % 409 == 0:
                text[7] = f"use App\\Infrastructure\\{context}\\Connection;"
                planted["domain_uses_infrastructure"] += 1
            if layer == "Controller" and n % 499 == 9:
                text[-2] = "    private const Q = \"SELECT id, total FROM orders WHERE customer = ?\";"
                planted["sql_in_controller"] += 1
            if n % 307 == 5:
                text[-3] = "    // var_dump($this->id);"
                planted["var_dump"] += 1
            path = root / "src" / layer / context / f"{name}.php"
        elif kind < 15:
            package = ("domain", "validators", "infrastructure", "tools", "tools")[kind - 10]
            text = _py_file(rng, package, size)
            if n % 811 == 11:
                text[-1] = "    breakpoint" + "()"  # split, so this file does not trip code-hygiene
                planted["breakpoint"] += 1
            path = root / package / context.lower() / f"{rng.choice(WORDS)}_{n}.py"
        elif kind < 19:
            text = _ts_file(rng, size)
            path = root / "web" / "src" / context.lower() / f"{rng.choice(WORDS)}{n}.ts"
        else:
            text = _md_file(rng, size)
            if n % 2003 == 19:
                text[3:8] = ["<" * 7 + " HEAD", "ours", "=" * 7, "theirs", ">" * 7 + " feature"]
                planted["conflict_marker"] += 1
            if n % 4001 == 39:
                text[5] = "aws_access_key_id = " + "AKIA" + "QX7" * 5 + "Z"
                planted["aws_key"] += 1
            path = root / "docs" / context.lower() / f"{rng.choice(WORDS)}-{n}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return planted


# --- grep with the same forbidden patterns ----------------------------------------------

def forbidden_patterns(contracts) -> list[str]:
    """The compiled pattern of every forbidden_pattern rule of the given contracts (literals escaped)."""
    return [
        regex.pattern
        for contract in contracts
        for rule in contract.rules
        if rule.check_type == "forbidden_pattern"
        for regex in rule.regexes
    ]


def to_ere(pattern: str) -> str:
    """Python regex → GNU ERE, for the constructs the shipped contracts use.

    `X(?<=^X)` becomes `^X` and `X(?<!\\wX)` becomes `\\bX` (the look-behinds that stand in
    for anchors); other look-arounds are dropped, which only makes grep's pattern broader.
    """
    anchored = re.fullmatch(r"(.*)\(\?<=\^(.*)\)(.*)", pattern)
    if anchored and anchored.group(1) == anchored.group(2):
        pattern = "^" + anchored.group(1) + anchored.group(3)
    pattern = re.sub(r"(\w+)\(\?<!\\w\1\)", r"\\b\1", pattern)
    out, i, n, in_class = [], 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if in_class:
                out.append({"w": "[:alnum:]_", "s": "[:space:]", "t": "\t", "n": "", "d": "0-9"}.get(nxt, nxt if nxt not in "\\]" else "\\" + nxt))
            else:
                out.append({"d": "[0-9]", "t": "\t"}.get(nxt, c + nxt))
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
        elif pattern.startswith("(?:", i):
            out.append("(")
            i += 3
            continue
        elif pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            i = _skip_group(pattern, i)
            continue
        elif c == "?" and out and out[-1] in ("*", "+", "}"):
            pass  # lazy quantifier: ERE has none, and a count does not care
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _skip_group(pattern: str, i: int) -> int:
    depth, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


# --- the run ------------------------------------------------------------------------------

def time_quality(tree: Path, contracts) -> tuple[float, dict]:
    started = time.perf_counter()
    result = run_quality_check(str(tree), contracts, [str(tree)], max_files=10**9, max_seconds=3600)
    return time.perf_counter() - started, result


def time_grep(tree: Path, patterns: list[str]) -> tuple[float, int]:
    args = ["grep", "-rEc"]
    for p in patterns:
        args += ["-e", p]
    started = time.perf_counter()
    done = subprocess.run(args + [str(tree)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode > 1:
        raise SystemExit(f"grep failed: {done.stderr.decode()[:500]}")
    hits = sum(int(line.rsplit(b":", 1)[1]) for line in done.stdout.splitlines())
    return elapsed, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate the tree here and keep it")
    parser.add_argument("--write-results", action="store_true", help="record the figures in bench/RESULTS.md")
    args = parser.parse_args()

    catalog = load_contracts([REPO / "contracts"])
    if catalog.load_errors:
        raise SystemExit(f"shipped contracts failed to load: {catalog.load_errors}")
    contracts = catalog.active()
    patterns = list(dict.fromkeys(to_ere(p) for p in forbidden_patterns(contracts)))

    workdir = Path(tempfile.mkdtemp(prefix="quality-bench-")) if args.keep is None else args.keep
    tree = workdir / "tree"
    try:
        t0 = time.perf_counter()
        planted = generate_tree(tree, args.files, args.lines)
        print(f"generated {args.files} files, {args.lines} lines in {time.perf_counter() - t0:.1f} s: {tree}")
        time_quality(tree, contracts)  # warm the page cache for both sides
        time_grep(tree, patterns)
        ours, theirs = [], []
        for _ in range(args.repeat):
            elapsed, result = time_quality(tree, contracts)
            ours.append(elapsed)
            g_elapsed, grep_hits = time_grep(tree, patterns)
            theirs.append(g_elapsed)
        best, g_best = min(ours), min(theirs)
        lines_per_s = result["lines_scanned"] / best
        figures = {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "files_scanned": result["files_scanned"],
            "lines_scanned": result["lines_scanned"],
            "contracts": ", ".join(f"{c['name']}@{c['version']}" for c in result["contracts"]),
            "rules": sum(len(c.rules) for c in contracts),
            "grep_patterns": len(patterns),
            "quality_best_s": best,
            "quality_median_s": statistics.median(ours),
            "grep_best_s": g_best,
            "grep_median_s": statistics.median(theirs),
            "lines_per_s": lines_per_s,
            "ratio": best / g_best,
            "verdict": result["verdict"],
            "counts": result["counts"],
            "grep_hits": grep_hits,
            "planted": planted,
            "skipped": result["skipped"],
        }
        report(figures)
        if args.write_results:
            write_results(figures)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def report(f: dict) -> None:
    print(f"quality_check: {f['files_scanned']} files, {f['lines_scanned']} lines, best {f['quality_best_s']:.3f} s "
          f"(median {f['quality_median_s']:.3f} s) = {f['lines_per_s']:,.0f} lines/s "
          f"[target ≥ {TARGET_LINES_PER_SECOND:,}] {'OK' if f['lines_per_s'] >= TARGET_LINES_PER_SECOND else 'MISSED'}")
    print(f"grep -rEc ({f['grep_patterns']} patterns): best {f['grep_best_s']:.3f} s (median {f['grep_median_s']:.3f} s)")
    print(f"ratio quality_check / grep: {f['ratio']:.2f}x [target ≤ {TARGET_GREP_RATIO}x] "
          f"{'OK' if f['ratio'] <= TARGET_GREP_RATIO else 'MISSED'}")
    print(f"verdict {f['verdict']}, counts {f['counts']}, skipped {f['skipped']}; planted {f['planted']}")


def write_results(f: dict) -> None:
    section = f"""## Quality check

Command: `python bench/quality_bench.py --write-results` (10,000 files, 1,000,000 lines, best of 3 after a warm-up run)

| | |
|---|---|
| tree | {f['files_scanned']:,} files, {f['lines_scanned']:,} lines (PHP, Python, TypeScript, Markdown; generated, fixed seed) |
| contracts | {f['contracts']} ({f['rules']} rules) |
| quality_check | {f['quality_best_s']:.3f} s best, {f['quality_median_s']:.3f} s median → **{f['lines_per_s']:,.0f} lines/s** (target ≥ 300,000) |
| `grep -rEc`, same {f['grep_patterns']} forbidden patterns | {f['grep_best_s']:.3f} s best, {f['grep_median_s']:.3f} s median |
| ratio | **{f['ratio']:.2f}×** grep (target ≤ 5×) |
| result | verdict `{f['verdict']}`, counts {f['counts']} |
| machine | Python {f['python']}, {f['cpus']} CPUs, {time.strftime('%Y-%m-%d')} |

grep only runs the forbidden patterns; quality_check also runs the required-pattern,
max-lines, naming and layer rules, and reads each file once for all of them.
"""
    path = REPO / "bench" / "RESULTS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    text = replace_section(text, "## Quality check", section)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


def replace_section(text: str, heading: str, section: str) -> str:
    """Replace the section under ``heading`` (up to the next ``## ``), or append it."""
    start = text.find(heading + "\n")
    if start == -1:
        return text.rstrip("\n") + "\n\n" + section
    end = text.find("\n## ", start + len(heading))
    return text[:start] + section.rstrip("\n") + "\n" + (text[end:] if end != -1 else "")


if __name__ == "__main__":
    main()
