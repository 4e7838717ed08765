"""Generations racing on one lake, in separate processes, on local disk and on S3 (s3proxy):
publishing CURRENT is a compare-and-swap, so its data_version never goes down, whichever
generation starts or finishes first."""
import json
import subprocess
import time

import pytest

from conftest import AS_OF, BIN
from peers import S3Server

BUCKET = "race-lake"
MEMBER = {"voornaam": "Anna", "achternaam": "Race", "status": "Actief", "lidmaatschap": "Gewoon lid",
          "regio": "Utrecht", "email": "anna@example.nl"}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3race"))
    server.create_bucket(BUCKET)
    yield server
    server.stop()


class Lake:
    """One lake and one store, and a way to look into the lake wherever it lives."""

    def __init__(self, kind, tmp_path, s3):
        self.store = f"sqlite:{tmp_path / 'members.db'}"
        if kind == "disk":
            self.uri, self.env, self.fs, self.root = str(tmp_path / "lake"), None, None, tmp_path / "lake"
        else:
            prefix = tmp_path.name
            self.uri, self.env, self.fs, self.root = s3.uri(BUCKET, prefix), s3.env, s3.filesystem(), f"{BUCKET}/{prefix}"

    def read(self, path):
        if self.fs is None:
            return (self.root / path).read_text()
        with self.fs.open_input_stream(f"{self.root}/{path}") as f:
            return f.read().decode()

    def exists(self, path):
        if self.fs is None:
            return (self.root / path).exists()
        import pyarrow.fs as pafs
        return self.fs.get_file_info(f"{self.root}/{path}").type != pafs.FileType.NotFound

    def parquet_files(self):
        if self.fs is None:
            return sorted(str(p) for p in (self.root / "parquet").rglob("*.parquet"))
        import pyarrow.fs as pafs
        infos = self.fs.get_file_info(pafs.FileSelector(f"{self.root}/parquet", recursive=True, allow_not_found=True))
        return sorted(i.path for i in infos if i.path.endswith(".parquet"))

    def current(self):
        snapshot_id = self.read("manifests/CURRENT").strip()
        return json.loads(self.read(f"manifests/snapshot-{snapshot_id}.json"))

    def ml(self, *args, check=True):
        proc = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=self.env, timeout=300)
        assert not check or proc.returncode == 0, f"{args}: {proc.stderr}"
        return proc

    def start_generation(self, pause_ms):
        return subprocess.Popen([BIN, "generate", "--store", self.store, "--lake", self.uri, "--as-of", AS_OF,
                                 "--json", "--pause-before-publish-ms", str(pause_ms)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)

    def wait_until_written(self, files_before, proc, timeout=60):
        """Until a running generation has scanned and written its files (it then pauses)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            if len(self.parquet_files()) > len(files_before):
                return
            time.sleep(0.05)
        raise AssertionError("the generation wrote no files")

    def add_member(self):
        self.ml("members", "add", "--store", self.store, "--json", json.dumps(MEMBER))


@pytest.fixture(params=["disk", "s3"])
def lake(request, tmp_path):
    s3 = request.getfixturevalue("s3") if request.param == "s3" else None
    world = Lake(request.param, tmp_path, s3)
    world.ml("seed", "--store", world.store, "--members", 300, "--seed", 4)
    world.ml("generate", "--store", world.store, "--lake", world.uri, "--as-of", AS_OF)
    return world


def test_older_data_finishing_last_is_superseded_and_removes_its_files(lake):
    files_before = lake.parquet_files()
    slow = lake.start_generation(pause_ms=4000)
    lake.wait_until_written(files_before, slow)
    lake.add_member()
    fast = json.loads(lake.ml("generate", "--store", lake.store, "--lake", lake.uri, "--as-of", AS_OF, "--json").stdout)
    out, err = slow.communicate(timeout=120)
    assert slow.returncode == 5, (out, err)
    assert "superseded" in err and fast["snapshot_id"] in err
    current = lake.current()
    assert current["snapshot_id"] == fast["snapshot_id"] and current["data_version"] == fast["data_version"]
    # The overtaken generation left nothing behind: only the two published snapshots' files.
    ids = {p.rsplit("members-", 1)[1].removesuffix(".parquet") for p in lake.parquet_files()}
    assert ids == {current["previous_snapshot_id"], fast["snapshot_id"]}, ids
    lake.ml("snapshots", "verify", "--lake", lake.uri)


def test_newer_data_finishing_last_is_published_on_top(lake):
    base = lake.current()
    first = lake.start_generation(pause_ms=2500)  # reads version V
    lake.wait_until_written(lake.parquet_files(), first)
    lake.add_member()  # V + 1
    files_before = lake.parquet_files()
    second = lake.start_generation(pause_ms=6000)  # reads V + 1, publishes after the first
    lake.wait_until_written(files_before, second)
    first_out, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    first_summary = json.loads(first_out)
    assert lake.current()["snapshot_id"] == first_summary["snapshot_id"]
    second_out, second_err = second.communicate(timeout=120)
    assert second.returncode == 0, second_err
    second_summary = json.loads(second_out)
    current = lake.current()
    assert current["snapshot_id"] == second_summary["snapshot_id"]
    assert current["previous_snapshot_id"] == first_summary["snapshot_id"]  # rebased on the one that won
    assert current["data_version"] == second_summary["data_version"] > first_summary["data_version"] >= base["data_version"]
    lake.ml("snapshots", "verify", "--lake", lake.uri)
