"""The command line: build output/, convert one rule, list targets.

Exit codes: 0 success, 1 rule errors (nothing written) or drift in output/, 2 usage errors (click's own),
3 built, but some targets refused some rules (listed in the manifest and on stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from translator.build import compile_rules
from translator.errors import RuleError, printable
from translator.loader import load_rule
from translator.output_dir import OutputError, check_owned, differences, write_tree
from translator.pipelines import PipelineError, pipeline_files, supported
from translator.targets import TARGETS

EXIT_REFUSED = 3  # built, with refusals: a CI job can tell it from success (0) and errors (1)


def _fail(lines: list[str], prefix: str = "error") -> None:
    """One diagnostic per line: a line break in a file name or title cannot forge another line."""
    for line in lines:
        click.echo(f"{prefix}: {printable(line)}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="translator")
def main() -> None:
    """Compile Sigma rules to Kibana KQL, Elasticsearch EQL and Microsoft Sentinel KQL."""


@main.command()
@click.option(
    "--rules",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default="sigma",
    show_default=True,
    help="Directory searched recursively for Sigma rules (*.yml, *.yaml).",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default="output",
    show_default=True,
    help="Directory the artifacts and manifest.json are written to, replaced as a whole: it must be new, "
    "empty, or one an earlier build wrote (every file listed in its manifest.json).",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing each artifact that differs.")
@click.option(
    "--strict",
    is_flag=True,
    help="Fail on ATT&CK tags the bundled ATT&CK data cannot map (by default a note; the tag is kept).",
)
def build(rules: Path, output: Path, check: bool, strict: bool) -> None:
    """Compile every rule under RULES to every target into OUTPUT.

    All rules are compiled and every problem is reported. A rule file that is not a valid rule is an
    error: OUTPUT is left exactly as it was (exit 1). A valid rule that a target cannot express is a
    refusal: everything else is built, the manifest lists the refusal, and the exit code is 3. OUTPUT
    is swapped for the new tree in one atomic step, so a crash leaves either the old or the new tree; a
    folder translator did not write is refused, never replaced.
    """
    try:
        if not check:
            check_owned(output, rules)  # before the slow compile; write_tree checks again under its lock
        result = compile_rules(rules, strict=strict)
    except (OutputError, PipelineError) as e:
        _fail([str(e)])
        sys.exit(1)
    _fail(result.notes, prefix="note")
    _fail([str(e) for _, e in result.refusals], prefix="refused")
    if result.errors:
        _fail([str(e) for e in result.errors])
        click.echo(printable(f"{len(result.errors)} error(s); {output} left unchanged"), err=True)
        sys.exit(1)
    files = result.files()
    refused = f"; {len(result.refusals)} refused (listed in manifest.json)" if result.refusals else ""
    try:
        if not check:
            write_tree(output, files, rules)
            written = f"wrote {len(result.artifacts)} artifacts and {output / 'manifest.json'}{refused}"
            click.echo(printable(written))
            sys.exit(EXIT_REFUSED if result.refusals else 0)
        drift = differences(output, files)
    except OutputError as e:
        _fail([str(e)])
        sys.exit(1)
    if drift:
        _fail(drift, prefix="drift")
        click.echo(printable(f"{output} is not what the rules compile to; run `translator build`"), err=True)
        sys.exit(1)
    click.echo(printable(f"{output} is up to date ({len(result.artifacts)} artifacts{refused})"))


@main.command()
@click.argument("rule", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--target", "-t", "target_name", required=True, help="A name from `translator targets`.")
def convert(rule: Path, target_name: str) -> None:
    """Print the query one rule compiles to for one target."""
    target = TARGETS.get(target_name)
    if target is None:
        _fail([f"unknown target {target_name!r}; the targets are: {', '.join(TARGETS)}"])
        sys.exit(1)
    try:
        rendered = target.render(load_rule(rule, rule.parent))
    except (RuleError, PipelineError) as e:
        _fail([str(e)])
        sys.exit(1)
    _fail(list(rendered.notes), prefix="note")
    click.echo(rendered.text, nl=False)


@main.command()
def targets() -> None:
    """List the targets, what each artifact is, and the log sources each maps (with its pipelines)."""
    for target in TARGETS.values():
        click.echo(f"{target.name}\t{target.description}")
        for logsource in supported(target.model):
            files = ", ".join(f"pipelines/{p.name}" for p in pipeline_files(target.model, logsource.sigma))
            click.echo(f"  {logsource}\t{files}")
