"""The CLI's contract: members CRUD as JSON, clear errors, nothing half-written."""
import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import AS_OF, ROOT, run, run_json

MEMBER = {
    "voornaam": "Zoë", "tussenvoegsel": "van der", "achternaam": "IJsselmuiden",
    "email": "zoe@example.nl", "status": "actief", "lidmaatschap": "Gewoon lid",
    "regio": "noord holland", "geboortedatum": "29-02-1964", "postcode": "1234ab",
    "ingangsdatum": "2001-04-01", "motormerk": "Harley-Davidson",
}


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:{tmp_path / 'crud.db'}"
    run("seed", "--store", uri, "--members", 10)
    return uri


def test_members_crud_round_trip(store):
    added = run_json("members", "add", "--store", store, "--json", json.dumps(MEMBER))
    mid = added["member_id"]
    assert added["regio"] == "Noord-Holland"          # normalised on the way in
    assert added["status"] == "Actief"
    assert added["geboortedatum"] == "1964-02-29"
    assert added["postcode"] == "1234 AB"
    assert added["land"] == "Nederland"               # default
    assert isinstance(added["lidnummer"], int)
    got = run_json("members", "get", "--store", store, mid)
    assert got == added
    updated = run_json("members", "update", "--store", store, mid, "--expected-version",
                       added["_version"], "--json", '{"regio": "Utrecht", "telefoon": "06-12345678"}')
    assert updated["regio"] == "Utrecht" and updated["_version"] > added["_version"]
    # a stale version is a conflict and changes nothing
    stale = run("members", "update", "--store", store, mid, "--expected-version", added["_version"],
                "--json", '{"regio": "Oost"}', check=False)
    assert stale.returncode == 4 and "version conflict" in stale.stderr
    assert run_json("members", "get", "--store", store, mid)["regio"] == "Utrecht"
    listed = run_json("members", "list", "--store", store, "--limit", 100)
    assert mid in [m["member_id"] for m in listed] and len(listed) == 11
    run("members", "delete", "--store", store, mid, "--expected-version", updated["_version"])
    missing = run("members", "get", "--store", store, mid, check=False)
    assert missing.returncode == 3 and mid in missing.stderr


def test_stdin_json_is_accepted(store):
    added = run_json("members", "add", "--store", store, input=json.dumps(MEMBER))
    assert added["achternaam"] == "IJsselmuiden"


@pytest.mark.parametrize("patch, expected", [
    ({"regio": "Atlantis"}, "regio"),
    ({"status": "Misschien"}, "status"),
    ({"kleur": "rood"}, "kleur"),
    ({"geboortedatum": "31-02-1975"}, "geboortedatum"),
    ({"email": "jan@@example.nl"}, "email"),  # (a missing address is fine: the club has members without one)
    ({"bankrekeningnummer": "NL00BANK0123456789"}, "bankrekeningnummer"),
    ({"lidnummer": "12a"}, "lidnummer"),
    ({"voornaam": ["a"]}, "voornaam"),
])
def test_invalid_member_is_rejected_and_nothing_is_written(store, tmp_path, patch, expected):
    db = store.split(":", 1)[1]
    before = sqlite3.connect(db).execute("select count(*), (select max(data_version) from changes) from members").fetchone()
    proc = run("members", "add", "--store", store, "--json", json.dumps({**MEMBER, **patch}), check=False)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    after = sqlite3.connect(db).execute("select count(*), (select max(data_version) from changes) from members").fetchone()
    assert before == after


def test_malformed_json(store):
    proc = run("members", "add", "--store", store, "--json", "{not json", check=False)
    assert proc.returncode == 2 and "JSON" in proc.stderr


def test_bad_store_uris_and_files(tmp_path):
    lake = tmp_path / "lake"
    proc = run("generate", "--store", "postgres://x", "--lake", lake, check=False)
    assert proc.returncode == 2 and "postgres://x" in proc.stderr
    proc = run("generate", "--store", f"sqlite:{tmp_path / 'nope.db'}", "--lake", lake, check=False)
    assert proc.returncode != 0 and "nope.db" in proc.stderr
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database at all" * 100)
    proc = run("generate", "--store", f"sqlite:{corrupt}", "--lake", lake, check=False)
    assert proc.returncode != 0 and "corrupt.db" in proc.stderr
    assert not (lake / "manifests" / "CURRENT").exists()


def test_locked_database(tmp_path):
    db = tmp_path / "locked.db"
    run("seed", "--store", f"sqlite:{db}", "--members", 5)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("begin exclusive")
    try:
        proc = run("members", "add", "--store", f"sqlite:{db}", "--json", json.dumps(MEMBER), check=False)
        assert proc.returncode != 0 and "locked" in proc.stderr
    finally:
        holder.execute("rollback")


def test_unwritable_lake(tmp_path):
    store = f"sqlite:{tmp_path / 'm.db'}"
    run("seed", "--store", store, "--members", 50)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    proc = run("generate", "--store", store, "--lake", blocker / "lake", check=False)
    assert proc.returncode != 0 and "a-file" in proc.stderr


def test_failure_late_in_generation_keeps_previous_snapshot(tmp_path):
    import shutil
    store = f"sqlite:{tmp_path / 'm.db'}"
    lake = tmp_path / "lake"
    run("seed", "--store", store, "--members", 200)
    first = run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    # the quarantine folder is written after every data file: make it impossible to write
    shutil.rmtree(lake / "quarantine")
    (lake / "quarantine").write_text("in the way")
    proc = run("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, check=False)
    assert proc.returncode != 0 and "quarantine" in proc.stderr
    assert (lake / "manifests" / "CURRENT").read_text().strip() == first["snapshot_id"]
    assert "verified" in run("snapshots", "verify", "--lake", lake).stdout


def test_bad_as_of(tmp_path):
    store = f"sqlite:{tmp_path / 'm.db'}"
    run("seed", "--store", store, "--members", 5)
    proc = run("generate", "--store", store, "--lake", tmp_path / "lake", "--as-of", "2026-02-30", check=False)
    assert proc.returncode == 2 and "--as-of" in proc.stderr and "2026-02-30" in proc.stderr


def test_every_command_has_help():
    for args in (["--help"], ["members", "--help"], ["members", "add", "--help"], ["seed", "--help"],
                 ["generate", "--help"], ["snapshots", "verify", "--help"], ["demo", "--help"]):
        proc = run(*args)
        assert "Usage" in proc.stdout or "usage" in proc.stdout.lower(), args


def test_registry_with_an_extra_field_works_end_to_end(tmp_path):
    text = (ROOT / "config" / "fields.toml").read_text()
    extra = '[[field]]\nname = "helm_maat"\ntype = "enum"\nvalues = ["S", "M", "L"]\n\n'
    pos = text.index("[[calculated]]")
    registry = tmp_path / "fields.toml"
    registry.write_text(text[:pos] + extra + text[pos:])
    store = f"sqlite:{tmp_path / 'm.db'}"
    lake = tmp_path / "lake"
    reg = ["--registry", str(registry)]
    run(*reg, "seed", "--store", store, "--members", 100)
    added = run_json(*reg, "members", "add", "--store", store, "--json", json.dumps({**MEMBER, "helm_maat": "l"}))
    assert added["helm_maat"] == "L"
    summary = run_json(*reg, "generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    full = pq.read_table(lake / summary["files"][0]["path"])
    assert "helm_maat" in full.schema.names
    row = [r for r in full.to_pylist() if r["member_id"] == added["member_id"]][0]
    assert row["helm_maat"] == "L"


def test_relative_lake_and_store_paths_are_relative_to_the_working_folder(tmp_path, bin_path):
    import subprocess
    for args in (["seed", "--store", "sqlite:rel.db", "--members", "50"],
                 ["generate", "--store", "sqlite:rel.db", "--lake", "rel-lake", "--as-of", AS_OF]):
        proc = subprocess.run([bin_path, *args], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "rel-lake" / "manifests" / "CURRENT").exists()
