"""Shared fixtures: the memberlake binary, and a sample store with a generated lake.

Everything here is real: a SQLite file on disk, Parquet files written by the binary, read back
by pyarrow and DuckDB (independent Parquet readers installed in the test venv).
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))
AS_OF = "2026-01-07"
SAMPLE_MEMBERS = 20000


def run(*args, input=None, check=True):
    """Runs the binary; returns CompletedProcess. check=True asserts exit 0."""
    proc = subprocess.run([BIN, *map(str, args)], input=input, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert proc.returncode == 0, f"{args} failed ({proc.returncode}): {proc.stderr}"
    return proc


def run_json(*args, **kwargs):
    return json.loads(run(*args, **kwargs).stdout)


@pytest.fixture(scope="session")
def bin_path():
    assert Path(BIN).exists(), f"build the binary first: {BIN}"
    return BIN


@pytest.fixture(scope="session")
def sample(tmp_path_factory, bin_path):
    """A seeded store and one generated snapshot, shared by read-only tests."""
    base = tmp_path_factory.mktemp("sample")
    store = f"sqlite:{base / 'members.db'}"
    lake = base / "lake"
    run("seed", "--store", store, "--members", SAMPLE_MEMBERS, "--seed", 7)
    summary = run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    manifest = json.loads((lake / summary["manifest"]).read_text())
    return {"store": store, "db": base / "members.db", "lake": lake, "summary": summary,
            "manifest": manifest}


@pytest.fixture(scope="module")
def ddb(tmp_path_factory):
    """DynamoDB Local on loopback, one per test module that asks for it."""
    from peers import DynamoDbLocal
    server = DynamoDbLocal(tmp_path_factory.mktemp("ddb"))
    yield server
    server.stop()


def generate_versions(base: Path, count: int, members: int = 40) -> Path:
    """A lake whose Delta tables have versions 0..count-1: `count` generations, one member more
    before each. Returns the lake folder (base / "lake")."""
    store = f"sqlite:{base / 'members.db'}"
    lake = base / "lake"
    run("seed", "--store", store, "--members", members, "--seed", 4)
    for n in range(count):
        member = {"voornaam": "Versie", "achternaam": f"Lid {n}", "status": "Actief", "lidmaatschap": "Gewoon lid",
                  "regio": "Utrecht", "email": f"v{n}@example.nl"}
        run("members", "add", "--store", store, "--json", json.dumps(member))
        run("generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    return lake
