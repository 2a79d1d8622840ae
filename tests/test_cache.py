"""The build cache and the worker processes: never a stale or forged artifact, never a different byte.

Each test compares against a build without cache in one process, the reference: whatever the cache holds
and however many workers run, `translator build` must write exactly what that build writes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import pytest

from translator import cache as cache_module
from translator import cache_packs, noop
from translator.build import compile_rules, read_library
from translator.cache import Cache, fingerprint, rule_key
from translator.results import RuleResult

ROOT = Path(__file__).resolve().parent.parent
SERIAL = ROOT / "sigma/rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.yml"
OWN_RULES = ROOT / "sigma/rules/azure"


def library(folder: Path, copies: int = 12, reverse: bool = False) -> Path:
    """A rules folder of the project's own rules plus `copies` variants of the Serial Console rule
    (new ids, titles and values), written in forward or reverse order (the directory order differs)."""
    rules = folder / "sigma"
    text = SERIAL.read_text()
    files = [(p.relative_to(ROOT / "sigma"), p.read_text()) for p in sorted(OWN_RULES.rglob("*.yml"))]
    for i in range(copies):
        variant = text.replace("d2d742ac-7b18-45b7-8c33-702e23e368f2", f"00000000-0000-4000-8000-{i:012d}")
        variant = variant.replace("Serial Console Connection", f"Serial Console Connection {i}")
        variant = variant.replace(
            "MICROSOFT.SERIALCONSOLE/SERIALPORTS/CONNECT/ACTION", f"MICROSOFT.OP{i}/ACTION"
        )
        files.append((Path(f"rules/variants/variant_{i:03d}.yml"), variant))
    for rel, content in reversed(files) if reverse else files:
        (rules / rel).parent.mkdir(parents=True, exist_ok=True)
        (rules / rel).write_text(content)
    return rules


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run(rules: Path, output: Path, *options: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "translator", "build", "--rules", str(rules), "--output", str(output)]
    return subprocess.run([*cmd, *options], capture_output=True, text=True, cwd=cwd or rules.parent)


def summary(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)


@pytest.fixture()
def rules(tmp_path: Path) -> Path:
    return library(tmp_path / "lib")


@pytest.fixture()
def reference(rules: Path, tmp_path: Path) -> dict[str, bytes]:
    """What one process without a cache writes for `rules`."""
    result = run(rules, tmp_path / "reference", "--no-cache", "--workers", "1")
    assert result.returncode in (0, 3), result.stderr
    return tree(tmp_path / "reference")


def test_workers_cache_and_file_order_give_the_same_bytes(
    rules: Path, reference: dict[str, bytes], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cold = summary(
        run(rules, tmp_path / "a", "--workers", "2", "--cache-dir", str(cache), "--format", "json")
    )
    assert cold["workers"] == 2 and cold["cache"]["hits"] == 0
    assert tree(tmp_path / "a") == reference
    warm = summary(
        run(rules, tmp_path / "b", "--workers", "2", "--cache-dir", str(cache), "--format", "json")
    )
    assert warm["cache"] == {**cold["cache"], "hits": warm["rules"], "compiled": 0}
    assert tree(tmp_path / "b") == reference
    reversed_rules = library(tmp_path / "reversed", reverse=True)
    run(reversed_rules, tmp_path / "c", "--workers", "2", "--no-cache")
    assert tree(tmp_path / "c") == reference


def test_no_cache_writes_no_cache(rules: Path, tmp_path: Path) -> None:
    run(rules, tmp_path / "out", "--no-cache", "--cache-dir", str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()


def test_editing_one_rule_recompiles_that_rule_only(rules: Path, tmp_path: Path) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache"), "--format", "json"]
    summary(run(rules, tmp_path / "out", *cache))
    edited = rules / "rules/variants/variant_003.yml"
    edited.write_text(edited.read_text().replace("level: medium", "level: high"))
    after = summary(run(rules, tmp_path / "out", *cache))
    assert after["cache"]["compiled"] == 1 and after["status"] == "built"
    run(rules, tmp_path / "fresh", "--no-cache")
    assert tree(tmp_path / "out") == tree(tmp_path / "fresh")


def test_a_folder_that_is_not_ours_is_refused_while_changed_rules_compile(
    rules: Path, tmp_path: Path
) -> None:
    """With most rules cached, the output check runs while the edited rule compiles in a worker: a folder
    the build did not write is still refused, and left as it was, as before a cold compile."""
    cache = ["--cache-dir", str(tmp_path / "cache"), "--format", "json"]
    summary(run(rules, tmp_path / "out", *cache))
    edited = rules / "rules/variants/variant_005.yml"
    edited.write_text(edited.read_text().replace("level: medium", "level: high"))
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("not the translator's")
    refused = run(rules, theirs, *cache)
    assert refused.returncode == 1 and "notes.txt" in refused.stderr, refused.stderr
    assert tree(theirs) == {"notes.txt": b"not the translator's"}


def test_a_rebuild_with_no_change_touches_nothing(rules: Path, tmp_path: Path) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    run(rules, tmp_path / "out", *cache)
    before = {p: p.stat() for p in (tmp_path / "out").rglob("*")}
    again = summary(run(rules, tmp_path / "out", *cache, "--format", "json"))
    assert again["status"] == "unchanged"
    after = {p: p.stat() for p in (tmp_path / "out").rglob("*")}
    assert {p: (s.st_ino, s.st_mtime_ns) for p, s in after.items()} == {
        p: (s.st_ino, s.st_mtime_ns) for p, s in before.items()
    }


def rule_entries(folder: Path) -> tuple[Cache, str, dict[str, tuple[str, int, int]]]:
    """The cache of a build of `library` (one rules folder, one index) and that index."""
    cache = Cache(folder)
    (index,) = (folder / cache_module.FORMAT / cache_module.INDEX).iterdir()
    cache.load_index(index.name)
    return cache, index.name, cache.index


def pack_entry(folder: Path, needle: bytes) -> tuple[str, tuple[str, int, int]]:
    """The rule key and location of the one entry whose bytes hold `needle`."""
    cache, _, index = rule_entries(folder)
    packs = folder / cache_module.FORMAT / cache_module.PACKS
    found = [(k, w) for k, w in index.items() if needle in (packs / w[0]).read_bytes()[w[1] : w[1] + w[2]]]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize(
    "damage",
    ["edited content", "truncated pack", "other cache's secret", "swapped locations", "forged index"],
)
def test_a_damaged_or_foreign_entry_is_never_trusted(rules: Path, tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "cache"
    args = ["--cache-dir", str(folder), "--format", "json"]
    first = summary(run(rules, tmp_path / "out", *args))
    shutil.rmtree(folder / cache_module.FORMAT / noop.KIND)  # so that the next build reads every rule's entry
    packs = folder / cache_module.FORMAT / cache_module.PACKS
    key, (name, offset, length) = pack_entry(folder, b"MICROSOFT.OP3/ACTION")
    pack = packs / name
    cache, shelf, index = rule_entries(folder)
    if damage == "edited content":
        pack.write_bytes(pack.read_bytes().replace(b"MICROSOFT.OP3/ACTION", b"MICROSOFT.OP9/ACTION"))
        expected_compiled = 1
    elif damage == "truncated pack":  # as a build killed while writing it leaves it: this entry and later
        cut = offset + length - 100
        pack.write_bytes(pack.read_bytes()[:cut])
        expected_compiled = sum(1 for w in index.values() if w[0] == name and w[1] + w[2] > cut)
        assert expected_compiled >= 1
    elif damage == "other cache's secret":
        (folder / cache_module.FORMAT / "secret").write_text("0" * 64)
        expected_compiled = first["rules"]
    elif damage == "swapped locations":  # an index that is itself valid, naming another key's entry
        other = next(k for k in index if k != key)
        cache.index = {}
        cache.save_index(shelf, {**index, key: index[other], other: index[key]}, set(index))
        expected_compiled = 2
    else:  # an index edited without the secret: ignored whole
        (entry,) = (folder / cache_module.FORMAT / cache_module.INDEX).iterdir()
        original = entry.read_bytes()
        entry.write_bytes(
            original.replace(f'"{key}", ["{name}", '.encode(), f'"{key}", ["{"0" * 32}", '.encode())
        )
        assert entry.read_bytes() != original
        expected_compiled = first["rules"]
    after = summary(run(rules, tmp_path / "out", *args))
    assert after["cache"]["compiled"] == expected_compiled
    assert after["status"] == "unchanged"  # the recompiled rules give the bytes output/ already holds
    run(rules, tmp_path / "fresh", "--no-cache")
    assert tree(tmp_path / "out") == tree(tmp_path / "fresh")
    shutil.rmtree(folder / cache_module.FORMAT / noop.KIND)
    assert summary(run(rules, tmp_path / "out", *args))["cache"]["compiled"] == 0  # entries written again


def test_switching_back_to_a_branch_finds_its_rules(rules: Path, tmp_path: Path) -> None:
    """One index per rules folder keeps the previous build's other rules too: edit, build, undo, build."""
    args = ["--cache-dir", str(tmp_path / "cache"), "--format", "json"]
    summary(run(rules, tmp_path / "out", *args))
    edited = rules / "rules/variants/variant_007.yml"
    original = edited.read_text()
    edited.write_text(original.replace("level: medium", "level: high"))
    assert summary(run(rules, tmp_path / "out", *args))["cache"]["compiled"] == 1
    edited.write_text(original)
    back = summary(run(rules, tmp_path / "out", *args))
    assert back["cache"]["compiled"] == 0 and back["status"] == "built"
    run(rules, tmp_path / "fresh", "--no-cache")
    assert tree(tmp_path / "out") == tree(tmp_path / "fresh")


def test_a_rebuild_finds_nothing_to_do_only_when_output_holds_every_byte(rules: Path, tmp_path: Path) -> None:
    """The library summary (translator/noop.py) skips the build only over an intact output/."""
    args = ["--cache-dir", str(tmp_path / "cache"), "--format", "json"]
    first = summary(run(rules, tmp_path / "out", *args))
    assert summary(run(rules, tmp_path / "out", *args, "--check"))["status"] == "up to date"
    artifact = tmp_path / "out" / "eql" / "rules" / "variants" / "variant_001.eql"
    artifact.write_bytes(artifact.read_bytes().replace(b"OP1", b"OP2"))
    checked = run(rules, tmp_path / "out", *args, "--check")
    assert checked.returncode == 1 and json.loads(checked.stdout)["drift"] == [
        "differs: eql/rules/variants/variant_001.eql"
    ]
    repaired = summary(run(rules, tmp_path / "out", *args))
    assert repaired["status"] == "built" and repaired["cache"]["compiled"] == 0
    again = summary(run(rules, tmp_path / "out", *args))
    assert again["status"] == "unchanged" and again["workers"] == 0  # the summary, no rule entry read
    assert {k: v for k, v in again.items() if k not in ("seconds", "status", "workers")} == {
        k: v for k, v in first.items() if k not in ("seconds", "status", "workers")
    } | {"cache": {**first["cache"], "hits": first["rules"], "compiled": 0}}
    (summary_entry,) = (tmp_path / "cache" / cache_module.FORMAT / noop.KIND).iterdir()
    summary_entry.write_bytes(summary_entry.read_bytes().replace(b'"rules": ', b'"rules": 1'))
    forged = summary(run(rules, tmp_path / "out", *args))
    assert forged["rules"] == first["rules"] and forged["workers"] == 1  # ignored: every rule read again
    run(rules, tmp_path / "fresh", "--no-cache")
    assert tree(tmp_path / "out") == tree(tmp_path / "fresh")


def test_every_input_of_a_rule_changes_its_key(tmp_path: Path) -> None:
    rules = tmp_path / "sigma"
    path = rules / "a.yml"
    base = rule_key("compiler", "strict=False", path, rules, "title: x")
    assert rule_key("compiler", "strict=False", path, rules, "title: y") != base  # its text
    assert rule_key("compiler", "strict=True", path, rules, "title: x") != base  # the options
    assert rule_key("compiler", "strict=False", rules / "b.yml", rules, "title: x") != base  # where it is
    assert rule_key("compiler", "strict=False", tmp_path / "a.yml", tmp_path, "title: x") != base
    assert rule_key("compiler2", "strict=False", path, rules, "title: x") != base  # the compiler


def test_the_compiler_fingerprint_covers_code_pipelines_data_and_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, pipelines = tmp_path / "translator", tmp_path / "pipelines"
    shutil.copytree(cache_module.PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(cache_module.pipelines_dir(), pipelines)
    monkeypatch.setattr(cache_module, "PACKAGE_DIR", package)
    monkeypatch.setattr(cache_module, "pipelines_dir", lambda: pipelines)
    base = fingerprint()
    assert fingerprint() == base
    changed = []
    for path in (pipelines / "azure_activitylogs_to_ecs.yml", package / "data/attack_tactics.json"):
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        changed.append(fingerprint())
        path.write_bytes(original)
    (package / "backends" / "new_module.py").write_text("")
    changed.append(fingerprint())
    (package / "backends" / "new_module.py").unlink()
    version = cache_module.importlib.metadata.version
    monkeypatch.setattr(
        cache_module.importlib.metadata, "version", lambda name: "0" if name == "pysigma" else version(name)
    )
    changed.append(fingerprint())
    monkeypatch.undo()
    assert base not in changed and len(set(changed)) == len(changed)


def test_a_cache_that_cannot_be_written_only_costs_time(rules: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / cache_module.FORMAT).write_text("a file where the cache's own folder would be")
    result = run(rules, tmp_path / "out", "--cache-dir", str(folder))
    assert result.returncode in (0, 3), result.stderr
    run(rules, tmp_path / "fresh", "--no-cache")
    assert tree(tmp_path / "out") == tree(tmp_path / "fresh")


def test_two_builds_at_once_share_a_cache_safely(
    rules: Path, reference: dict[str, bytes], tmp_path: Path
) -> None:
    folder = str(tmp_path / "cache")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "translator",
                "build",
                "--rules",
                str(rules),
                "--output",
                str(tmp_path / o),
            ]
            + ["--cache-dir", folder, "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=rules.parent,  # where `run` builds: the same configuration, so the same keys
        )
        for o in ("one", "two")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 3), err
    assert tree(tmp_path / "one") == reference == tree(tmp_path / "two")
    shutil.rmtree(tmp_path / "cache" / cache_module.FORMAT / noop.KIND)  # the last index written must serve
    third = summary(run(rules, tmp_path / "three", "--cache-dir", folder, "--format", "json"))
    assert third["cache"]["compiled"] == 0 and tree(tmp_path / "three") == reference


def test_cache_entries_round_trip(rules: Path, tmp_path: Path) -> None:
    """What the cache gives back is what the compiler made: results, errors and refusals alike."""
    (rules / "rules" / "broken.yml").write_text("title: [unclosed\n")
    direct = compile_rules(rules)
    store = Cache(tmp_path / "cache")
    compile_rules(rules, cache=store)
    served = compile_rules(rules, cache=Cache(tmp_path / "cache"))
    assert served.cache_hits == len(list(rules.rglob("*.yml")))  # the broken rule's error is kept too
    assert served.files() == direct.files()
    assert [str(e) for e in served.errors] == [str(e) for e in direct.errors]
    assert served.notes == direct.notes
    assert [(r, str(e)) for r, e in served.refusals] == [(r, str(e)) for r, e in direct.refusals]


def test_rules_whose_pack_is_gone_compile_in_the_workers(rules: Path, tmp_path: Path) -> None:
    """An index naming a pack that was removed (cleaned up, deleted) is pruned when it is read: those
    rules are not counted as cached, and compile in the workers with the rest, not one by one after."""
    folder = tmp_path / "cache"
    direct = compile_rules(rules, workers=2)
    first = compile_rules(rules, cache=Cache(folder), workers=2)
    _, _, index = rule_entries(folder)
    packs = folder / cache_module.FORMAT / cache_module.PACKS
    gone = sorted({where[0] for where in index.values()})[0]
    (packs / gone).unlink()
    lost = sum(where[0] == gone for where in index.values())
    assert len(read_library(rules, cache=Cache(folder)).cached) == first.rules - lost and lost >= 1
    for pack in packs.iterdir():
        pack.unlink()
    after = compile_rules(rules, cache=Cache(folder), workers=2)
    assert after.cache_hits == 0 and after.workers == 2  # not the one process of entries failing on read
    assert after.files() == first.files() == direct.files()


@pytest.mark.parametrize(
    "entries",
    [
        [["a" * 64, ["../secret", 0, 10]]],  # a name that is a path
        [["a" * 64, ["0" * 32, -1, 10]]],
        [["a" * 64, ["0" * 32, True, 10]]],
        [["a" * 64, ["0" * 32, 0, cache_packs.MAX_ENTRY + 1]]],  # more than an entry can be
        [["a" * 64, ["0" * 32, 0, 10]], ["a" * 64, ["0" * 32, 10, 10]]],  # one key twice
        {"a" * 64: ["0" * 32, 0, 10]},
    ],
)
def test_an_index_of_the_wrong_shape_is_not_used_even_with_a_valid_hmac(
    tmp_path: Path, entries: object
) -> None:
    cache = Cache(tmp_path / "cache")
    (tmp_path / "cache" / cache_module.FORMAT / cache_module.PACKS).mkdir(parents=True)
    (tmp_path / "cache" / cache_module.FORMAT / cache_module.PACKS / ("0" * 32)).write_bytes(b"x" * 100)
    cache.put_data(cache_module.INDEX, "s" * 64, entries)
    assert cache.get_data(cache_module.INDEX, "s" * 64) == entries  # stored and signed
    cache.load_index("s" * 64)
    assert cache.index == {}


def test_a_fifo_or_link_where_a_cache_file_was_is_not_read(tmp_path: Path) -> None:
    """Opening a FIFO must not wait for a writer, and a link is not followed, even to a good copy: both
    are no entry (an alarm turns a hang into a failure)."""
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("a cache read waited"))
    signal.alarm(20)
    try:
        cache = Cache(tmp_path / "cache")
        where = cache.put("a" * 64, RuleResult(PurePosixPath("a.yml")).to_bytes())
        assert where is not None
        cache.put_data(cache_module.INDEX, "s" * 64, [["a" * 64, list(where)]])
        cache.close()
        pack = tmp_path / "cache" / cache_module.FORMAT / cache_module.PACKS / where[0]
        index = Path(cache._entry(cache_module.INDEX, "s" * 64))
        pack.rename(tmp_path / "pack")
        pack.symlink_to(tmp_path / "pack")  # the very bytes, behind a link
        cache.load_index("s" * 64)
        assert cache.index == {}  # not a regular file: pruned
        cache.index = {"a" * 64: where}
        assert cache.get("a" * 64) is None
        pack.unlink()
        os.mkfifo(pack)
        cache.close()
        assert cache.get("a" * 64) is None
        index.rename(tmp_path / "index")
        index.symlink_to(tmp_path / "index")
        assert cache.get_data(cache_module.INDEX, "s" * 64) is None
        index.unlink()
        os.mkfifo(index)
        assert cache.get_data(cache_module.INDEX, "s" * 64) is None
    finally:
        signal.alarm(0)


def test_writing_the_cache_fails_quietly_and_a_child_writes_anew(
    rules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry larger than any index may name is not written; a writer that failed in the parent writes
    in a forked child; the writer is closed after a build; a date that cannot be renewed is no miss."""
    cache = Cache(tmp_path / "cache")
    payload = RuleResult(PurePosixPath("a.yml")).to_bytes()
    monkeypatch.setattr(cache_module, "MAX_ENTRY", len(payload))
    assert cache.put("a" * 64, payload) is None  # with its HMAC, over the limit
    monkeypatch.undo()
    assert cache.put("z" * 64, payload) is not None
    cache._writer._broken = True  # as after a failed write here
    child = os.fork()
    if child == 0:
        os._exit(0 if cache.put("b" * 64, payload) is not None else 1)
    assert os.waitpid(child, 0)[1] == 0
    assert cache.put("c" * 64, payload) is None  # still broken here
    compile_rules(rules, cache=cache)
    assert cache._writer._fd == -1  # closed, and the next put starts a pack of its own
    cache.put_data(cache_module.INDEX, "s" * 64, ["kept"])
    entry = Path(cache._entry(cache_module.INDEX, "s" * 64))
    os.utime(entry, (time.time() - 3 * 86400,) * 2)
    monkeypatch.setattr(cache_module.os, "utime", lambda *_: (_ for _ in ()).throw(PermissionError()))
    assert cache.get_data(cache_module.INDEX, "s" * 64) == ["kept"]


def test_reading_an_entry_does_not_renew_its_pack(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    where = cache.put("a" * 64, RuleResult(PurePosixPath("a.yml")).to_bytes())
    cache.close()
    assert where is not None
    pack = tmp_path / "cache" / cache_module.FORMAT / cache_module.PACKS / where[0]
    then = time.time() - 3 * 86400
    os.utime(pack, (then, then))
    cache.index = {"a" * 64: where}
    assert cache.get("a" * 64) is not None and cache.moved == 0  # younger than MOVE_AFTER: not moved
    cache.close()
    assert abs(pack.stat().st_mtime - then) < 1


def test_the_index_keeps_other_rules_up_to_a_bound_and_none_of_this_library(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    somewhere = ("0" * 32, 0, 100)
    cache.index = {f"{i:064x}": somewhere for i in range(cache_module.MIN_OTHERS + 50)}
    library = {f"{0:064x}", f"{1:064x}", "b" * 64}  # two rules without an entry now, one with
    cache.save_index("s" * 64, {"b" * 64: somewhere}, library)
    saved = [k for k, _ in cache.get_data(cache_module.INDEX, "s" * 64)]
    assert saved[0] == "b" * 64 and len(saved) == 1 + cache_module.MIN_OTHERS
    assert f"{0:064x}" not in saved and f"{1:064x}" not in saved  # this library's: no stale location


def test_entries_in_use_move_out_of_old_packs_and_old_packs_go(rules: Path, tmp_path: Path) -> None:
    """Reads never renew a pack: an entry read from a pack last written over MOVE_AFTER ago is written
    again to a new pack, so the clean-up removes old packs whole while builds keep every rule they use."""
    folder = tmp_path / "cache"
    args = ["--cache-dir", str(folder), "--format", "json"]
    summary(run(rules, tmp_path / "out", *args))
    packs = folder / cache_module.FORMAT / cache_module.PACKS
    old = sorted(packs.iterdir())
    then = time.time() - cache_module.MOVE_AFTER - 86400
    for pack in old:
        os.utime(pack, (then, then))
    shutil.rmtree(folder / cache_module.FORMAT / noop.KIND)
    moved = summary(run(rules, tmp_path / "out", *args))
    assert moved["cache"]["compiled"] == 0 and moved["status"] == "unchanged"
    assert len(set(packs.iterdir()) - set(old)) == 1  # the copies, in this build's own pack
    long_ago = time.time() - (cache_module.UNUSED_DAYS + 1) * 86400
    for pack in old:
        os.utime(pack, (long_ago, long_ago))
    Cache(folder).clean()
    assert not any(p.exists() for p in old)
    shutil.rmtree(folder / cache_module.FORMAT / noop.KIND)
    assert summary(run(rules, tmp_path / "out", *args))["cache"]["compiled"] == 0


def test_a_reader_keeps_few_packs_open(tmp_path: Path) -> None:
    """A rebuild may read from many packs (one or more per earlier build): each is read, with at most
    MAX_OPEN of them open at once."""
    payload = RuleResult(PurePosixPath("a.yml")).to_bytes()
    index = {}
    for i in range(cache_packs.MAX_OPEN * 3):
        writer = Cache(tmp_path / "cache")  # a build each: a pack each
        index[f"{i:064x}"] = writer.put(f"{i:064x}", payload)
        writer.close()
    cache = Cache(tmp_path / "cache")
    cache.index = index  # type: ignore[assignment]
    for _ in range(2):
        for key in index:
            assert cache.get(key) is not None
            assert len(cache._reader._open) <= cache_packs.MAX_OPEN
    cache.close()


@pytest.mark.parametrize(
    "payload",
    [
        b'{"rel_path": "a.yml", "rule_id": null, "label": null, "artifacts": [["t", "k", "p", 5]], '
        b'"errors": [], "refusals": [], "notes": []}\nabc',  # shorter than its artifact says
        b'{"rel_path": "a.yml", "rule_id": null, "label": null, "artifacts": [["t", "k", "p", 1]], '
        b'"errors": [], "refusals": [], "notes": []}\nabc',  # bytes after the last artifact
        b'{"rel_path": "a.yml", "artifacts": []}\n',  # fields missing
        b"not json\n",
    ],
)
def test_an_entry_of_the_wrong_shape_is_not_used_even_with_a_valid_hmac(
    tmp_path: Path, payload: bytes
) -> None:
    cache = Cache(tmp_path / "cache")
    where = cache.put("k" * 64, payload)
    assert where is not None
    cache.index = {"k" * 64: where}
    assert cache.get("k" * 64) is None


def test_each_process_appends_to_a_pack_of_its_own(tmp_path: Path) -> None:
    """A worker forked after its parent wrote entries opens its own pack: the parent's bytes, and the
    locations it gave out, stay as they were. A torn entry (a killed build) fails its HMAC; the next
    build writes it whole to a pack of its own."""
    cache = Cache(tmp_path / "cache")
    packs = tmp_path / "cache" / cache_module.FORMAT / cache_module.PACKS
    payload = RuleResult(PurePosixPath("a.yml"), notes=["parent"]).to_bytes()
    first = cache.put("a" * 64, payload)
    assert first is not None
    child = os.fork()
    if child == 0:  # the child's exit code says how it went
        where = cache.put("b" * 64, RuleResult(PurePosixPath("b.yml"), notes=["child"]).to_bytes())
        os._exit(0 if where is not None and where[0] != first[0] and where[1] == 0 else 1)
    assert os.waitpid(child, 0)[1] == 0
    second = cache.put("c" * 64, payload)
    assert second is not None and second[:2] == (first[0], first[1] + first[2])  # after its own entry
    assert len(list(packs.iterdir())) == 2 and all(p.stat().st_mode & 0o777 == 0o600 for p in packs.iterdir())
    cache.index = {"a" * 64: first, "c" * 64: second}
    assert [cache.get(k).notes for k in cache.index] == [["parent"], ["parent"]]  # type: ignore[union-attr]
    cache.close()
    pack = packs / first[0]
    pack.write_bytes(pack.read_bytes()[: second[1] + 100])  # the second entry torn
    assert cache.get("a" * 64) is not None and cache.get("c" * 64) is None
    cache.close()
    later = Cache(tmp_path / "cache")  # the next build
    third = later.put("c" * 64, payload)
    assert third is not None and third[0] not in (first[0], second[0])
    later.index = {"c" * 64: third}
    assert later.get("c" * 64) is not None
    later.close()


def test_progress_and_summary_keep_logs_clean(rules: Path, tmp_path: Path) -> None:
    """Not on a terminal: no progress line; --quiet prints nothing on success; json is one document."""
    plain = run(rules, tmp_path / "out", "--no-cache")
    assert "\r" not in plain.stderr and "compiling rules" not in plain.stderr
    quiet = run(rules, tmp_path / "out", "--no-cache", "--quiet")
    assert quiet.returncode in (0, 3) and quiet.stdout == "" and quiet.stderr == ""
    data = summary(run(rules, tmp_path / "out", "--no-cache", "--format", "json"))
    refused = sum(t["refused"] for t in data["targets"].values())
    assert data["exit_code"] == (3 if refused else 0) and len(data["refused"]) == refused
    assert data["rules"] == len(list(rules.rglob("*.yml")))
    assert data["targets"]["kibana-kql"]["artifacts"] == data["rules"]
    assert set(data["seconds"]) == {"read", "compile", "write", "total"}


def test_the_default_cache_folder_is_the_users(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(cache_module.ENV_CACHE_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert cache_module.default_dir() == tmp_path / "translator"
    monkeypatch.setenv(cache_module.ENV_CACHE_DIR, str(tmp_path / "mine"))
    assert cache_module.default_dir() == tmp_path / "mine"


def test_clean_up_removes_only_entries_unused_for_a_month(tmp_path: Path) -> None:
    """Reading a file entry renews its mtime once it is a day old (not on every read: a rebuild would
    write an inode each time), so the clean-up keeps what builds read and removes what none read for 30
    days. Packs are never renewed by a read (test_entries_in_use_move_out_of_old_packs_and_old_packs_go):
    one not written for 30 days goes."""
    cache = Cache(tmp_path / "cache")
    day = 86400
    now = time.time()
    entries = {}
    for name, age in {"fresh": 3600, "old": 2 * day, "unused": (cache_module.UNUSED_DAYS + 1) * day}.items():
        key = name.encode().hex().ljust(64, "0")
        cache.put_data(cache_module.INDEX, key, {"name": name})
        entries[name] = Path(cache._entry(cache_module.INDEX, key))
        os.utime(entries[name], (now - age, now - age))
        if name != "unused":
            assert cache.get_data(cache_module.INDEX, key) == {"name": name}
    fresh, old, unused = entries.values()
    assert now - 3700 < fresh.stat().st_mtime < now - 3500  # read, but not rewritten
    assert old.stat().st_mtime >= now - 60  # read when a day old: renewed
    packs = {}
    for name, age in {
        "recent": (cache_module.UNUSED_DAYS - 1) * day,
        "unwritten": (cache_module.UNUSED_DAYS + 1) * day,
    }.items():
        writer = Cache(tmp_path / "cache")
        where = writer.put(name.encode().hex().ljust(64, "0"), RuleResult(PurePosixPath("a.yml")).to_bytes())
        writer.close()
        packs[name] = tmp_path / "cache" / cache_module.FORMAT / cache_module.PACKS / where[0]  # type: ignore[index]
        os.utime(packs[name], (now - age, now - age))
    cache.clean()
    assert fresh.exists() and old.exists() and not unused.exists()
    assert packs["recent"].exists() and not packs["unwritten"].exists()
