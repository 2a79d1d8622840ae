"""How much of a real rule library compiles: SigmaHQ's rules/cloud/azure, per service and target.

Usage (after `make test`, which installs the grammars this script checks with):

    .venv/bin/python bench/azure_coverage.py /path/to/sigma-checkout [--reasons]

Each rule is compiled for every target as `translator build` would. A compiled query counts as valid
only if its real grammar accepts it (Kibana's kuery grammar, Elastic's eql, Microsoft's Kusto.Language
with the tables' schemas, so an unknown column fails). A refusal is the build's error for that rule and
target, grouped by reason; a crash is an internal error (the compiler failing on a rule). Prints one
Markdown table per service. Not a test: it needs a checkout the project does not ship.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402
from sigma.pipelines.azuremonitor.tables import AZURE_MONITOR_TABLES  # noqa: E402

from support.grammars import KustoAnalyzer, parse_eql, parse_kibana_kql, table_schema, watchlist_stub  # noqa: E402
from translator.build import compile_rules  # noqa: E402
from translator.pipelines import PIPELINES_DIR  # noqa: E402
from translator.targets import TARGETS  # noqa: E402

SERVICES = ("activitylogs", "signinlogs", "auditlogs", "riskdetection", "pim")


def reason_kind(reason: str) -> str:
    """A refusal reason without its rule-specific parts (values, field names), to group by."""
    reason = re.sub(r"'[^']*'", "'…'", reason)
    reason = re.sub(r'"[^"]*"', '"…"', reason)
    reason = re.sub(r"\s*\([^()]*\)", "", reason)  # field names, pipelines
    reason = re.sub(r"\b(azure|Properties_d|TargetResources)[\w.*\[\]]*", "…", reason)
    return ": ".join(reason.split(": ")[:2]) if reason.startswith("log source") else reason


def grammar_errors(target: str, query: str, kusto: KustoAnalyzer) -> list[str]:
    try:
        if target == "kibana-kql":
            parse_kibana_kql(query.rstrip("\n"))
        elif target == "eql":
            parse_eql(query)
        else:
            return [f"{d['code']}: {d['message']}" for d in kusto.errors(query)]
    except Exception as e:  # noqa: BLE001 - any parse failure is a grammar error here
        return [f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"]
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a SigmaHQ/sigma checkout")
    parser.add_argument("--reasons", action="store_true", help="list every refusal reason in full")
    args = parser.parse_args()
    rules_dir = args.checkout / "rules" / "cloud" / "azure"
    services = {}
    for path in sorted(rules_dir.rglob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        services[path.resolve()] = (data.get("logsource") or {}).get("service", "?")
    build = compile_rules(rules_dir)

    kusto = KustoAnalyzer()
    tables = {name: table_schema(name) for name in AZURE_MONITOR_TABLES}
    activity = yaml.safe_load((PIPELINES_DIR / "azure_activitylogs_to_sentinel.yml").read_text())
    kusto.use_schema(tables, {"_GetWatchlist": watchlist_stub(activity["vars"]["lookups"])})

    outcome: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    reasons: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    full: list[str] = []
    for artifact in build.artifacts:
        if artifact.kind != "query":
            continue
        rule = rules_dir / build.owners[artifact.path].rel_path
        service = services[rule.resolve()]
        errors = grammar_errors(artifact.target, artifact.content.decode(), kusto)
        key = (service, artifact.target)
        outcome[key]["compiled, grammar-valid" if not errors else "compiled, grammar-INVALID"] += 1
        full += [f"INVALID {rule.name} {artifact.target}: {e}" for e in errors]
    for error in [*build.errors, *(e for _, e in build.refusals)]:
        service = services.get(Path(error.path).resolve(), "?")
        targets = [error.target] if error.target in TARGETS else list(TARGETS) if not error.target else []
        for target in targets:
            kind = "crashed" if error.reason.startswith("internal error") else "refused"
            outcome[(service, target)][kind] += 1
            reasons[(service, target)][reason_kind(error.reason)] += 1
            full.append(f"{kind} {Path(error.path).name} {target}: {error.reason}")
    kusto.close()

    counts = Counter(services.values())
    per_service = ", ".join(f"{s} {n}" for s, n in counts.items())
    print(f"SigmaHQ rules/cloud/azure: {len(services)} rules ({per_service})\n")
    for service in SERVICES:
        if not counts[service]:
            continue
        print(f"### {service} ({counts[service]} rules)\n")
        print(
            "| target | compiled, grammar-valid | grammar-invalid | refused | crashed | refusals by reason |"
        )
        print("|---|---|---|---|---|---|")
        for target in TARGETS:
            o = outcome[(service, target)]
            why = "; ".join(f"{n}x {r}" for r, n in reasons[(service, target)].most_common())
            print(
                f"| {target} | {o['compiled, grammar-valid']} | {o['compiled, grammar-INVALID']} | "
                f"{o['refused']} | {o['crashed']} | {why} |"
            )
        print()
    if args.reasons:
        print("\n".join(sorted(full)))


if __name__ == "__main__":
    main()
