"""tanas.zoo.TaskZoo through its public API (in process).

Probes are tiny (one or two epochs on the 8x8 digits) so the whole file runs in
well under a minute on two cores; a module-scoped zoo is built once and copied
into each test that needs one.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sqlite3
from pathlib import Path

import pytest
import torch

from tanas.data import parse_task
from tanas.errors import ConfigError, TanasError
from tanas.fisher import diagonal_fisher
from tanas.probe import ProbeConfig, train_probe
from tanas.zoo import (
    SCHEMA_VERSION,
    TaskZoo,
    UnknownZooTaskError,
    ZooConflictError,
    ZooCorruptError,
    ZooError,
    ZooNotFoundError,
    ZooVersionError,
    config_hash,
    is_task_file,
    zoo_task_name,
)

TINY = ProbeConfig(name="cnn", max_epochs=2, epsilon=0.0)
GENOTYPE = ["conv_3x3", "skip_connect", "sep_conv_3x3", "none", "max_pool_3x3", "conv_1x1"]


@pytest.fixture(scope="module")
def base_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zoo with paper-digits/T0 and digits:indicator:1 (one seed each)."""
    path = tmp_path_factory.mktemp("base") / "zoo"
    with TaskZoo(path) as zoo:
        zoo.add("paper-digits/T0", probe=TINY, seeds=1, quiet=True)
        zoo.add("digits:indicator:1", probe=TINY, seeds=1, quiet=True)
    return path


@pytest.fixture
def zoo(base_zoo: Path, tmp_path: Path):
    path = tmp_path / "zoo"
    shutil.copytree(base_zoo, path)
    with TaskZoo(path) as opened:
        yield opened


def _objects(zoo: TaskZoo) -> list[Path]:
    return sorted(p for p in (zoo.path / "objects").rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- storage


def test_add_stores_content_addressed_artifacts(zoo: TaskZoo) -> None:
    entry = zoo.get("paper-digits/T0")
    assert entry.spec == "digits:indicator:0" and entry.seeds == [0]
    assert entry.probes[0].config_hash == config_hash(TINY)
    files = _objects(zoo)
    assert len(files) == 4  # 2 tasks x (probe + Fisher)
    for path in files:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.stem
        assert path.parent.name == path.stem[:2]
    assert set(entry.probes[0].fishers) == {"empirical"}


def test_stored_probe_and_fisher_match_a_fresh_computation(zoo: TaskZoo) -> None:
    task = parse_task("digits:indicator:0")[0]
    model, record = zoo.load_probe("paper-digits/T0", 0)
    reference, ref_record = train_probe(task, TINY, seed=0, quiet=True)  # deterministic on CPU
    assert record.epochs == ref_record.epochs and record.val_acc == pytest.approx(ref_record.val_acc)
    for (name, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(a, b.cpu()), name
    fisher = zoo.load_fisher("paper-digits/T0", 0, "empirical")
    x = task.normalise(task.splits["val"].x)
    expected = diagonal_fisher(reference, (x, task.splits["val"].y), "empirical", method="loop")
    assert fisher.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(fisher[name], expected[name], rtol=1e-4, atol=1e-9)


def test_adding_again_does_no_work(zoo: TaskZoo, monkeypatch: pytest.MonkeyPatch) -> None:
    import tanas.probe

    def no_training(*args, **kwargs):
        raise AssertionError("a stored probe was trained again")

    monkeypatch.setattr(tanas.probe, "train_probe", no_training)
    monkeypatch.setattr("tanas.fisher.diagonal_fisher", no_training)
    before = _objects(zoo)
    (result,) = zoo.add("paper-digits/T0", probe="cnn", seeds=1, quiet=True)
    assert (result.probes_trained, result.fishers_computed) == (0, 0)
    assert (result.probes_reused, result.fishers_reused) == (1, 1)
    assert _objects(zoo) == before
    # The same data under another name is the same zoo task: nothing new is listed.
    (again,) = zoo.add("digits:indicator:0", probe="cnn", seeds=1, quiet=True)
    assert again.name == "paper-digits/T0" and again.probes_trained == 0
    assert zoo.names() == ["digits:indicator:1", "paper-digits/T0"]


def test_more_seeds_trains_only_the_new_ones(zoo: TaskZoo) -> None:
    (result,) = zoo.add("digits:indicator:1", seeds=2, quiet=True)
    assert (result.probes_trained, result.probes_reused) == (1, 1)
    assert (result.fishers_computed, result.fishers_reused) == (1, 1)
    entry = zoo.get("digits:indicator:1")
    assert entry.seeds == [0, 1]
    assert entry.val_acc == pytest.approx(sum(p.val_acc for p in entry.probes) / 2)
    # "cnn" resolved to the zoo's stored (tiny) config, so comparisons stay consistent.
    assert {p.config_hash for p in entry.probes} == {config_hash(TINY)}


def test_suite_names_and_lookups(zoo: TaskZoo) -> None:
    entry = zoo.get("paper-digits/T0")
    assert zoo.get("digits:indicator:0").name == "paper-digits/T0"  # by spec
    assert zoo.get(entry.fingerprint[:10]).name == "paper-digits/T0"  # by fingerprint prefix
    assert "paper-digits/T0" in zoo and "paper-digits/T3" not in zoo
    with pytest.raises(UnknownZooTaskError, match=r"paper-digits/T3.*zoo tasks: digits:indicator:1, paper-digits/T0"):
        zoo.get("paper-digits/T3")
    # The origin rebuilds the same data: a suite member by its name, any other task by its spec.
    assert entry.origin == "paper-digits/T0" and zoo.get("digits:indicator:1").origin == "digits:indicator:1"
    assert zoo.load_task("paper-digits/T0").fingerprint() == entry.fingerprint


def test_task_names_from_cli_arguments() -> None:
    from types import SimpleNamespace

    member = SimpleNamespace(name="T2", spec="digits:multiclass:0,1,2,3")
    assert zoo_task_name("paper-digits", member) == "paper-digits/T2"
    assert zoo_task_name("paper-digits/T2", member) == "paper-digits/T2"
    named = SimpleNamespace(name="twos", spec="digits:indicator:2")
    assert zoo_task_name("tasks/mine.toml", named) == "mine/twos"
    assert zoo_task_name("digits:indicator:2", named) == "twos"
    single = SimpleNamespace(name="digits:indicator:2", spec="digits:indicator:2")
    assert zoo_task_name("mine.toml", single) == "digits:indicator:2"
    assert is_task_file("mine.toml") and is_task_file(" mine.toml ") and not is_task_file("digits:indicator:2")


def test_add_from_a_toml_file_names_the_task_by_the_file_and_rebuilds_from_it(zoo: TaskZoo, tmp_path: Path) -> None:
    file = tmp_path / "mine.toml"
    file.write_text('[[task]]\nname = "twos"\nspec = "digits:indicator:2"\n')
    (result,) = zoo.add(str(file), probe=TINY, quiet=True)
    assert result.name == "mine/twos" and result.entry.origin == str(file.resolve())
    assert zoo.load_task("mine/twos").fingerprint() == result.entry.fingerprint


def test_add_result_carries_the_added_task_outside_its_json(zoo: TaskZoo) -> None:
    (result,) = zoo.add("paper-digits/T0", quiet=True)
    assert result.task is not None and result.task.fingerprint() == result.entry.fingerprint
    assert "task" not in result.to_dict() and "task=" not in repr(result)
    json.dumps(result.to_dict())


def test_configs_stored_by_older_versions_keep_their_identity(zoo: TaskZoo) -> None:
    """A stored config that lacks a field this ProbeConfig has (with a default) stays the same config."""
    zoo.close()
    with sqlite3.connect(zoo.path / "zoo.sqlite") as db:
        db.execute("UPDATE probes SET config = json_remove(config, '$.min_steps')")
    with TaskZoo(zoo.path) as reopened:
        old_hash = reopened.get("paper-digits/T0").probes[0].config_hash
        (result,) = reopened.add("digits:subset:3,5", probe="cnn", quiet=True)
        assert result.entry.probes[0].config_hash == old_hash
        assert result.entry.probes[0].config["max_epochs"] == 2
        assert len(reopened.probe_configs()) == 1
    with sqlite3.connect(zoo.path / "zoo.sqlite") as db:
        db.execute("UPDATE probes SET config = json_set(config, '$.warp_drive', 1)")
    with TaskZoo(zoo.path) as newer, pytest.raises(ZooVersionError, match="warp_drive"):
        newer.add("digits:subset:3,5", probe="cnn", quiet=True)


def test_name_conflict_with_different_data(zoo: TaskZoo) -> None:
    other = parse_task("digits:indicator:0", seed=5)[0]  # same spec, other split: other data
    with pytest.raises(ZooConflictError, match="different data"):
        zoo.add_task(other, name="paper-digits/T0", probe=TINY, quiet=True)
    assert zoo.get("paper-digits/T0").data_seed == 0


def test_genotypes(zoo: TaskZoo) -> None:
    assert zoo.best_genotype("paper-digits/T0") is None
    zoo.put_genotype("paper-digits/T0", GENOTYPE, 0.91, {"strategy": "fuse", "stages": [1, 2]})
    best_id = zoo.put_genotype("paper-digits/T0", ["skip_connect"] * 6, 0.97, {"strategy": "tanas"})
    zoo.put_genotype("paper-digits/T0", ["none"] * 6, 0.5)
    best = zoo.best_genotype("paper-digits/T0")
    assert best.id == best_id and best.genotype == ["skip_connect"] * 6 and best.score == 0.97
    assert best.record == {"strategy": "tanas"}
    assert [g.score for g in zoo.genotypes("paper-digits/T0")] == [0.97, 0.91, 0.5]
    assert zoo.get("paper-digits/T0").summary()["genotype"] == ["skip_connect"] * 6
    assert zoo.get("digits:indicator:1").summary()["genotype"] is None


@pytest.mark.parametrize(
    "genotype, score, record, message",
    [
        (GENOTYPE[:5], 0.5, {}, "6 op names"),
        ([*GENOTYPE, "conv_3x3"], 0.5, {}, "6 op names"),
        ([1, 2, 3, 4, 5, 6], 0.5, {}, "6 op names"),
        ("conv_3x3", 0.5, {}, "list of 6"),
        (GENOTYPE, float("nan"), {}, "finite"),
        (GENOTYPE, "high", {}, "number"),
        (GENOTYPE, 0.5, {"x": object()}, "JSON"),
    ],
)
def test_bad_genotypes_are_refused(zoo: TaskZoo, genotype, score, record, message) -> None:
    with pytest.raises(ZooError, match=message):
        zoo.put_genotype("paper-digits/T0", genotype, score, record)
    assert zoo.genotypes("paper-digits/T0") == []


def test_remove_deletes_rows_and_unshared_files(zoo: TaskZoo) -> None:
    kept = zoo.get("digits:indicator:1")
    zoo.put_genotype("paper-digits/T0", GENOTYPE, 0.9)
    removed = zoo.remove("paper-digits/T0")
    assert removed.name == "paper-digits/T0"
    assert zoo.names() == ["digits:indicator:1"]
    assert {p.stem for p in _objects(zoo)} == {kept.probes[0].object, kept.probes[0].fishers["empirical"]}
    report = zoo.check()
    assert report.clean and report.orphaned == []
    with pytest.raises(UnknownZooTaskError):
        zoo.remove("paper-digits/T0")


# ----------------------------------------------------------------------------- opening


def test_newer_schema_version_is_refused(zoo: TaskZoo) -> None:
    zoo.close()
    with sqlite3.connect(zoo.path / "zoo.sqlite") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ZooVersionError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade tanas"):
        TaskZoo(zoo.path)


def test_opening_errors(tmp_path: Path) -> None:
    with pytest.raises(ZooNotFoundError, match="no zoo at"):
        TaskZoo(tmp_path / "absent", create=False)
    assert not (tmp_path / "absent").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ZooError, match="is a file"):
        TaskZoo(tmp_path / "file")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ZooError, match="non-empty folder"):
        TaskZoo(tmp_path / "busy")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "zoo.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ZooCorruptError, match="not a readable zoo catalogue"):
        TaskZoo(tmp_path / "garbage")
    with TaskZoo(tmp_path / "new") as fresh:  # created on demand, WAL mode, current version
        assert fresh.tasks() == [] and fresh.check().clean
    with sqlite3.connect(tmp_path / "new" / "zoo.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


V1_DUMP = Path(__file__).parent / "data" / "zoo_v1.sql"


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def _unique_columns(db: sqlite3.Connection, table: str) -> set[tuple[str, ...]]:
    indexes = [row[1] for row in db.execute(f"PRAGMA index_list({table})") if row[2]]
    return {tuple(r[2] for r in db.execute(f"PRAGMA index_info({name})")) for name in indexes}


def test_a_version_1_zoo_is_migrated_and_reads_back(tmp_path: Path) -> None:
    """A catalogue written by schema version 1 (tests/data/zoo_v1.sql, see its header) opens and migrates.

    Only its catalogue is kept, not its object files: this test reads what the catalogue holds
    (tasks, probe and Fisher records, genotypes, cached distances) and nothing that loads an artifact
    (load_probe, load_fisher, check would need or report the missing files).
    """
    path = tmp_path / "zoo"
    path.mkdir()
    with sqlite3.connect(path / "zoo.sqlite") as db:
        db.executescript(V1_DUMP.read_text())
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert "kind" in _columns(db, "fishers") and "fisher_kind" not in _columns(db, "fishers")
    db.close()

    with TaskZoo(path, create=False) as zoo:
        assert zoo.names() == ["digits:indicator:1", "paper-digits/T0"]  # the cached target stays unlisted
        t0 = zoo.get("paper-digits/T0")
        assert (t0.spec, t0.kind, t0.origin, t0.fingerprint[:12]) == (
            "digits:indicator:0",
            "indicator",
            "paper-digits/T0",
            "29506693a042",
        )
        (probe,) = t0.probes
        assert (probe.seed, probe.probe, probe.config_hash) == (0, "cnn", "0620528cc1801282")
        assert probe.config["max_epochs"] == 2 and 0.0 < probe.val_acc <= 1.0
        assert probe.object.startswith("4615f0010c3f")
        assert probe.fishers == {"empirical": "529bf965472d55b73a032fcd5e07feae13f123788a63320a14c244cb5fba0210"}
        assert zoo.get("digits:indicator:1").probes[0].fishers["empirical"].startswith("259e4586cb12")
        assert zoo.config_key(TINY) == "0620528cc1801282"
        (genotype,) = zoo.genotypes("paper-digits/T0")
        assert genotype.genotype == GENOTYPE and genotype.score == 0.75
        assert genotype.record == {"seed": 0, "strategy": "fuse"} and zoo.best_genotype("paper-digits/T0") == genotype
        assert zoo.get("digits:indicator:1").best is None

        # The cached distances answer without computing anything (nothing to compute them from).
        near = zoo.nearest("paper-digits/T0")
        assert (near.computed, near.cached) == (0, 2)
        assert [(n.name, n.distance) for n in near] == [
            ("paper-digits/T0", 0.0),
            ("digits:indicator:1", 0.6828820684282138),
        ]
        assert near[0].genotype == GENOTYPE and near.config["kind"] == "empirical"
        outside = zoo.nearest(parse_task("digits:subset:3,5")[0])  # the unlisted cached target
        assert (outside.computed, outside.cached) == (0, 2)
        assert [(n.name, n.distance) for n in outside] == [
            ("paper-digits/T0", 0.6596401053058608),
            ("digits:indicator:1", 0.6844863297240908),
        ]

    TaskZoo(tmp_path / "fresh").close()
    with sqlite3.connect(path / "zoo.sqlite") as db, sqlite3.connect(tmp_path / "fresh" / "zoo.sqlite") as new:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        for table in ("fishers", "distances"):
            assert "fisher_kind" in _columns(db, table) and "kind" not in _columns(db, table)
        assert "kind" in _columns(db, "tasks")  # the task kind keeps its name
        for table in ("meta", "tasks", "probes", "fishers", "searches", "genotypes", "distances"):
            # the migrated catalogue has the schema a new zoo gets, constraints included
            assert _columns(db, table) == _columns(new, table)
            assert _unique_columns(db, table) == _unique_columns(new, table)
        assert ("probe_id", "fisher_kind") in _unique_columns(db, "fishers")
        assert db.execute("SELECT COUNT(*) FROM distances").fetchone()[0] == 4
    db.close()
    new.close()
    with TaskZoo(path, create=False) as again:  # opening a migrated zoo again changes nothing
        assert again.names() == ["digits:indicator:1", "paper-digits/T0"]


def test_a_failed_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The migration runs in one transaction: when a step fails, the catalogue stays at version 1."""
    import tanas.zoo.catalogue as catalogue

    path = tmp_path / "zoo"
    path.mkdir()
    with sqlite3.connect(path / "zoo.sqlite") as db:
        db.executescript(V1_DUMP.read_text())
    db.close()
    monkeypatch.setitem(catalogue._MIGRATIONS, 1, (*catalogue._MIGRATIONS[1], "ALTER TABLE nowhere ADD COLUMN x"))
    with pytest.raises(ZooCorruptError, match=r"cannot migrate .* from schema version 1 to 2"):
        TaskZoo(path, create=False)
    with sqlite3.connect(path / "zoo.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert "kind" in _columns(db, "fishers") and "kind" in _columns(db, "distances")
    db.close()
    monkeypatch.undo()
    with TaskZoo(path, create=False) as zoo:  # the real migration then succeeds
        assert zoo.get("paper-digits/T0").probes[0].fishers.keys() == {"empirical"}


def test_argument_errors(zoo: TaskZoo) -> None:
    task = parse_task("digits:indicator:0")[0]
    for bad in (0, -1, [], [-2]):
        with pytest.raises(ConfigError, match="seeds"):
            zoo.add_task(task, seeds=bad, quiet=True)
    with pytest.raises(ConfigError, match="Fisher kind"):
        zoo.add_task(task, kind="diagonal", quiet=True)
    with pytest.raises(ConfigError, match="unknown probe"):
        zoo.add_task(task, probe="alexnet", quiet=True)
    with pytest.raises(UnknownZooTaskError):
        zoo.load_probe("paper-digits/T9")
    with pytest.raises(ZooError, match=r"no .*probe for seed 3"):
        zoo.load_probe("paper-digits/T0", 3)
    with pytest.raises(ZooError, match="no exact Fisher"):
        zoo.load_fisher("paper-digits/T0", 0, "exact")
    assert all(issubclass(e, TanasError) for e in (ZooError, ZooVersionError, UnknownZooTaskError))


# ----------------------------------------------------------------------------- integrity


def _flip_byte(path: Path, offset: int = -20) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_artifact_is_caught_and_repaired(zoo: TaskZoo) -> None:
    entry = zoo.get("paper-digits/T0")
    probe_object = entry.probes[0].object
    _flip_byte(zoo.object_path(probe_object))
    report = zoo.check()
    assert not report.clean
    assert [(c["what"], c["task"], c["seed"]) for c in report.corrupt] == [("probe", "paper-digits/T0", 0)]
    assert report.missing == [] and report.db_errors == []
    with pytest.raises(ZooCorruptError, match=r"corrupt.*check --repair"):
        zoo.load_probe("paper-digits/T0", 0)
    repaired = zoo.check(repair=True)
    assert repaired.clean and repaired.repaired["rows_removed"] == 2  # the probe and its Fisher
    assert repaired.corrupt == report.corrupt and repaired.missing == []  # the report lists what was found
    assert zoo.get("paper-digits/T0").probes == []
    assert zoo.check().clean and zoo.check().orphaned == []
    (result,) = zoo.add("paper-digits/T0", seeds=1, quiet=True)
    assert (result.probes_trained, result.fishers_computed) == (1, 1)
    assert result.entry.probes[0].object == probe_object  # deterministic retraining: same bytes
    assert zoo.check().clean


def test_missing_artifact_is_reported_and_recomputed_by_add(zoo: TaskZoo) -> None:
    fisher_object = zoo.get("digits:indicator:1").probes[0].fishers["empirical"]
    zoo.object_path(fisher_object).unlink()
    report = zoo.check()
    assert not report.clean and [m["what"] for m in report.missing] == ["fisher"]
    # add verifies what it reuses: a missing Fisher is computed again without a repair.
    (result,) = zoo.add("digits:indicator:1", seeds=1, quiet=True)
    assert (result.probes_reused, result.fishers_computed) == (1, 1)
    assert zoo.check().clean


def test_orphans_are_harmless_and_repair_removes_them(zoo: TaskZoo) -> None:
    orphan = zoo.object_path("ab" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a killed writer")
    stale = zoo.path / "tmp" / "999999999-00ff.part"  # no such process
    stale.write_bytes(b"partial")
    live = zoo.path / "tmp" / f"{__import__('os').getpid()}-00aa.part"  # a writer still at work
    live.write_bytes(b"in progress")
    report = zoo.check()
    assert report.clean
    assert sorted(report.orphaned) == sorted([str(orphan.relative_to(zoo.path)), "tmp/999999999-00ff.part"])
    zoo.get("paper-digits/T0")  # the zoo works as usual
    repaired = zoo.check(repair=True)
    assert repaired.clean and repaired.repaired["files_removed"] == 1 and repaired.repaired["tmp_removed"] == 1
    assert not orphan.exists() and not stale.exists() and live.exists()
    assert zoo.check().orphaned == []


def test_json_of_records(zoo: TaskZoo) -> None:
    entry = zoo.get("paper-digits/T0")
    summary = entry.summary()
    assert set(summary) == {"name", "spec", "probe", "seeds", "val_acc", "genotype"}
    assert summary["probe"] == "cnn" and summary["seeds"] == 1 and 0.5 < summary["val_acc"] <= 1.0
    full = json.loads(json.dumps(entry.to_dict()))
    assert full["probes"][0]["config"]["max_epochs"] == 2
    assert json.loads(json.dumps(zoo.check().to_dict()))["clean"] is True
    assert not math.isnan(full["probes"][0]["val_acc"])


# ----------------------------------------------------------------------------- nearest


def test_nearest_puts_the_task_itself_first_and_caches(zoo: TaskZoo) -> None:
    from tanas.distance import fisher_task_distance, transfer_fisher

    first = zoo.nearest("paper-digits/T0")
    assert [n.name for n in first] == ["paper-digits/T0", "digits:indicator:1"]
    assert first[0].distance == 0.0 and first[0].std == 0.0
    assert 0.0 < first[1].distance <= 1.0 and first[1].per_seed.keys() == {0}
    assert (first.computed, first.cached) == (2, 0)
    # The cached number is the FTD computed independently from the stored artifacts.
    source, _ = zoo.load_probe("digits:indicator:1", 0)
    target = parse_task("digits:indicator:0")[0]
    f_ab = transfer_fisher(source, target, same_task=False, head="refit", seed=0)
    expected = fisher_task_distance(f_ab, zoo.load_fisher("paper-digits/T0", 0))
    assert first[1].distance == pytest.approx(expected, rel=1e-6)

    again = zoo.nearest("paper-digits/T0")
    assert (again.computed, again.cached) == (0, 2)
    assert [(n.name, n.distance) for n in again] == [(n.name, n.distance) for n in first]
    # Other options are other cache entries.
    squared = zoo.nearest("paper-digits/T0", squared=True)
    assert squared.computed == 2
    assert squared[1].distance == pytest.approx(2 * first[1].distance ** 2, rel=1e-6)
    assert [n.name for n in zoo.nearest("paper-digits/T0", k=1)] == ["paper-digits/T0"]
    assert [n.name for n in zoo.nearest("paper-digits/T0", exclude=["paper-digits/T0"])] == ["digits:indicator:1"]


def test_nearest_for_a_task_outside_the_zoo(zoo: TaskZoo, monkeypatch: pytest.MonkeyPatch) -> None:
    target = parse_task("digits:subset:3,5")[0]
    result = zoo.nearest(target)
    assert result.target == "digits:subset:3,5" and result.computed == 2
    assert sorted(n.name for n in result) == ["digits:indicator:1", "paper-digits/T0"]
    assert all(0.0 < n.distance <= 1.0 for n in result)
    assert zoo.names() == ["digits:indicator:1", "paper-digits/T0"]  # cached, not listed
    with pytest.raises(UnknownZooTaskError):
        zoo.get("digits:subset:3,5")

    import tanas.probe

    def no_training(*args, **kwargs):
        raise AssertionError("the target's probe was trained again")

    with monkeypatch.context() as patch:
        patch.setattr(tanas.probe, "train_probe", no_training)
        again = zoo.nearest(parse_task("digits:subset:3,5")[0])
        assert (again.computed, again.cached) == (0, 2)
        # Adding the target later reuses the probe and Fisher that nearest() stored.
        added = zoo.add_task(target, name="subset35", quiet=True)
        assert (added.probes_trained, added.fishers_computed) == (0, 0)
    assert zoo.names() == ["digits:indicator:1", "paper-digits/T0", "subset35"]
    own = zoo.nearest("subset35")
    assert own[0].name == "subset35" and own[0].distance == 0.0
    assert own.cached == 2 and own.computed == 1  # only the new self-distance


def test_nearest_skips_what_cannot_be_compared(zoo: TaskZoo) -> None:
    target = parse_task("digits:multiclass:0,1,2,3")[0]  # 5 classes: pad cannot read them with a 2-class head
    with pytest.raises(ZooError, match="head=pad cannot read"):
        zoo.nearest(target, head="pad")
    with pytest.raises(ZooError, match="no probe for seeds"):
        zoo.nearest("paper-digits/T0", seeds=[4])
    with pytest.raises(ZooError, match=r"no task in the zoo .* has a resnet18 probe"):
        zoo.nearest("paper-digits/T0", probe="resnet18")
    with pytest.raises(ConfigError, match="k must be"):
        zoo.nearest("paper-digits/T0", k=0)
    with pytest.raises(ConfigError, match="Fisher kind"):
        zoo.nearest("paper-digits/T0", kind="diagonal")
    with pytest.raises(UnknownZooTaskError):
        zoo.nearest("paper-digits/T3")
