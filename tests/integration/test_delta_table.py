"""The lake as an open table format (Delta Lake, lake/delta_log.h): engines that know Delta but
not memberlake's manifest -- delta-rs (PyPI `deltalake`) and Polars -- pointed at a dataset
folder read exactly the current snapshot, time-travel to older kept ones, and keep doing so
after pruning, racing generations, and on S3 (s3proxy)."""
import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import AS_OF, BIN, generate_versions, run, run_json
from peers import S3Server

deltalake = pytest.importorskip("deltalake")
polars = pytest.importorskip("polars")

MEMBER = {"voornaam": "Delta", "achternaam": "Lid", "status": "Actief", "lidmaatschap": "Gewoon lid",
          "regio": "Utrecht", "email": "delta@example.nl"}


def current_manifest(lake: Path):
    snapshot_id = (lake / "manifests" / "CURRENT").read_text().strip()
    return json.loads((lake / "manifests" / f"snapshot-{snapshot_id}.json").read_text())


def file_member_ids(lake: Path, rel):
    return sorted(pq.read_table(lake / rel, columns=["member_id"]).column("member_id").to_pylist())


def delta_member_ids(table_uri, version=None, storage_options=None):
    table = deltalake.DeltaTable(str(table_uri), version=version, storage_options=storage_options)
    return sorted(table.to_pyarrow_table(columns=["member_id"]).column("member_id").to_pylist())


@pytest.fixture()
def world(tmp_path):
    store = f"sqlite:{tmp_path / 'members.db'}"
    lake = tmp_path / "lake"
    run("seed", "--store", store, "--members", 600, "--seed", 11)
    first = run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    run("members", "add", "--store", store, "--json", json.dumps(MEMBER))
    second = run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    return {"store": store, "lake": lake, "first": first["snapshot_id"], "second": second["snapshot_id"]}


def test_every_table_shows_exactly_the_current_snapshot(world):
    lake = world["lake"]
    manifest = current_manifest(lake)
    assert manifest["snapshot_id"] == world["second"]
    # A folder scan sees both snapshots; the Delta table only the current one.
    all_files = list((lake / "parquet" / "full-dataset").rglob("*.parquet"))
    assert len(all_files) == 2
    full = next(f for f in manifest["files"] if f["kind"] == "full")
    assert delta_member_ids(lake / "parquet" / "full-dataset") == file_member_ids(lake, full["path"])
    table = deltalake.DeltaTable(str(lake / "parquet" / "full-dataset"))
    assert table.version() == 1
    assert "memberlake snapshot " + world["second"] in json.dumps(table.history())
    # Every regional and view folder is a table of its own, with its file's rows and schema.
    for f in manifest["files"]:
        if f["kind"] == "full":
            continue
        folder = lake / Path(f["path"]).parent
        got = deltalake.DeltaTable(str(folder)).to_pyarrow_table()
        assert got.num_rows == f["rows"], f["path"]
        assert set(got.schema.names) == set(pq.read_schema(lake / f["path"]).names)
    # Polars, through its own Delta reader.
    frame = polars.read_delta(str(lake / "parquet" / "full-dataset"))
    assert frame.height == manifest["members"]


def test_time_travel_reaches_the_previous_snapshot(world):
    lake = world["lake"]
    previous = json.loads((lake / "manifests" / f"snapshot-{world['first']}.json").read_text())
    full = next(f for f in previous["files"] if f["kind"] == "full")
    assert delta_member_ids(lake / "parquet" / "full-dataset", version=0) == file_member_ids(lake, full["path"])
    assert len(delta_member_ids(lake / "parquet" / "full-dataset")) == len(file_member_ids(lake, full["path"])) + 1


def test_pruning_keeps_the_log_and_the_current_table(world):
    lake = world["lake"]
    run("snapshots", "prune", "--lake", lake, "--keep", 1, "--orphan-grace-minutes", 0)
    assert len(list((lake / "parquet" / "full-dataset" / "_delta_log").glob("*.json"))) == 2
    manifest = current_manifest(lake)
    full = next(f for f in manifest["files"] if f["kind"] == "full")
    assert delta_member_ids(lake / "parquet" / "full-dataset") == file_member_ids(lake, full["path"])


def test_an_emptied_region_table_shows_no_rows(tmp_path):
    store = f"sqlite:{tmp_path / 'members.db'}"
    lake = tmp_path / "lake"
    run("seed", "--store", store, "--members", 50, "--seed", 3)
    run("members", "add", "--store", store, "--json", json.dumps(dict(MEMBER, regio="Friesland", email="fries@example.nl")))
    run("generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    friesland = lake / "parquet" / "regional" / "friesland"
    before = deltalake.DeltaTable(str(friesland)).to_pyarrow_table().num_rows
    assert before >= 1
    # Move every Frisian member elsewhere: the next snapshot may have no Friesland file at all.
    listed = json.loads(run("members", "list", "--store", store, "--limit", 1000).stdout)
    for member in listed:
        if member["regio"] == "Friesland":
            run("members", "update", member["member_id"], "--store", store, "--expected-version",
                member["_version"], "--json", json.dumps({"regio": "Utrecht"}))
    run("generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    manifest = current_manifest(lake)
    regional = [f for f in manifest["files"] if f["kind"] == "regional" and f.get("region") == "Friesland"]
    expected = regional[0]["rows"] if regional else 0
    assert expected == 0
    assert deltalake.DeltaTable(str(friesland)).to_pyarrow_table().num_rows == 0


def test_racing_generations_leave_the_table_on_current(tmp_path):
    store = f"sqlite:{tmp_path / 'members.db'}"
    lake = tmp_path / "lake"
    run("seed", "--store", store, "--members", 300, "--seed", 5)
    run("generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    procs = []
    for pause in (600, 0, 300):
        run("members", "add", "--store", store, "--json",
            json.dumps(dict(MEMBER, email=f"race{pause}@example.nl")))
        procs.append(subprocess.Popen([BIN, "generate", "--store", store, "--lake", str(lake), "--as-of", AS_OF,
                                       "--pause-before-publish-ms", str(pause)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    codes = [p.wait(timeout=120) for p in procs]
    assert all(code in (0, 5) for code in codes), codes
    manifest = current_manifest(lake)
    full = next(f for f in manifest["files"] if f["kind"] == "full")
    assert delta_member_ids(lake / "parquet" / "full-dataset") == file_member_ids(lake, full["path"])
    table = deltalake.DeltaTable(str(lake / "parquet" / "full-dataset"))
    assert table.history(1)[0]["userMetadata"] == "memberlake snapshot " + manifest["snapshot_id"]


def test_delta_table_on_s3(tmp_path):
    s3 = S3Server(tmp_path / "s3")
    try:
        s3.create_bucket("delta-lake")
        store = f"sqlite:{tmp_path / 'members.db'}"
        run("seed", "--store", store, "--members", 400, "--seed", 9)
        for _ in range(2):
            proc = subprocess.run([BIN, "generate", "--store", store, "--lake", s3.uri("delta-lake", "club"),
                                   "--as-of", AS_OF, "--json"], capture_output=True, text=True, env=s3.env,
                                  timeout=300)
            assert proc.returncode == 0, proc.stderr
            run("members", "add", "--store", store, "--json",
                json.dumps(dict(MEMBER, email=f"s3-{_}@example.nl")))
        summary = json.loads(proc.stdout)
        options = {"AWS_ACCESS_KEY_ID": s3.env["AWS_ACCESS_KEY_ID"],
                   "AWS_SECRET_ACCESS_KEY": s3.env["AWS_SECRET_ACCESS_KEY"], "AWS_REGION": "eu-west-1",
                   "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3.port}", "AWS_ALLOW_HTTP": "true"}
        table = deltalake.DeltaTable("s3://delta-lake/club/parquet/full-dataset", storage_options=options)
        assert table.version() == 1
        assert table.to_pyarrow_table(columns=["member_id"]).num_rows == summary["members"]
    finally:
        s3.stop()


def test_erasure_moves_the_tables_to_the_revised_files(world, tmp_path):
    """An erasure rewrites the current snapshot's files and deletes the old ones: the tables
    follow the revision, so they neither name a deleted file nor still show the member."""
    lake = world["lake"]
    manifest = current_manifest(lake)
    full = next(f for f in manifest["files"] if f["kind"] == "full")
    victim = file_member_ids(lake, full["path"])[0]
    env = dict(os.environ, MEMBERLAKE_PSEUDONYM_KEY="k" * 32)
    proc = subprocess.run([BIN, "erase", "--member", victim, "--store", world["store"], "--lake", str(lake),
                           "--audit-log", str(tmp_path / "audit.log"), "--yes"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    revised = current_manifest(lake)
    assert revised["snapshot_id"] == manifest["snapshot_id"] and revised.get("revision", 0) >= 1
    for f in revised["files"]:
        folder = lake / (Path(f["path"]).parent if f["kind"] != "full" else "parquet/full-dataset")
        table = deltalake.DeltaTable(str(folder))
        ids = table.to_pyarrow_table(columns=["member_id"]).column("member_id").to_pylist()
        assert victim not in ids, f["path"]
        assert len(ids) == f["rows"], f["path"]
    history = deltalake.DeltaTable(str(lake / "parquet" / "full-dataset")).history(1)[0]
    assert history["userMetadata"] == f"memberlake snapshot {manifest['snapshot_id']} revision {revised['revision']}"


def test_a_checkpoint_every_ten_versions_lets_readers_skip_the_log(tmp_path):
    """Version 10 gets a checkpoint (Parquet, the whole table state) and _last_checkpoint. With
    the JSON commits up to and including 10 deleted, delta-rs and Polars still read the current
    snapshot, and version 10 itself, which only the checkpoint describes then (without it:
    "No files in log segment")."""
    lake = generate_versions(tmp_path, 12)
    log = lake / "parquet" / "full-dataset" / "_delta_log"
    assert sorted(p.name for p in log.glob("*.checkpoint.parquet")) == ["00000000000000000010.checkpoint.parquet"]
    last = json.loads((log / "_last_checkpoint").read_text())
    checkpoint = pq.read_table(log / "00000000000000000010.checkpoint.parquet").to_pylist()
    assert last["version"] == 10 and last["size"] == len(checkpoint)
    adds = [row["add"] for row in checkpoint if row["add"]]
    assert last["numOfAddFiles"] == len(adds) == 1
    assert sum(1 for row in checkpoint if row["metaData"]) == 1 and sum(1 for row in checkpoint if row["protocol"]) == 1
    assert "minValues" not in adds[0]["stats"]  # row counts only, no member data in the log
    # Regional tables are checkpointed too, at their own version 10.
    assert (lake / "parquet" / "regional" / "utrecht" / "_delta_log" / "_last_checkpoint").exists()
    version_10 = deltalake.DeltaTable(str(lake / "parquet" / "full-dataset"), version=10)
    version_10_files = sorted(version_10.file_uris())
    for commit in range(11):
        (log / f"{commit:020d}.json").unlink()
    manifest = current_manifest(lake)
    full = next(f for f in manifest["files"] if f["kind"] == "full")
    from_checkpoint = deltalake.DeltaTable(str(lake / "parquet" / "full-dataset"), version=10)
    assert sorted(from_checkpoint.file_uris()) == version_10_files
    assert from_checkpoint.to_pyarrow_table().num_rows == manifest["members"] - 1
    table = deltalake.DeltaTable(str(lake / "parquet" / "full-dataset"))
    assert table.version() == 11
    assert delta_member_ids(lake / "parquet" / "full-dataset") == file_member_ids(lake, full["path"])
    assert polars.read_delta(str(lake / "parquet" / "full-dataset")).height == manifest["members"]
