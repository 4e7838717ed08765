"""Lake lifecycle: old snapshots pruned (after each generation or on demand), files no manifest
names removed after a grace period, and spill folders of killed generations cleaned up."""
import fcntl
import json
import os
import subprocess

import duckdb
import pytest

from conftest import AS_OF, BIN, run, run_json


@pytest.fixture()
def store(tmp_path):
    uri = f"sqlite:{tmp_path / 'members.db'}"
    run("seed", "--store", uri, "--members", 3000, "--seed", 5)
    return uri


def files_of(lake):
    return sorted(str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file())


def test_generate_keep_prunes_old_snapshots_and_reports_it(store, tmp_path):
    lake = tmp_path / "lake"
    summaries = [run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--keep", 2, "--json")
                 for _ in range(3)]
    ids = [s["snapshot_id"] for s in summaries]
    assert summaries[1]["retention"]["expired_snapshots"] == []
    assert summaries[2]["retention"]["expired_snapshots"] == [ids[0]]
    assert run("snapshots", "list", "--lake", lake).stdout.split() == [ids[1], ids[2], "(current)"]
    assert not any(ids[0] in f for f in files_of(lake))
    # what is left is whole: checksums hold, reports answer, DuckDB reads the full dataset
    run("snapshots", "verify", "--lake", lake)
    run("snapshots", "verify", "--lake", lake, "--snapshot", ids[1])
    count = run_json("query", "--lake", lake, "--agg", "count", "--format", "json")["rows"][0]["count"]
    manifest = json.loads((lake / "manifests" / f"snapshot-{ids[2]}.json").read_text())
    full = lake / [f for f in manifest["files"] if f["kind"] == "full"][0]["path"]
    assert duckdb.connect().execute(f"select count(*) from read_parquet('{full}')").fetchone()[0] == count


def test_prune_dry_run_then_prune(store, tmp_path):
    lake = tmp_path / "lake"
    ids = [run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")["snapshot_id"]
           for _ in range(3)]
    orphan = lake / "parquet" / "regional" / "utrecht" / "members-20200101-000000000-dead.parquet"
    orphan.write_bytes(b"a file no manifest names")
    os.utime(orphan, (0, 0))  # long ago: past the grace period
    fresh = lake / "parquet" / "regional" / "utrecht" / "members-29990101-000000000-busy.parquet"
    fresh.write_bytes(b"being written right now")
    before = files_of(lake)

    dry = run_json("snapshots", "prune", "--lake", lake, "--keep", 1, "--dry-run", "--json")
    assert dry["dry_run"] and dry["expired_snapshots"] == ids[:2] and dry["kept_snapshots"] == ids[2:]
    assert dry["orphan_files"] == 1 and str(orphan.relative_to(lake)) in dry["removed_files"]
    assert files_of(lake) == before  # nothing removed

    done = run_json("snapshots", "prune", "--lake", lake, "--keep", 1, "--json")
    assert done["removed_files"] == dry["removed_files"] and done["bytes_freed"] == dry["bytes_freed"] > 0
    assert sorted(set(before) - set(files_of(lake))) == sorted(done["removed_files"])
    assert not orphan.exists() and fresh.exists()
    assert run("snapshots", "list", "--lake", lake).stdout.split() == [ids[2], "(current)"]
    text = run("snapshots", "prune", "--lake", lake, "--keep", 1).stdout  # the table form
    assert "1 snapshot(s) kept, 0 expired" in text


@pytest.mark.parametrize("args, message", [
    (["--keep", "0"], "--keep"),
    (["--keep", "two"], "--keep"),
    (["--keep-days", "-1"], "--keep-days"),
])
def test_prune_rejects_bad_input(tmp_path, args, message):
    (tmp_path / "lake").mkdir()
    proc = run("snapshots", "prune", "--lake", tmp_path / "lake", *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr


def test_prune_of_a_missing_lake_fails_clearly(tmp_path):
    proc = run("snapshots", "prune", "--lake", tmp_path / "nowhere", check=False)
    assert proc.returncode != 0 and "nowhere" in proc.stderr


def test_generation_removes_spill_folders_of_killed_generations(store, tmp_path):
    spill_root = tmp_path / "tmp"
    dead = spill_root / "memberlake-spill-20260101-000000000-dead"
    dead.mkdir(parents=True)
    (dead / "owner.lock").write_text("")
    (dead / "partition-0.arrow").write_bytes(b"x" * 4096)
    busy = spill_root / "memberlake-spill-20260101-000000000-busy"
    busy.mkdir()
    unrelated = spill_root / "someone-elses-folder"
    unrelated.mkdir()
    env = dict(os.environ, TMPDIR=str(spill_root))
    generate = [BIN, "generate", "--store", store, "--lake", str(tmp_path / "lake"), "--as-of", AS_OF]
    with open(busy / "owner.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a generation that is still running holds its lock
        subprocess.run(generate, env=env, check=True, capture_output=True, timeout=300)
        assert not dead.exists()
        assert busy.exists() and unrelated.exists()
    subprocess.run(generate, env=env, check=True, capture_output=True, timeout=300)
    assert not busy.exists() and unrelated.exists()
    assert sorted(p.name for p in spill_root.iterdir()) == ["someone-elses-folder"]  # its own spill is gone too
