"""The lake on S3 (a real S3 server on loopback: s3proxy): the same layout and atomic publish
as on disk, read back with pyarrow's own S3 filesystem; faults leave the previous snapshot."""
import json
import subprocess
import time

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from conftest import AS_OF, BIN, run
from peers import S3Server

BUCKET = "club-lake"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.create_bucket(BUCKET)
    yield server
    server.stop()


def ml(s3, *args, check=True, timeout=300):
    proc = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=s3.env, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    base = tmp_path_factory.mktemp("s3store")
    uri = f"sqlite:{base / 'members.db'}"
    run("seed", "--store", uri, "--members", 5000, "--seed", 21)
    return uri


def sorted_rows(table):
    return sorted(table.to_pylist(), key=lambda r: r["member_id"])


def test_generate_to_s3_equals_local_disk(s3, store, tmp_path):
    summary = json.loads(ml(s3, "generate", "--store", store, "--lake", s3.uri(BUCKET, "equal"), "--as-of", AS_OF,
                            "--json").stdout)
    local = json.loads(run("generate", "--store", store, "--lake", tmp_path / "lake", "--as-of", AS_OF, "--json").stdout)
    fs = s3.filesystem()
    current = fs.open_input_stream(f"{BUCKET}/equal/manifests/CURRENT").read().decode().strip()
    assert current == summary["manifest"].split("snapshot-")[1].removesuffix(".json")
    manifest = json.loads(fs.open_input_stream(f"{BUCKET}/equal/{summary['manifest']}").read())
    local_manifest = json.loads((tmp_path / "lake" / local["manifest"]).read_text())
    kinds = lambda m: sorted((f["kind"], f.get("region", ""), f.get("view", ""), f["rows"]) for f in m["files"])
    assert kinds(manifest) == kinds(local_manifest)
    for remote_file, local_file in zip(sorted(manifest["files"], key=lambda f: f["path"]),
                                       sorted(local_manifest["files"], key=lambda f: f["path"])):
        remote = pq.read_table(f"{BUCKET}/equal/{remote_file['path']}", filesystem=fs)
        here = pq.read_table(tmp_path / "lake" / local_file["path"])
        assert remote.schema.equals(here.schema, check_metadata=False)
        assert sorted_rows(remote.drop_columns([])) == sorted_rows(here)
        info = fs.get_file_info(f"{BUCKET}/equal/{remote_file['path']}")
        assert info.size == remote_file["bytes"]
    # Reports and verification work on S3 as on disk.
    remote_report = ml(s3, "report", "regional-stats", "--lake", s3.uri(BUCKET, "equal"), "--format", "json").stdout
    local_report = run("report", "regional-stats", "--lake", tmp_path / "lake", "--format", "json").stdout
    assert json.loads(remote_report)["rows"] == json.loads(local_report)["rows"]
    ml(s3, "snapshots", "verify", "--lake", s3.uri(BUCKET, "equal"))
    dataset = ds.dataset(f"{BUCKET}/equal/parquet/regional", filesystem=fs, format="parquet")
    assert dataset.count_rows() == manifest["members"]


def test_missing_bucket_and_wrong_credentials_are_clear_errors(s3, store):
    missing = ml(s3, "generate", "--store", store, "--lake", s3.uri("no-such-bucket", "x"), check=False)
    assert missing.returncode != 0 and "no-such-bucket" in missing.stderr and "not found" in missing.stderr
    env = dict(s3.env, AWS_SECRET_ACCESS_KEY="wrong")
    wrong = subprocess.run([BIN, "generate", "--store", store, "--lake", s3.uri(BUCKET, "x")], capture_output=True,
                           text=True, env=env)
    assert wrong.returncode != 0 and ("ACCESS_DENIED" in wrong.stderr or "403" in wrong.stderr), wrong.stderr


def test_s3_server_killed_mid_upload_keeps_previous_snapshot(s3, tmp_path):
    big = f"sqlite:{tmp_path / 'big.db'}"
    run("seed", "--store", big, "--members", 150000, "--seed", 5)
    lake = s3.uri(BUCKET, "faults")
    first = json.loads(ml(s3, "generate", "--store", big, "--lake", lake, "--as-of", AS_OF, "--json").stdout)
    fs = s3.filesystem()
    before = fs.open_input_stream(f"{BUCKET}/faults/manifests/CURRENT").read()
    uploaded = lambda: len(list((s3.data / BUCKET / "faults" / "parquet").rglob("*.parquet")))
    files_before = uploaded()
    proc = subprocess.Popen([BIN, "generate", "--store", big, "--lake", lake, "--as-of", AS_OF],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=s3.env)
    # Kill the server once the new snapshot's uploads have begun.
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if uploaded() > files_before:  # some files of the new snapshot are up, not all
            break
        time.sleep(0.05)
    s3.kill()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0, "generation should fail when S3 goes away"
    s3.start()
    fs = s3.filesystem()
    assert fs.open_input_stream(f"{BUCKET}/faults/manifests/CURRENT").read() == before
    ml(s3, "snapshots", "verify", "--lake", lake)
    again = json.loads(ml(s3, "generate", "--store", big, "--lake", lake, "--as-of", AS_OF, "--json").stdout)
    assert again["manifest"] != first["manifest"]
    ml(s3, "snapshots", "verify", "--lake", lake)


def test_prune_on_s3_keeps_the_newest_and_removes_orphans(s3, store):
    lake = s3.uri(BUCKET, "pruned")
    ids = []
    for _ in range(3):
        ids.append(json.loads(ml(s3, "generate", "--store", store, "--lake", lake, "--as-of", AS_OF,
                                 "--json").stdout)["snapshot_id"])
    fs = s3.filesystem()
    with fs.open_output_stream(f"{BUCKET}/pruned/parquet/regional/utrecht/members-20200101-000000000-dead.parquet") as out:
        out.write(b"left by a killed generation")
    report = json.loads(ml(s3, "snapshots", "prune", "--lake", lake, "--keep", 1, "--orphan-grace-minutes", 0,
                           "--json").stdout)
    assert report["expired_snapshots"] == ids[:2] and report["kept_snapshots"] == ids[2:]
    assert report["orphan_files"] == 1
    from pyarrow import fs as pafs
    left = [info.path for info in fs.get_file_info(pafs.FileSelector(f"{BUCKET}/pruned", recursive=True))
            if info.type == pafs.FileType.File]
    # What is left: the kept snapshot, CURRENT, and the Delta tables' logs (lake/delta_log.h),
    # which prune keeps as the tables' history.
    logs = [path for path in left if "/_delta_log/" in path]
    assert any(path.startswith(f"{BUCKET}/pruned/parquet/full-dataset/_delta_log/") for path in logs), left
    left = [path for path in left if path not in logs]
    assert left and all(ids[2] in path or path.endswith("CURRENT") for path in left), left
    assert ml(s3, "snapshots", "verify", "--lake", lake).returncode == 0
    rows = ds.dataset(f"{BUCKET}/pruned/parquet/regional", filesystem=fs, format="parquet").count_rows()
    assert rows > 0
