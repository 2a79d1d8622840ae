"""The command line: build output/, convert one rule, list targets, show the configuration.

Exit codes: 0 success, 1 rule errors (nothing written) or drift in output/, 2 usage errors (click's own),
3 built, but some targets refused some rules (listed in the manifest and on stderr).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from translator.build import Library, compile_library, read_library
from translator.cache import ENV_CACHE_DIR, Cache, default_dir
from translator.config import CONFIG_NAME, TARGET_NAMES, Config, ConfigError, effective, load_config
from translator.errors import RuleError, printable
from translator.json_text import json_text
from translator.noop import recall, remember
from translator.output_dir import check_owned_now, write_tree
from translator.output_read import MANIFEST, OutputError, differences
from translator.progress import Progress, Run, found
from translator.versions import version_line
from translator.workers import WorkerError, Workers, default_workers

EXIT_REFUSED = 3  # built, with refusals: a CI job can tell it from success (0) and errors (1)


def _fail(lines: list[str], prefix: str = "error") -> None:
    """One diagnostic per line: a line break in a file name or title cannot forge another line."""
    for line in lines:
        click.echo(f"{prefix}: {printable(line)}", err=True)


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_line())
        ctx.exit()


def _config(path: Path | None) -> Config:
    """The configuration (--config, else ./translator.toml, else the defaults); exit 1 if unusable."""
    try:
        return load_config(path)
    except ConfigError as e:
        _fail([str(e)])
        sys.exit(1)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"The team's configuration file (README, Configuration); by default ./{CONFIG_NAME} if it exists.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Print the versions of translator, pySigma and the ATT&CK data, and exit.",
)
def main() -> None:
    """Compile Sigma rules to Kibana KQL, Elasticsearch EQL and Microsoft Sentinel KQL."""


@main.command()
@click.option(
    "--rules",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    show_default="build.rules of the configuration, else sigma",
    help="Directory searched recursively for Sigma rules (*.yml, *.yaml).",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    show_default="build.output of the configuration, else output",
    help="Directory the artifacts and manifest.json are written to, replaced as a whole: it must be new, "
    "empty, or one an earlier build wrote (every file listed in its manifest.json).",
)
@click.option(
    "--target",
    "target_names",
    multiple=True,
    type=click.Choice(TARGET_NAMES),
    help="A target or package to build (repeat for more); by default build.targets, else all of them.",
)
@config_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing each artifact that differs.")
@click.option(
    "--strict",
    is_flag=True,
    help="Fail on ATT&CK tags the bundled ATT&CK data cannot map (by default a note; the tag is kept).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=default_workers,
    show_default="the cores this process may use",
    help="Processes compiling rules, and threads writing OUTPUT, in parallel; the output is the same "
    "for any number.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=default_dir,
    show_default=f"${ENV_CACHE_DIR}, else the user cache folder",
    help="Where compiled rules are kept between builds, keyed by everything they depend on.",
)
@click.option("--no-cache", is_flag=True, help="Compile every rule; read and write no cache.")
@click.option(
    "--quiet", "-q", is_flag=True, help="Print errors only: no notes, refusals, progress or summary."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: print one JSON summary on stdout (counts per target, refusals, notes, errors, timings, "
    "cache hits) for CI jobs; diagnostics stay on stderr.",
)
def build(
    rules: Path | None,
    output: Path | None,
    target_names: tuple[str, ...],
    config_path: Path | None,
    check: bool,
    strict: bool,
    workers: int,
    cache_dir: Path,
    no_cache: bool,
    quiet: bool,
    output_format: str,
) -> None:
    """Compile every rule under RULES to every target into OUTPUT.

    All rules are compiled and every problem is reported. A rule file that is not a valid rule is an
    error: OUTPUT is left exactly as it was (exit 1). A valid rule that a target cannot express is a
    refusal: everything else is built, the manifest lists the refusal, and the exit code is 3. OUTPUT
    is swapped for the new tree in one atomic step, so a crash leaves either the old or the new tree; a
    folder translator did not write is refused, never replaced. Rules unchanged since an earlier build
    come from the cache; a build that changes nothing writes nothing.
    """
    started = time.perf_counter()
    config = _config(config_path)
    flags = {"rules": rules and str(rules), "output": output and str(output), "targets": list(target_names)}
    if given := {name: value for name, value in flags.items() if value}:
        config = config.with_build("command line", **given)  # the command line over the file
    rules, output = Path(config.get("build", "rules")), Path(config.get("build", "output"))
    if not rules.is_dir():
        raise click.BadParameter(f"Directory '{rules}' does not exist.", param_hint="'--rules'")
    cache = None if no_cache else Cache(cache_dir)
    progress = Progress(enabled=not quiet and sys.stderr.isatty())
    try:
        with Workers(workers, cache) as pool:
            library = read_library(rules, strict, cache, config, pool)
            known = recall(cache, library, output) if cache else None
            if known:
                _nothing_to_do(known, library, output, cache, check, quiet, output_format, started)
            # Before or while the rules compile; write_tree checks again under its lock.
            early_check = None if check else functools.partial(check_owned_now, output, rules)
            result = compile_library(library, pool, progress.update, early_check)
    except (OutputError, WorkerError) as e:
        progress.clear()
        _fail([str(e)])
        sys.exit(1)
    progress.clear()
    report = _Report(lambda: found(result), Run.of(result, output, cache), output_format, quiet, started)
    if not quiet:
        _fail(result.notes, prefix="note")
        _fail([str(e) for _, e in result.refusals], prefix="refused")
    if result.errors:
        _fail([str(e) for e in result.errors])
        report.finish("errors", 1, f"{len(result.errors)} error(s); {output} left unchanged", err=True)
    files = result.files()
    if cache:
        remember(cache, library, result, files[MANIFEST])
    count, refusals = len(result.artifacts), len(result.refusals)
    try:
        if not check:
            before = time.perf_counter()
            wrote = write_tree(output, files, rules, workers)
            result.seconds["write"] = time.perf_counter() - before
            report.settle("built" if wrote else "unchanged", output, count, refusals)
        drift = differences(output, files)
    except OutputError as e:
        _fail([str(e)])
        report.finish("errors", 1, str(e), err=True)
    if drift:
        _fail(drift, prefix="drift")
        report.drift = drift
        stale = f"{output} is not what the rules compile to; run `translator build`"
        report.finish("drift", 1, stale, err=True)
    report.settle("up to date", output, count, refusals)


def _nothing_to_do(
    known: dict[str, Any],
    library: Library,
    output: Path,
    cache: Cache,
    check: bool,
    quiet: bool,
    output_format: str,
    started: float,
) -> NoReturn:
    """Report a build or check whose output/ already holds what the library compiles to (noop.py)."""
    data = known["report"]
    if not quiet:
        _fail(data["notes"], prefix="note")
        _fail(known["refused"], prefix="refused")
    seconds = {"read": library.seconds, "compile": 0.0, "write": 0.0}
    run = Run(output, cache, hits=data["rules"], compiled=0, workers=0, seconds=seconds)
    report = _Report(lambda: data, run, output_format, quiet, started)
    report.settle("up to date" if check else "unchanged", output, data["artifacts"], len(known["refused"]))


class _Report:
    """The build's last words: one line (text), or the JSON summary (what it found, how it ran); then
    the exit code."""

    def __init__(
        self, found: Callable[[], dict[str, Any]], run: Run, output_format: str, quiet: bool, started: float
    ) -> None:
        self.found, self.run = found, run
        self.json, self.quiet, self.started = output_format == "json", quiet, started
        self.drift: list[str] = []

    def settle(self, status: str, output: Path, count: int, refusals: int) -> NoReturn:
        """Finish a build that succeeded: `built`, `unchanged` or (--check) `up to date`."""
        refused = f"; {refusals} refused (listed in manifest.json)" if refusals else ""
        line = {
            "built": f"wrote {count} artifacts and {output / MANIFEST}{refused}",
            "unchanged": f"{output} already held these {count} artifacts{refused}",
            "up to date": f"{output} is up to date ({count} artifacts{refused})",
        }[status]
        self.finish(status, EXIT_REFUSED if refusals and status != "up to date" else 0, line)

    def finish(self, status: str, code: int, line: str, err: bool = False) -> NoReturn:
        self.run.seconds["total"] = time.perf_counter() - self.started
        if self.json:
            click.echo(
                json_text(self.found() | self.run.report(status, code, self.drift), indent=2, sort_keys=True)
            )
        elif err or not self.quiet:
            click.echo(printable(line), err=err)
        sys.exit(code)


@main.command()
@click.argument("rule", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--target", "-t", "target_name", required=True, help="A name from `translator targets`.")
@config_option
def convert(rule: Path, target_name: str, config_path: Path | None) -> None:
    """Print the query one rule compiles to for one target."""
    from translator.loader import load_rule
    from translator.pipelines import PipelineError
    from translator.targets import TARGETS

    target = TARGETS.get(target_name)
    if target is None:
        _fail([f"unknown target {target_name!r}; the targets are: {', '.join(TARGETS)}"])
        sys.exit(1)
    config = _config(config_path)
    try:
        rendered = target.render(load_rule(rule, rule.parent), config)
    except (RuleError, PipelineError) as e:
        _fail([str(e)])
        sys.exit(1)
    _fail(list(rendered.notes), prefix="note")
    click.echo(rendered.text, nl=False)


@main.command()
def targets() -> None:
    """List the targets, what each artifact is, and the log sources each maps (with its pipelines)."""
    from translator.pipelines import pipeline_files, supported
    from translator.targets import TARGETS

    for target in TARGETS.values():
        click.echo(f"{target.name}\t{target.description}")
        for logsource in supported(target.model):
            files = ", ".join(f"pipelines/{p.name}" for p in pipeline_files(target.model, logsource.sigma))
            click.echo(f"  {logsource}\t{files}")


@main.command("config")
@config_option
def show_config(config_path: Path | None) -> None:
    """Print the effective configuration: every setting, its value (JSON) and where it comes from."""
    config = _config(config_path)
    click.echo(f"# configuration file: {config.file or f'none (no ./{CONFIG_NAME}): the defaults'}")
    for key, value, source in effective(config):
        click.echo(printable(f"{key} = {json_text(value)}  # {source}"))
