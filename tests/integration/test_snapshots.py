"""Atomic publish: several generations, kill -9 mid-generation, verification."""
import hashlib
import json
import os
import signal
import subprocess
import time

import pyarrow.parquet as pq

from conftest import AS_OF, BIN, run, run_json


def current_manifest(lake):
    sid = (lake / "manifests" / "CURRENT").read_text().strip()
    return json.loads((lake / "manifests" / f"snapshot-{sid}.json").read_text())


def assert_snapshot_intact(lake, manifest):
    for f in manifest["files"]:
        data = (lake / f["path"]).read_bytes()
        assert len(data) == f["bytes"]
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
        assert pq.ParquetFile(lake / f["path"]).metadata.num_rows == f["rows"]


def test_generations_stay_readable_and_chain(tmp_path, bin_path):
    store = f"sqlite:{tmp_path / 'm.db'}"
    lake = tmp_path / "lake"
    run("seed", "--store", store, "--members", 500)
    first = run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    second = run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    assert first["snapshot_id"] != second["snapshot_id"]
    assert current_manifest(lake)["snapshot_id"] == second["snapshot_id"]
    assert current_manifest(lake)["previous_snapshot_id"] == first["snapshot_id"]
    old = json.loads((lake / first["manifest"]).read_text())
    assert_snapshot_intact(lake, old)  # files are immutable: the old snapshot still reads
    listing = run("snapshots", "list", "--lake", lake).stdout.split("\n")
    assert listing[0] == first["snapshot_id"]
    assert listing[1] == second["snapshot_id"] + "  (current)"
    assert "verified" in run("snapshots", "verify", "--lake", lake).stdout


def test_verify_detects_a_corrupted_file(tmp_path, bin_path):
    store = f"sqlite:{tmp_path / 'm.db'}"
    lake = tmp_path / "lake"
    run("seed", "--store", store, "--members", 300)
    run("generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    victim = lake / current_manifest(lake)["files"][3]["path"]
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    proc = run("snapshots", "verify", "--lake", lake, check=False)
    assert proc.returncode != 0
    assert "does not match its checksum" in proc.stderr and victim.name in proc.stderr


def test_kill_during_generate_leaves_previous_snapshot_current(tmp_path, bin_path):
    store = f"sqlite:{tmp_path / 'm.db'}"
    lake = tmp_path / "lake"
    run("seed", "--store", store, "--members", 400000, "--seed", 3)
    # a first, complete snapshot
    first = run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    killed_in = set()
    for delay in (0.3, 0.8, 1.5):
        proc = subprocess.Popen([BIN, "generate", "--store", store, "--lake", str(lake), "--as-of", AS_OF],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed_in.add(delay)
        proc.wait()
        manifest = current_manifest(lake)
        if proc.returncode == -signal.SIGKILL:
            assert manifest["snapshot_id"] == first["snapshot_id"]
        assert_snapshot_intact(lake, manifest)
    assert killed_in, "generation finished before it could be killed; make the store larger"
    assert "verified" in run("snapshots", "verify", "--lake", lake).stdout
