"""Fuzzing with hypothesis: values, field names and rule metadata, each through every target.

1. Values: each goes into a rule under equality, contains, startswith and endswith, compiles to every
   target, parses with the target's real grammar, and, executed, matches what the oracle matches on a
   record holding exactly that value and on its near misses. Values mix quotes, backslashes, `*` and
   `?` meant literally, colons, parentheses, braces, spaces, the words and/or/not, unicode, tabs, line
   breaks of every kind and control characters (NUL, ESC, DEL, C1, NEL, U+2028/U+2029, BOM).
2. Field names: the free-text key of `identity.claims.<key>` (the one mapping that carries rule text
   into a field name) must compile for every target, parse, and match a record whose claims hold that
   key with that value, and none whose claims hold another key or another value. Keys with control
   characters are refused by the rule schema.
3. Metadata: hostile titles, descriptions, authors, references, false positives, free-text tags and
   investigation guides go into the Serial Console rule; the rule files must carry each string exactly
   (ARM's one documented escape aside), pass the SIEMs' checks, and the Sentinel query must not change
   below its two header comment lines.

Runs are derandomized (the same examples each time); HYPOTHESIS_PROFILE=explore searches afresh.
Every failure found so far is kept below as an @example.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sigma.rule import SigmaRule

from support import elastic_ingest, kibana_checks, sentinel_checks, sentinel_ingest
from support.attack_data import attack_data
from support.corpus import merge
from support.eql_eval import EqlQuery
from support.grammars import KustoAnalyzer, parse_eql, parse_kibana_kql
from support.kql_eval import JS_WHITESPACE, KqlQuery
from support.kusto_exec import Workspace
from support.oracle import SigmaRule as Oracle
from support.records import BASE
from support.semantics import EVENT_TIME, NOW
from support.sources import rule_source
from translator.errors import RuleError
from translator.loader import load_rule
from translator.model import RuleSource, guide_from_attribute
from translator.packaging import PACKAGES
from translator.targets import TARGETS

# The field each target's values go to: a string field every target can compare exactly. Elastic keeps
# properties.* in a flattened field, which EQL refuses and whose keys take no wildcard query, so the
# Elastic targets use resultSignature (a keyword field); Sentinel has no column for it.
FIELDS = {"kibana-kql": "resultSignature", "eql": "resultSignature", "sentinel-kql": "properties.message"}
MODIFIERS = ("", "contains", "startswith", "endswith")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3000"))  # per target

settings.register_profile(
    "ci",
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "explore", parent=settings.get_profile("ci"), derandomize=False, max_examples=5 * EXAMPLES
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
# Field names and metadata: each example builds more (three targets, or whole rule files), so fewer.
FEW = max(10, settings.default.max_examples * 2 // 15)  # 400 at the default 3,000
# Sentinel values: each example is analysed by Kusto.Language and executed by duckdb-kql (about 0.1 s),
# so a third as many keep `make test` within its ten minutes.
EXECUTED = max(10, settings.default.max_examples // 3)  # 1,000 at the default 3,000

# Control characters and line breaks of every kind a grammar or a reader may care about: NUL, other C0
# and C1 controls, vertical tab and form feed, NEL, the Unicode line and paragraph separators, and the
# byte-order mark (JavaScript's trim removes it).
CONTROLS = [*"\x00\x01\x08\x0b\x0c\x1b\x1f\x7f\x85\x9f\u2028\u2029\ufeff"]
SPECIALS = [
    *"\"'\\*?:()<>{}[]|&=!~@#%^$.,;/-_+ \t\n\r",
    *["\u00a0", "é", "ü", "ß", "Ω", "中", "✓", "😀"],
    *CONTROLS,
]
pieces = st.one_of(
    st.sampled_from(SPECIALS),
    st.sampled_from(["and", "or", "not", "AND", "Or", "nOt", " and ", " or ", " not ", "cannot "]),
    st.text(alphabet="abcXYZ019", min_size=1, max_size=4),
)
values = st.lists(pieces, min_size=1, max_size=8).map("".join)


def sigma_literal(value: str) -> str:
    """A Sigma string meaning `value` exactly: *, ? and backslash escaped."""
    return "".join("\\" + c if c in "*?\\" else c for c in value)


def candidates(value: str, modifier: str) -> list[str]:
    """The value itself and near misses around it (the oracle says which of them match).

    The padding is no letter and not in the values' alphabet: a near miss in letter case only would
    meet the known Kibana difference (tests/known_differences.py), not test escaping."""
    pad = "§"
    out = [value, value + pad, pad + value, value[:-1], value[1:], value[:-1] + pad]
    if modifier:
        half = len(value) // 2
        out += [f"¶¶{value}§§", f"{value}§§", f"¶¶{value}", f"{value[:half]}§{value[half:]}"]
    return list(dict.fromkeys(v for v in out if v))


def source(value: str, modifier: str, field: str) -> RuleSource:
    key = field + (f"|{modifier}" if modifier else "")
    return rule_source({"selection": {key: sigma_literal(value)}, "condition": "selection"})


def expected(value: str, modifier: str, field: str) -> dict[str, bool]:
    key = field + (f"|{modifier}" if modifier else "")
    oracle = Oracle({"selection": {key: sigma_literal(value)}, "condition": "selection"})
    return {c: oracle.matches(record(field, c)) for c in candidates(value, modifier)}


@functools.cache
def record(field: str, value: str) -> dict:
    """The base record with `field` (a top-level name, or properties.<key>) holding `value`."""
    patch: dict = (
        {"properties": {field.removeprefix("properties."): value}} if "." in field else {field: value}
    )
    return merge(BASE, patch)


def compiled(value: str, modifier: str, target: str) -> str | None:
    """The query, or None where the target refuses the value with a clear error (Kibana KQL cannot
    put whitespace at the ends of a wildcard value; that is the one refusal allowed)."""
    try:
        return TARGETS[target].render(source(value, modifier, FIELDS[target])).text
    except RuleError as e:
        allowed = target == "kibana-kql" and "trims whitespace at the ends of a wildcard value" in e.reason
        assert allowed, e.reason
        return None


cases = given(value=values, modifier=st.sampled_from(MODIFIERS))


@cases
@example(value="cannot ", modifier="contains")  # \not was read as a newline escape (\n) + "ot"
@example(value="a or b", modifier="startswith")
@example(value=" x", modifier="startswith")  # refused: Kibana trims the ends of a wildcard value
@example(value="Y", modifier="endswith")  # a near miss in letter case only (the test's, now padded)
@example(value='\\"', modifier="")
@example(value="\ufeffx", modifier="startswith")  # refused: JavaScript's trim removes the BOM too
@example(value="a\x0bb\u2028c", modifier="endswith")
def test_kibana_kql(value: str, modifier: str) -> None:
    query = compiled(value, modifier, "kibana-kql")
    if query is None:
        return
    parse_kibana_kql(query.rstrip("\n"))
    kql = KqlQuery(query.rstrip("\n"), elastic_ingest.TYPES)
    field = FIELDS["kibana-kql"]
    got = {c: kql.matches(elastic_ingest.to_ecs(record(field, c))) for c in candidates(value, modifier)}
    assert got == expected(value, modifier, field)


@cases
@example(value="a*b", modifier="")  # a literal * in `:` is a wildcard in Elasticsearch: regex~ instead
@example(value="\x00}", modifier="")  # "\u{00}}": the eql library's unescape read "00}" (support/grammars.py)
@example(value="\x1b\u2028\x85", modifier="contains")
@example(value="?", modifier="endswith")
@example(value="\\\n", modifier="contains")
def test_eql(value: str, modifier: str) -> None:
    query = compiled(value, modifier, "eql")
    parse_eql(query)
    eql = EqlQuery(query)
    field = FIELDS["eql"]
    got = {c: eql.matches(elastic_ingest.to_ecs(record(field, c))) for c in candidates(value, modifier)}
    assert got == expected(value, modifier, field)


@pytest.fixture(scope="module")
def sentinel_run(workspace: Workspace, kusto: KustoAnalyzer):  # noqa: ANN201
    def run(value: str, modifier: str) -> dict[str, bool]:
        query = compiled(value, modifier, "sentinel-kql")
        assert kusto.errors(query) == []
        values = candidates(value, modifier)
        rows = [
            sentinel_ingest.to_row(record(FIELDS["sentinel-kql"], c) | {"correlationId": f"c{i}"}, EVENT_TIME)
            for i, c in enumerate(values)
        ]
        workspace.load(rows)
        matched = {row["CorrelationId"] for row in workspace.run(query, NOW)}
        return {c: f"c{i}" in matched for i, c in enumerate(values)}

    return run


@cases
@example(value="a*b?c", modifier="")
@example(value="\x00a", modifier="")  # "\u0000a": Kusto.Language reads \u's hex digits on, as U+000A
@example(value="\x00", modifier="")  # duckdb-kql read "\u0000" as "u0000" (support/kusto_exec.py)
@example(value="x\ty", modifier="endswith")
@example(value='"', modifier="contains")
@settings(max_examples=EXECUTED)
def test_sentinel_kql(sentinel_run, value: str, modifier: str) -> None:  # noqa: ANN001
    assert sentinel_run(value, modifier) == expected(value, modifier, FIELDS["sentinel-kql"])


# -- 2. Field names: the key of identity.claims.<key> ---------------------------------------------

# Claim keys are free text in the record (URLs, mostly); the pipelines carry them into field names:
# Elastic turns their dots into "_" (the integration's ingest pipeline), Sentinel writes Claims_d["key"].
KEY_PIECES = [
    *"./: *?\"'\\`(){}[]@-_$#%&=+,;<>!~^",
    *["\u00a0", "\ufeff", "é", "ß", "Ω", "中", "😀"],
    *["or", "and", "not", " or ", " and ", "not ", "OR", "where", "in", "by", "let", "true", "False"],
    *["null", "name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/", "1", "2fa"],
]
# Words that matter as a whole key: keywords of EQL, Kusto and Kibana KQL, Kusto's boolean literals.
KEY_WORDS = ["or", "and", "not", "where", "in", "by", "any", "like", "sequence", "null", "let", "dynamic"]
KEY_WORDS += ["true", "false", "True", "FALSE", "name", "_", "1abc"]
claim_keys = st.one_of(
    st.sampled_from(KEY_WORDS),
    st.lists(
        st.one_of(st.sampled_from(KEY_PIECES), st.text(alphabet="abcXYZ019", min_size=1, max_size=4)),
        min_size=1,
        max_size=6,
    )
    .map("".join)
    .filter(lambda key: key.strip(" ")),  # Elasticsearch refuses a field name of only whitespace
)
claim_values = st.lists(pieces, min_size=1, max_size=4).map("".join)


def claim_records(key: str, value: str) -> dict[str, dict]:
    """Records whose claims hold exactly the key with the value, and near misses of each."""
    variants = {
        "the claim": {key: value},
        "another value": {key: value + "§"},
        "another key": {key + "§": value},
        "the key inside another": {"§" + key: value},
        "no claims": {},
    }
    out = {}
    for name, claims in variants.items():
        record = merge(BASE, {"identity": {"claims": None}})
        record["identity"]["claims"] = claims
        out[name] = record
    return out


@given(key=claim_keys, value=claim_values)
@settings(max_examples=FEW)
@example(key="1abc", value="v")  # EQL: `a.1abc` does not parse, nor does `a.b@c`: backquoted now
@example(key="a@b", value="v")
@example(key="or", value="v")  # EQL: a keyword cannot be a bare name part
@example(key="where", value="v")
@example(key="true", value="v")  # Kusto: `Claims_d.true` is a boolean literal after a dot: bracketed
@example(key="FALSE", value="v")
@example(key="x`y", value="v")  # EQL doubles a backtick in a quoted name (Elasticsearch's grammar)
@example(key="x or not y", value="v")  # Kibana: read as `x or not y` before the field was quoted
@example(key="a*b", value="v")  # Kibana: an unquoted * in a field name is a field pattern
@example(key='a\\"b.c', value="v")
@example(key="name", value="v")  # Elastic moves this claim to claims_initiated_by_user.fullname
def test_claim_key(key: str, value: str, kusto: KustoAnalyzer, workspace: Workspace) -> None:
    field = f"identity.claims.{key}"
    detection = {"selection": {field: sigma_literal(value)}, "condition": "selection"}
    records = claim_records(key, value)
    oracle = Oracle(detection)
    expected = {name: oracle.matches(record) for name, record in records.items()}
    assert expected == {name: name == "the claim" for name in records}  # the near misses are misses
    source = rule_source(detection)
    queries = {name: target.render(source).text for name, target in TARGETS.items()}

    kql = queries["kibana-kql"].rstrip("\n")
    parse_kibana_kql(kql)
    kibana = KqlQuery(kql, elastic_ingest.TYPES)
    assert {n: kibana.matches(elastic_ingest.to_ecs(r)) for n, r in records.items()} == expected

    parse_eql(queries["eql"])
    eql = EqlQuery(queries["eql"])
    assert {n: eql.matches(elastic_ingest.to_ecs(r)) for n, r in records.items()} == expected

    sentinel = queries["sentinel-kql"]
    assert kusto.errors(sentinel) == []
    workspace.load([sentinel_ingest.to_row(r | {"correlationId": n}, EVENT_TIME) for n, r in records.items()])
    matched = {row["CorrelationId"] for row in workspace.run(sentinel, NOW)}
    assert {n: n in matched for n in records} == expected


@pytest.mark.parametrize("char", [*"\x00\x01\t\n\r\x0b\x0c\x1b\x1f\x7f\x85\x9f\u2028\u2029"])
@pytest.mark.parametrize("where", ["detection", "fields", "first_seen"])
def test_claim_key_with_a_control_character_is_refused(tmp_path: Path, char: str, where: str) -> None:
    """The rule schema refuses control characters and line breaks in field names, wherever they are."""
    field = f"identity.claims.a{char}b"
    rule = {
        "title": "control character in a field name",
        "id": "0c7e5a8f-2d4b-4c1e-9f3a-6b8d0e2f4a61",
        "logsource": {"product": "azure", "service": "activitylogs"},
        "detection": {"selection": {"operationName": "x"}, "condition": "selection"},
    }
    if where == "detection":
        rule["detection"]["selection"][field] = "v"
    elif where == "fields":
        rule["fields"] = [field]
    else:
        rule["first_seen"] = {"fields": [field], "history": "7d"}
    path = tmp_path / "rule.yml"
    path.write_text(yaml.safe_dump(rule, allow_unicode=False), encoding="utf-8")
    with pytest.raises(RuleError) as refused:
        load_rule(path, tmp_path)
    assert "control characters" in refused.value.reason


# -- 3. Metadata: titles, descriptions and the other strings of the rule files --------------------

RULE = Path("rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.yml")
STATEMENT = "let AzureActivity = AzureActivity | where false;"
HOSTILE = [
    *["\n", "\r", "\r\n", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\t", " "],
    *[STATEMENT, "*/", "/*", "//", '"', "'", "\\", "`", "|", "#", "%", "@", "---", "..."],
    *["[subscription().subscriptionId]", "[[x]", "[x", "x]", "[", "]", "[]", "{{FirstSeen}}", "{{", "}}"],
    *["{", "}", "</script>", "<script>alert(1)</script>", "a: b", "- x", "&a", "*a", "!!python/object"],
    *["? x", "{{AuthorizationEvidencePrincipalId}}", "é", "中", "😀", "\u00a0", "\ufeff"],
]
texts = st.lists(
    st.one_of(
        st.sampled_from(HOSTILE),
        st.text(alphabet="abcXYZ019 ", min_size=1, max_size=6),
        st.sampled_from(["x" * 60, "long " * 30]),  # toward the limits (title: pySigma's 256)
    ),
    min_size=1,
    max_size=8,
).map("".join)
# pySigma refuses a title over 256 characters. A title of whitespace only (JavaScript's or Python's) is
# left out: it names nothing, Kibana's NonEmptyString (which trims) refuses it as a rule name, and the
# place to refuse it is the rule schema (translator/data/sigma_rule.schema.json), not the rule files.
titles = texts.filter(lambda t: len(t) <= 256 and any(not c.isspace() and c not in JS_WHITESPACE for c in t))
metadata = st.fixed_dictionaries(
    {
        "title": titles,
        "description": st.none() | texts,
        "author": st.none() | texts,
        "references": st.lists(texts, max_size=3),
        "falsepositives": st.lists(texts, max_size=3),
        "tags": st.lists(texts.map(lambda t: "custom." + t), max_size=2),  # free text: in no rule file
        "investigation_guide": st.none() | texts.filter(str.strip),  # the loader refuses a blank guide
    }
)
PLAIN = {
    "title": "Plain title",
    "description": "Plain description.",
    "author": "Plain author",
    "references": [],
    "falsepositives": [],
    "tags": [],
    "investigation_guide": None,
}
KIBANA_TEXT = {"name", "description", "author", "references", "false_positives", "note"}
SENTINEL_TEXT = {"name", "description", "query", "alertDetailsOverride"}
ARM_TEXT = {"displayName", "description", "query", "alertDetailsOverride"}


@pytest.fixture(scope="module")
def serial_console(root: Path) -> tuple[dict, RuleSource]:
    """The Serial Console rule as a mapping and as the loader reads it (first seen, ATT&CK, guide)."""
    rules = root / "sigma"
    data = yaml.safe_load((rules / RULE).read_text(encoding="utf-8"))
    return data, load_rule(rules / RULE, rules)


def rule_files(serial_console: tuple[dict, RuleSource], meta: dict[str, Any]) -> dict[str, Any]:
    """The Serial Console rule with `meta` in place of its metadata: its queries and rule files."""
    data, loaded = serial_console
    data = {k: v for k, v in data.items() if k not in meta} | {
        k: v for k, v in meta.items() if v is not None and k not in ("tags", "investigation_guide")
    }
    data["tags"] = [*serial_console[0]["tags"], *meta["tags"]]  # the rule's ATT&CK tags, then free text
    rule = SigmaRule.from_dict(data)
    # The threat mapping reads `attack.*` tags only: the free-text tags leave it as loaded.
    source = dataclasses.replace(loaded, rule=rule, guide=guide_from_attribute(meta["investigation_guide"]))
    queries = {name: target.render(source) for name, target in TARGETS.items()}
    files = {f.kind: f.content.decode() for p in PACKAGES for f in p.make(source, queries)}
    return {"query": queries["sentinel-kql"].text} | files


@pytest.fixture(scope="module")
def plain(serial_console: tuple[dict, RuleSource]) -> dict[str, Any]:
    files = rule_files(serial_console, PLAIN)
    return {
        "query": files["query"],
        "kibana": [json.loads(line) for line in files["kibana-rule"][:-1].split("\n")],
        "template": yaml.safe_load(files["sentinel-rule-yaml"]),
        "arm": json.loads(files["sentinel-arm"]),
    }


def without(mapping: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def arm_string(text: str) -> str:
    """What an ARM template must hold for `text`: ARM evaluates a string that starts with "[" and ends
    with "]" as an expression unless it starts with "[[", and then drops one "[" (ARM's ExpressionParser)."""
    return "[" + text if text.startswith("[") and text.endswith("]") else text


def placeholders(override: dict[str, str]) -> dict[str, list[str]]:
    return {k: sentinel_checks.PLACEHOLDER.findall(v) for k, v in override.items()}


@given(meta=metadata)
@settings(max_examples=FEW)
@example(meta=PLAIN | {"title": "[subscription().subscriptionId]", "description": "[[x]"})
@example(meta=PLAIN | {"title": "[x", "description": "x]", "author": "[concat('a', 'b')]"})
@example(meta=PLAIN | {"title": f"Benign\r{STATEMENT}", "description": f"*/\u2028{STATEMENT}"})
@example(meta=PLAIN | {"title": "a\x85b\u2029c\x0bd\x0ce\r\nf"})
@example(meta=PLAIN | {"title": "{{FirstSeen}} {{EventCount}}", "description": "{{{FirstSeen}}}"})
@example(meta=PLAIN | {"title": "x" * 256})  # the alert name format: title + placeholders
@example(meta=PLAIN | {"description": " \n\t"})  # a blank description: the title stands in
@example(meta=PLAIN | {"references": ["- x", "&a", "*a"], "falsepositives": ["!!python/object", "a: b"]})
@example(meta=PLAIN | {"tags": ["custom.a b\nc: [x]"], "investigation_guide": "</script>\u2028# x"})
def test_metadata(
    meta: dict[str, Any],
    serial_console: tuple[dict, RuleSource],
    plain: dict[str, Any],
    kusto: KustoAnalyzer,
) -> None:
    files = rule_files(serial_console, meta)
    title, author, guide = meta["title"], meta["author"], meta["investigation_guide"]
    description = (meta["description"] or "").strip() or title.strip()  # trimmed; the title if blank

    # The Sentinel query: clean, and the same text as the plain rule's below its two comment lines,
    # the first of which stays one line whatever the title holds.
    query = files["query"]
    errors, columns = kusto.analysis(query)
    assert errors == []
    header, body = query.split("\n", 2)[:2], query.split("\n", 2)[2]
    assert body == plain["query"].split("\n", 2)[2]
    assert header[0].startswith("// ") and len(header[0].splitlines()) == 1
    assert header[1] == plain["query"].split("\n")[1]

    # Kibana: one rule per "\n"-separated line (as Kibana's import splits), each string as given.
    ndjson = files["kibana-rule"]
    assert ndjson.endswith("\n")
    kibana = [json.loads(line) for line in ndjson[:-1].split("\n")]
    assert len(kibana) == 2
    for rule, plain_rule, name in zip(kibana, plain["kibana"], [title, f"{title} (EQL)"], strict=True):
        assert rule["name"] == name
        assert rule["description"] == description
        assert rule["author"] == ([author] if author else [])
        assert rule["references"] == meta["references"]
        assert rule["false_positives"] == meta["falsepositives"]
        assert rule["tags"] == plain_rule["tags"] + (["Resources: Investigation Guide"] if guide else [])
        assert without(rule, KIBANA_TEXT | {"tags"}) == without(plain_rule, KIBANA_TEXT | {"tags"})
        assert kibana_checks.check_rule(rule, attack_data()) == []
    assert kibana[0].get("note") == guide
    assert kibana[1]["note"] == (guide or "") + plain["kibana"][1]["note"]

    # Sentinel YAML: the same strings, the query artifact; the alert formats name the same columns.
    template = yaml.safe_load(files["sentinel-rule-yaml"])
    assert template["name"] == title
    assert template["description"] == description
    assert template["query"] == query
    assert without(template, SENTINEL_TEXT) == without(plain["template"], SENTINEL_TEXT)
    override = template["alertDetailsOverride"]
    assert placeholders(override) == placeholders(plain["template"]["alertDetailsOverride"])
    assert sentinel_checks.check_template(template, attack_data(), set(columns)) == []

    # ARM: the same strings, written so that ARM takes each as a literal.
    arm = json.loads(files["sentinel-arm"])
    properties = arm["resources"][0]["properties"]
    assert properties["displayName"] == arm_string(title)
    assert properties["description"] == arm_string(description)
    assert properties["query"] == query
    assert properties["alertDetailsOverride"] == {k: arm_string(v) for k, v in override.items()}
    plain_arm = plain["arm"]
    assert without(properties, ARM_TEXT) == without(plain_arm["resources"][0]["properties"], ARM_TEXT)
    assert arm["metadata"]["description"] == f"Microsoft Sentinel analytic rule: {title}"
    assert without(arm["metadata"], {"description"}) == without(plain_arm["metadata"], {"description"})
    assert sentinel_checks.check_arm(arm) == []
    assert sentinel_checks.disagreements(template, arm) == []
