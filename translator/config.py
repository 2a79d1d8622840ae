"""The detection team's settings: translator.toml, read strictly, turned into one immutable Config.

Why a file of its own: the team configures the compiler in its own repository, which holds rules, not
a Python project, so there is no pyproject.toml to extend (README, "Configuration"). A setting the file
does not give keeps its default, and the defaults are what the build does without a file, byte for
byte. Settings that the pipelines hold (the Kibana index per log source, the Sentinel watchlist, data
connectors and entities) become overrides of those pipeline variables, so the queries and the rule
files read them where they always did. Config holds only strings and tuples: it pickles into worker
processes and hashes as a cache key, and `fingerprint()` keys the build cache.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema

from translator.plain_data import copy_plain
from translator.rule_schema import compiled_schema

CONFIG_NAME = "translator.toml"
DEFAULT_RULE_ID_NAMESPACE = "9b7ef75d-126e-42bd-af41-33f6de015912"
TARGET_NAMES = ("kibana-kql", "eql", "sentinel-kql", "kibana-rules", "sentinel-rules")
MODELS = ("ecs", "sentinel")
DEFAULTS: dict[str, Any] = {
    "build": {"rules": "sigma", "output": "output", "targets": list(TARGET_NAMES)},
    "kibana": {"enabled": True, "tags": [], "rule_id_namespace": DEFAULT_RULE_ID_NAMESPACE},
    "sentinel": {
        "alert_grouping": {
            "enabled": False,
            "reopen_closed_incident": False,
            "lookback": "PT5H",
            "matching_method": "AllEntities",
            "group_by_entities": [],
            "group_by_alert_details": [],
            "group_by_custom_details": [],
        }
    },
    "pipelines": {model: [] for model in MODELS},
}
# Settings held as pipeline variables: (section, name) -> (storage model, variable).
PIPELINE_SETTINGS = {
    ("kibana", "index"): ("ecs", "index"),
    ("sentinel", "data_connectors"): ("sentinel", "data_connectors"),
    ("sentinel", "entities"): ("sentinel", "entities"),
}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TYPES = {bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "an array"}
_TYPES[dict] = "a table"
_SCHEMA_TYPES = {
    "boolean": bool,
    "string": str,
    "integer": int,
    "number": float,
    "array": list,
    "object": dict,
}
_PATTERNS = {
    r"\S": "must not be blank",
    "^[A-Za-z_][A-Za-z0-9_]{0,63}$": "must be a watchlist alias: letters, digits and _, at most 64",
    "^[A-Za-z_][A-Za-z0-9_]*$": "must be a column name: letters, digits and _",
    "^P(T[1-9][0-9]*[HM]|[1-7]D)$": "must be an ISO 8601 duration of at most 7 days (PT30M, PT5H, P1D)",
}
_REASONS = {
    "minItems": "must not be empty",
    "minProperties": "must not be empty",
    "uniqueItems": "must not repeat a value",
}


class ConfigError(Exception):
    """A configuration the build cannot use; one line naming the file and the setting."""


@dataclass(frozen=True)
class ExtraPipeline:
    """A team pipeline, applied after ours; its text is kept so a build reads what was hashed."""

    model: str
    path: str
    sha256: str
    text: str


def _canonical(value: Any, sort_keys: bool = True) -> str:
    """JSON text that is the same for the same value; `sort_keys=False` where the order means something
    (the order of a pipeline variable's keys is the order of columns in a query)."""
    return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)


@cache
def _decoded(text: str) -> Any:
    return json.loads(text)


@dataclass(frozen=True)
class Config:
    """The effective settings of a build. Immutable, picklable and hashable: strings and tuples only."""

    settings: str = _canonical(DEFAULTS)  # canonical JSON of DEFAULTS' shape, with the file's values
    overrides: str = "{}"  # JSON in the file's order: our pipeline file's name -> variable -> value
    pipelines: tuple[ExtraPipeline, ...] = ()
    file: str | None = None
    origins: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # setting -> where it was set

    def get(self, section: str, name: str) -> Any:
        """One setting's value (a copy of a list or table: the Config cannot be changed through it)."""
        return copy_plain(_decoded(self.settings)[section][name])  # decoded JSON: plain data

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(_decoded(self.settings)["build"]["targets"])  # strings: nothing to copy

    def var_overrides(self, pipeline: str) -> dict[str, Any]:
        """The variables the configuration sets in one of our pipeline files (by its name)."""
        return copy.deepcopy(_decoded(self.overrides).get(pipeline, {}))

    def extra_pipelines(self, model: str) -> tuple[ExtraPipeline, ...]:
        return tuple(p for p in self.pipelines if p.model == model)

    def fingerprint(self) -> str:
        """A digest of everything a compiled rule depends on here: the settings and each extra
        pipeline's bytes (by their sha256), so the build cache never serves another configuration's
        artifacts. The rules and output folders are left out: where the library lies is in each rule's
        own key, and where the artifacts go does not change them."""
        extra = [[p.model, p.path, p.sha256] for p in self.pipelines]
        settings = _decoded(self.settings)
        build = {k: v for k, v in settings["build"].items() if k not in ("rules", "output")}
        data = [_canonical(settings | {"build": build}), self.overrides, extra]
        return hashlib.sha256(_canonical(data).encode()).hexdigest()

    def with_build(self, origin: str, **values: Any) -> Config:
        """The same configuration with build settings given elsewhere (the command line's flags)."""
        settings = _decoded(self.settings) | {"build": _decoded(self.settings)["build"] | values}
        origins = dict(self.origins) | {f"build.{k}": origin for k in values}
        return replace(self, settings=_canonical(settings), origins=tuple(origins.items()))

    def origin(self, key: str) -> str | None:
        return dict(self.origins).get(key)


DEFAULT = Config()


def key_path(parts: list[str | int]) -> str:
    """`kibana.index."azure/activitylogs"`, `pipelines.ecs[0]`: a setting as the TOML file names it."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            out += f".{name}" if out else name
    return out


def load_config(path: Path | None, directory: Path = Path()) -> Config:
    """The configuration at `path`, else `translator.toml` in `directory` if there is one, else DEFAULT.

    Raises ConfigError naming the file and the setting: a missing or unreadable file, invalid TOML, an
    unknown setting, a wrong type, an unknown log source or pipeline variable, a missing pipeline file.
    """
    if path is None:
        path = directory / CONFIG_NAME
        if not path.exists():
            return DEFAULT
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the configuration: {e}") from None
    try:
        _check_shape(data)
        return _Reader(path, data).config()
    except _SettingError as e:
        raise ConfigError(f"{path}: {key_path(e.where)}: {e.reason}") from None


class _SettingError(Exception):
    def __init__(self, where: list[str | int], reason: str) -> None:
        super().__init__(reason)
        self.where, self.reason = where, reason


def _check_shape(data: dict[str, Any]) -> None:
    """The schema (translator/data/config.schema.json), its failure in a sentence naming the key."""
    try:
        compiled_schema("config.schema.json")(data)
    except fastjsonschema.JsonSchemaValueException as e:
        where: list[str | int] = [int(p) if p.isdigit() else p for p in (e.path or [])[1:]]
        definition = e.definition or {}
        if e.rule == "additionalProperties":
            known = list(definition.get("properties", {}))
            unknown = next(k for k in e.value if k not in known)
            raise _SettingError(
                [*where, unknown], "unknown setting; the settings here are " + ", ".join(known)
            ) from None
        if e.rule == "type":
            wanted = _TYPES[_SCHEMA_TYPES[e.rule_definition]]
            reason = f"must be {wanted}, not {_TYPES.get(type(e.value), type(e.value).__name__)}"
        elif e.rule == "enum":
            reason = "must be one of " + ", ".join(map(str, e.rule_definition))
        elif e.rule == "required":
            reason = "must have " + ", ".join(n for n in e.rule_definition if n not in e.value)
        elif e.rule == "pattern" and e.rule_definition in _PATTERNS:
            reason = _PATTERNS[e.rule_definition]
        elif e.rule == "pattern":
            reason = "must be a UUID in lower case"
        else:
            reason = _REASONS.get(e.rule or "", e.message.split(" ", 1)[1])
        raise _SettingError(where, reason) from None


class _Reader:
    """Turns a file's settings, already of the right shape, into a Config (checking what the schema
    cannot: log sources, pipeline variables, files)."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data, self.base = path, data, path.parent
        self.overrides: dict[str, dict[str, Any]] = {}

    def config(self) -> Config:
        from translator import pipelines  # here: a build without a configuration file never loads pySigma

        settings = copy.deepcopy(DEFAULTS)
        for section in ("build", "kibana", "pipelines"):
            settings[section] |= self.data.get(section, {})
        settings["sentinel"]["alert_grouping"] |= self.data.get("sentinel", {}).get("alert_grouping", {})
        for name in ("rules", "output"):
            if name in self.data.get("build", {}):
                settings["build"][name] = str(self.base / self.data["build"][name])
        rules = Path(settings["build"]["rules"])
        if "rules" in self.data.get("build", {}) and not rules.is_dir():
            raise _SettingError(["build", "rules"], f"no folder {rules}")
        settings["kibana"].pop("index", None)
        for (file, var), value in _pairs(self.data.get("pipeline_vars", {})):
            self._set_var(file, var, value, ["pipeline_vars", file, var])
        for (section, name), (model, var) in PIPELINE_SETTINGS.items():
            for logsource, value in self.data.get(section, {}).get(name, {}).items():
                holder = _holder(model, logsource, var, [section, name, logsource])
                self._set_var(holder, var, value, [section, name, logsource])
        self._watchlist(self.data.get("sentinel", {}).get("watchlist", {}))
        extra = tuple(
            self._pipeline(model, name, ["pipelines", model, i], pipelines)
            for model in MODELS
            for i, name in enumerate(settings["pipelines"][model])
        )
        settings["pipelines"] = {m: [p.path for p in extra if p.model == m] for m in MODELS}
        origins = tuple((key_path(where), f"{self.path}:{key_path(where)}") for where in _leaves(self.data))
        overrides = _canonical(self.overrides, sort_keys=False)
        return Config(_canonical(settings), overrides, extra, str(self.path), origins)

    def _set_var(self, file: str, var: str, value: Any, where: list[str | int]) -> None:
        ours = own_vars()
        if file not in ours:
            raise _SettingError(where[:2], "not one of our pipelines; they are " + ", ".join(sorted(ours)))
        if var not in ours[file]:
            known = ", ".join(sorted(ours[file])) or "none"
            raise _SettingError(where, f"{file} has no variable {var}; its variables are {known}")
        expected = type(ours[file][var])
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            reason = f"must be {_TYPES.get(expected, expected.__name__)}, as in pipelines/{file}"
            raise _SettingError(where, reason)
        self.overrides.setdefault(file, {})[var] = value

    def _watchlist(self, settings: dict[str, Any]) -> None:
        """The watchlist settings change every watchlist lookup of the Sentinel pipelines."""
        if not settings:
            return
        for file in _files_with("sentinel", "lookups"):
            lookups = self.overrides.get(file, {}).get("lookups", own_vars()[file]["lookups"])
            lookups = copy.deepcopy(lookups)
            for lookup in lookups:
                if "alias" in settings:
                    lookup["watchlist"] = settings["alias"]
                if "range_column" in settings:
                    lookup["range_column"] = settings["range_column"]
                for column, source in settings.get("columns", {}).items():
                    if column not in lookup["columns"]:
                        known = ", ".join(lookup["columns"])
                        where = ["sentinel", "watchlist", "columns", column]
                        raise _SettingError(where, f"the lookup adds no column {column}; it adds {known}")
                    lookup["columns"][column]["from"] = source
            self.overrides.setdefault(file, {})["lookups"] = lookups

    def _pipeline(self, model: str, name: str, where: list[str | int], pipelines: Any) -> ExtraPipeline:
        path = self.base / name
        try:
            content = path.read_bytes()
            text = content.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise _SettingError(where, f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
        try:
            pipelines.parse_pipeline(text, str(path))
        except pipelines.PipelineError as e:
            raise _SettingError(where, " ".join(str(e).split())) from None
        return ExtraPipeline(model, str(path), hashlib.sha256(content).hexdigest(), text)


def _pairs(table: dict[str, dict[str, Any]]) -> Iterator[tuple[tuple[str, str], Any]]:
    return (((file, var), value) for file, variables in table.items() for var, value in variables.items())


def _leaves(data: dict[str, Any], where: tuple[str, ...] = ()) -> Iterator[list[str | int]]:
    """The settings a file gives: tables are walked down, except a pipeline variable's value."""
    for key, value in data.items():
        if isinstance(value, dict) and not (len(where) == 2 and where[0] == "pipeline_vars"):
            yield from _leaves(value, (*where, key))
        else:
            yield [*where, key]


@cache
def own_vars() -> dict[str, dict[str, Any]]:
    """Each of our pipeline files (by name) and its variables."""
    from translator import pipelines

    names = {name for source in pipelines.logsources() for model in MODELS for name in source.get(model, [])}
    return {name: pipelines.definition_vars(name) for name in sorted(names)}


def _files_with(model: str, var: str) -> list[str]:
    from translator import pipelines

    names = dict.fromkeys(n for source in pipelines.logsources() for n in source.get(model, []))
    return [n for n in names if var in own_vars()[n]]


def _holder(model: str, logsource: str, var: str, where: list[str | int]) -> str:
    """The pipeline file that holds `var` for a log source's `model`: the last of its files that does."""
    from translator import pipelines

    known = {str(s): s for s in pipelines.supported(model)}
    if logsource not in known:
        raise _SettingError(where, "not a log source with pipelines; they are " + ", ".join(known))
    files = [p.name for p in pipelines.pipeline_files(model, known[logsource].sigma)]
    return [name for name in files if var in own_vars()[name]][-1]


def effective(config: Config) -> list[tuple[str, Any, str]]:
    """Every setting of `config`: its key, its value and where the value comes from (`default`, the
    pipeline file whose variable holds it, `<file>:<key>`, or `command line`)."""
    from translator import pipelines

    settings = _decoded(config.settings)
    rows: list[tuple[str, Any, str]] = []

    def add(
        parts: list[str | int], value: Any, default: str = "default", var: tuple[str, str] | None = None
    ) -> None:
        key = key_path(parts)
        from_var = config.origin(key_path(["pipeline_vars", *var])) if var else None
        rows.append((key, value, config.origin(key) or from_var or default))

    def var(file: str, name: str) -> Any:
        return config.var_overrides(file).get(name, own_vars()[file][name])

    for name, value in settings["build"].items():
        add(["build", name], value)

    def per_logsource(section: str, name: str) -> None:
        model, variable = PIPELINE_SETTINGS[(section, name)]
        for logsource in map(str, pipelines.supported(model)):
            file = _holder(model, logsource, variable, [section, name, logsource])
            add(
                [section, name, logsource],
                var(file, variable),
                f"default (pipelines/{file})",
                (file, variable),
            )

    for name, value in settings["kibana"].items():
        add(["kibana", name], value)
    per_logsource("kibana", "index")
    for file in _files_with("sentinel", "lookups")[:1]:  # the watchlist settings set every lookup alike
        lookup, default, at = var(file, "lookups")[0], f"default (pipelines/{file})", (file, "lookups")
        add(["sentinel", "watchlist", "alias"], lookup["watchlist"], default, at)
        add(["sentinel", "watchlist", "range_column"], lookup["range_column"], default, at)
        for column, spec in lookup["columns"].items():
            add(["sentinel", "watchlist", "columns", column], spec["from"], default, at)
    per_logsource("sentinel", "data_connectors")
    per_logsource("sentinel", "entities")
    for name, value in settings["sentinel"]["alert_grouping"].items():
        add(["sentinel", "alert_grouping", name], value)
    for model, names in settings["pipelines"].items():
        add(["pipelines", model], names)
    for file, variables in sorted(_decoded(config.overrides).items()):
        for name in sorted(variables):
            key = ["pipeline_vars", file, name]
            if config.origin(key_path(key)):
                add(key, variables[name])
    return rows
