"""translator against sigma-cli on generated rule libraries of growing size (GitHub issue 9).

Usage: .venv/bin/python bench/library_scale.py [--sizes 100,1000,4000] [--repeat 3] [--json]
       [--translator PATH] [--translator-arg ARG ...] [--workdir DIR]
       (or `make bench`, options in BENCH_ARGS: make bench BENCH_ARGS="--sizes 100,1000")

--translator times another translator (default: the one beside this Python, else .venv/bin/translator),
for example a snapshot of a commit; --translator-arg adds a build option (e.g. --workers 4) to every
translator run. --workdir keeps the work folder, and whatever a failed run left in it.

A benchmark, not a timed test: it prints numbers for a person to read and never fails on them. It
fails only when a run fails, so no number ever comes from a broken build. For each library size it
generates Azure Activity Log rules (bench/rulegen.py), then runs, interleaved within each repetition so
that drifts of the machine hit both tools alike:

  translator cold build (fresh output folder, fresh cache if the CLI has one)
  sigma-cli, three runs: -t eql and -t lucene (bench/sigma_cli_ecs.yml), -t kusto (sigma_cli_kusto.yml)
  translator no-op rebuild, rebuild after changing one value in one rule, and build --check

and reports medians and translator's peak RSS as a Markdown table (or the raw numbers with --json).
sigma-cli is installed into bench/.venv-sigma-cli on first use (pinned, hashed).

Nothing is deleted until every run is done. ext4 without a journal (the file system of the machine the
README's table comes from) allocates a new inode by scanning past each free inode that was deleted in
the last 5 seconds, or the last 5 minutes while its inode table block is not yet written back
(fs/ext4/ialloc.c, recently_deleted). On that machine a loop creating 24,000 small files took 0.4 s,
and 5.2 s right after 48,000 others were deleted: deleting each repetition's trees would charge the
next cold build (24,000 files) for the benchmark's own clean-up, which a build in a fresh clone does
not pay. sigma-cli writes three files, so it would not notice.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import rulegen
from tools import (
    BENCH,
    BenchError,
    Run,
    cache_env,
    ensure_sigma_cli,
    fresh_cache_args,
    sigma_cli_versions,
    timed,
    translator_options,
)

DEFAULT_SIZES = (100, 1000, 4000)
SIGMA_CLI_RUNS = (  # sigma-cli target, its pipeline file
    ("eql", BENCH / "sigma_cli_ecs.yml"),
    ("lucene", BENCH / "sigma_cli_ecs.yml"),
    ("kusto", BENCH / "sigma_cli_kusto.yml"),
)
TRANSLATOR_KINDS = ("translator_cold", "translator_noop", "translator_one_changed", "translator_check")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    """The two tools, set up once, and one repetition's runs on one library."""

    def __init__(self, translator: str, sigma: Path, extra_args: list[str], work: Path) -> None:
        self.translator = translator
        self.sigma = sigma
        self.extra_args = extra_args
        self.options = translator_options(translator)
        self.work = work

    def build(self, lib: Path, out: Path, cache: Path, *flags: str) -> Run:
        """One `translator build`, with this repetition's cache folder (as option and as XDG cache)."""
        cmd = [self.translator, "build", "--rules", str(lib), "--output", str(out), *flags]
        cmd += fresh_cache_args(self.options, cache) + self.extra_args
        return timed(cmd, self.work / "translator.log", env=cache_env(cache))

    def sigma_cli(self, lib: Path, rules: int, out: Path) -> dict[str, Run]:
        """The three sigma-cli runs; each must have converted every rule to one query line."""
        runs = {}
        for target, pipeline in SIGMA_CLI_RUNS:
            result = out / f"{target}.txt"
            cmd = [str(self.sigma), "convert", "--fail-unsupported", "-t", target, "-p", str(pipeline)]
            runs[target] = timed([*cmd, "-o", str(result), str(lib)], self.work / "sigma-cli.log")
            queries = sum(1 for line in result.read_text().splitlines() if line.strip())
            if queries != rules:
                raise BenchError(f"sigma-cli -t {target}: {queries} queries for {rules} rules (see {result})")
        return runs

    def repetition(self, library: rulegen.Library, rules: int, rep: Path) -> dict[str, Run]:
        """One interleaved round: cold build, sigma-cli, no-op, one changed rule, --check."""
        rep.mkdir()
        out, cache = rep / "output", rep / "cache"
        runs = {"translator_cold": self.build(library.root, out, cache)}
        built = json.loads((out / "manifest.json").read_text())["artifacts"]
        if len({a["rule_path"] for a in built}) != rules:
            raise BenchError(f"translator built artifacts for fewer than {rules} rules (see {out})")
        sigma = self.sigma_cli(library.root, rules, rep)
        runs.update({f"sigma_cli_{target}": run for target, run in sigma.items()})
        runs["sigma_cli"] = Run(
            sum(r.seconds for r in sigma.values()),
            sum(r.cpu_seconds for r in sigma.values()),
            max(r.peak_rss_bytes for r in sigma.values()),
            sum(r.steal_seconds for r in sigma.values()),
        )
        runs["translator_noop"] = self.build(library.root, out, cache)
        before = (out / "manifest.json").read_bytes()
        edit = library.edit
        original = edit.path.read_text()
        if original.count(edit.old) != 1:
            raise BenchError(f"{edit.path}: {edit.old!r} is not in the rule exactly once")
        edit.path.write_text(original.replace(edit.old, edit.new))
        try:
            runs["translator_one_changed"] = self.build(library.root, out, cache)
            if (out / "manifest.json").read_bytes() == before:
                raise BenchError(f"changing {edit.path.name} changed no artifact")
            runs["translator_check"] = self.build(library.root, out, cache, "--check")
        finally:
            edit.path.write_text(original)
        return runs  # rep stays until the end (module docstring)


def measure(bench: Bench, sizes: list[int], repeat: int) -> list[dict]:
    """Every size: generate the library and run `repeat` interleaved rounds, after one untimed warm-up."""
    warm = rulegen.generate(bench.work / "warm-up", 12)  # pays .pyc and page-cache costs untimed
    bench.repetition(warm, 12, bench.work / "warm-up-run")
    results = []
    for rules in sizes:
        log(f"{rules} rules: generating ...")
        library = rulegen.generate(bench.work / f"library-{rules}", rules)
        runs: dict[str, list[Run]] = {}
        for i in range(repeat):
            log(f"{rules} rules: repetition {i + 1}/{repeat} ...")
            for kind, run in bench.repetition(library, rules, bench.work / f"run-{rules}-{i}").items():
                runs.setdefault(kind, []).append(run)
        results.append(
            {
                "rules": rules,
                "median_seconds": {k: statistics.median(r.seconds for r in v) for k, v in runs.items()},
                "median_cpu_seconds": {
                    k: statistics.median(r.cpu_seconds for r in v) for k, v in runs.items()
                },
                "max_peak_rss_bytes": {k: max(r.peak_rss_bytes for r in v) for k, v in runs.items()},
                "steal_seconds": {k: [round(r.steal_seconds, 2) for r in v] for k, v in runs.items()},
                "runs": {k: [vars(r) for r in v] for k, v in runs.items()},
            }
        )
    return results


def machine() -> dict[str, str | int | None]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews the numbers
    }


def ratio(sigma_cli: float, ours: float) -> str:
    """translator's time as a share of sigma-cli's, and the speed-up: `4.2% (23.8x faster)`."""
    if ours <= 0 or sigma_cli <= 0:
        return "n/a"
    r = sigma_cli / ours
    return f"{ours / sigma_cli:.1%} ({r:.1f}x faster)" if r >= 1 else f"{1 / r:.1f}x slower"


def markdown(report: dict) -> str:
    m, v = report["machine"], report["versions"]
    added = " ".join(report["translator_args"]) or "none"
    lines = [
        f"Machine: {m['cpus']} CPUs ({m['cpus_usable']} usable), {m['platform']}, Python {m['python']}, "
        f"load {m['load_average_1m']} at start; "
        f"{report['date']}; median of {report['repeat']} interleaved repetitions.",
        f"translator {v['translator']} (build arguments added: {added}); "
        + ", ".join(f"{name} {version}" for name, version in v["sigma_cli"].items())
        + ".",
        "",
        "| rules | translator cold | sigma-cli (3 runs) | cold vs sigma-cli | no-op | vs sigma-cli "
        "| one changed | vs sigma-cli | --check | vs sigma-cli | translator peak RSS |",
        "|---:|---:|---:|---|---:|---|---:|---|---:|---|---:|",
    ]
    for result in report["results"]:
        t = result["median_seconds"]
        sigma = t["sigma_cli"]
        cells = [f"{result['rules']:,}", f"{t['translator_cold']:.2f} s", f"{sigma:.2f} s"]
        cells.append(ratio(sigma, t["translator_cold"]))
        for kind in TRANSLATOR_KINDS[1:]:
            cells += [f"{t[kind]:.2f} s", ratio(sigma, t[kind])]
        peak = max(result["max_peak_rss_bytes"][k] for k in TRANSLATOR_KINDS)
        cells.append(f"{peak / 2**20:.0f} MiB")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "CPU seconds the hypervisor took from this machine during each repetition's runs (steal):"]
    for result in report["results"]:
        stolen = result["steal_seconds"]
        lines.append(
            f"{result['rules']:,} rules: translator cold "
            + ", ".join(f"{s:.2f}" for s in stolen["translator_cold"])
            + "; sigma-cli (3 runs) "
            + ", ".join(f"{s:.2f}" for s in stolen["sigma_cli"])
            + "."
        )
    return "\n".join(lines)


def default_translator() -> str:
    beside = Path(sys.executable).parent / "translator"
    return str(beside) if beside.is_file() else str(BENCH.parent / ".venv" / "bin" / "translator")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma-separated rule counts"
    )
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions per size (median)")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON, not the table")
    parser.add_argument("--translator", default=default_translator(), help="the translator executable")
    parser.add_argument(
        "--translator-arg", action="append", default=[], help="extra `translator build` argument (repeatable)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="a new or empty folder to work in, kept (default: a temporary one)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < 12 or args.repeat < 1:
        parser.error("sizes must be at least 12 rules each, and --repeat at least 1")
    if args.workdir and args.workdir.exists() and any(args.workdir.iterdir()):
        parser.error(f"--workdir {args.workdir} is not empty")

    sigma = ensure_sigma_cli()
    host = machine()
    with tempfile.TemporaryDirectory(prefix="translator-bench-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            bench = Bench(args.translator, sigma, args.translator_arg, work)
            results = measure(bench, sizes, args.repeat)
        except BenchError as e:
            log(f"benchmark failed: {e}")
            return 1
    version = subprocess.run([args.translator, "--version"], capture_output=True, text=True, check=True)
    report = {
        "date": dt.date.today().isoformat(),
        "machine": host,
        "repeat": args.repeat,
        "translator": args.translator,
        "translator_args": args.translator_arg,
        "translator_build_options": sorted(bench.options),
        "versions": {"translator": version.stdout.strip(), "sigma_cli": sigma_cli_versions()},
        "results": results,
    }
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
