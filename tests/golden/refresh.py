"""Rewrite the expectations in cases.yml from what the compiler emits now; review the diff after."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support.cases import CASES_FILE, load_cases, render_case  # noqa: E402


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def main() -> None:
    header = [line for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    cases = load_cases()
    for case in cases:
        case["expected"] = {
            target: result["query"] if "query" in result else {"error": result["error"]}
            for target, result in render_case(case).items()
        }
    body = yaml.dump(cases, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    CASES_FILE.write_text("\n".join(header) + "\n" + body, encoding="utf-8")


if __name__ == "__main__":
    main()
