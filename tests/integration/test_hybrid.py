"""Hybrid reads: snapshot at V plus the live store's changes after V equal a fresh snapshot."""
import json
import time

import pytest

from conftest import AS_OF, run, run_json

NEW_MEMBER = {"voornaam": "Nieuw", "achternaam": "Lid", "email": "nieuw@example.nl", "status": "Actief",
              "lidmaatschap": "Gewoon lid", "regio": "Utrecht", "geboortedatum": "1980-01-01",
              "ingangsdatum": "2025-06-01", "clubblad": "Digitaal"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("hybrid")
    store = f"sqlite:{base / 'm.db'}"
    run("seed", "--store", store, "--members", 3000, "--seed", 9)
    run("generate", "--store", store, "--lake", base / "before", "--as-of", AS_OF)
    members = run_json("members", "list", "--store", store, "--limit", 3000)
    # members the reports can tell apart by lidnummer (the club's data has members without one)
    utrecht = [m for m in members if m.get("regio") == "Utrecht" and m.get("status") == "Actief"
               and isinstance(m.get("lidnummer"), int) and m["lidnummer"] > 0]
    moved, demoted, deleted = utrecht[0], utrecht[1], utrecht[2]
    added = run_json("members", "add", "--store", store, "--json", json.dumps(NEW_MEMBER))
    run("members", "update", "--store", store, moved["member_id"], "--expected-version", moved["_version"],
        "--json", '{"regio": "Oost"}')
    run("members", "update", "--store", store, demoted["member_id"], "--expected-version", demoted["_version"],
        "--json", '{"status": "Opgezegd"}')
    run("members", "delete", "--store", store, deleted["member_id"], "--expected-version", deleted["_version"])
    # the truth: a snapshot generated after the changes, with the same reference date
    run("generate", "--store", store, "--lake", base / "after", "--as-of", AS_OF)
    return {"store": store, "before": base / "before", "after": base / "after", "added": added,
            "moved": moved, "demoted": demoted, "deleted": deleted}


def report(name, *args):
    return run_json("report", name, "--format", "json", *args)


@pytest.mark.parametrize("name", ["regional-stats", "member-overview", "email-list", "age-distribution"])
@pytest.mark.parametrize("region", [None, "Utrecht", "Oost"])
def test_hybrid_equals_a_fresh_snapshot(world, name, region):
    scope = ["--region", region] if region else []
    hybrid = report(name, "--lake", world["before"], "--store", world["store"], *scope)
    fresh = report(name, "--lake", world["after"], "--snapshot-only", *scope)
    assert hybrid["rows"] == fresh["rows"]
    assert hybrid["source"] == "hybrid"
    assert hybrid["live_data_version"] > hybrid["data_version"] == 3000


def test_changes_show_up_with_the_right_scope(world):
    def ids(*args):
        rows = report("member-overview", "--lake", world["before"], *args)["rows"]
        return {r["lidnummer"] for r in rows}

    live = ["--store", world["store"]]
    utrecht, oost = ids(*live, "--region", "Utrecht"), ids(*live, "--region", "Oost")
    assert world["added"]["lidnummer"] in utrecht
    assert world["moved"]["lidnummer"] in oost and world["moved"]["lidnummer"] not in utrecht
    assert world["deleted"]["lidnummer"] not in utrecht | oost
    old_utrecht = ids("--snapshot-only", "--region", "Utrecht")
    assert world["moved"]["lidnummer"] in old_utrecht and world["added"]["lidnummer"] not in old_utrecht
    demoted = [r for r in report("member-overview", "--lake", world["before"], *live, "--region", "Utrecht")["rows"]
               if r["lidnummer"] == world["demoted"]["lidnummer"]]
    assert demoted[0]["status"] == "Opgezegd"


def test_live_only_equals_a_fresh_snapshot(world):
    live = report("regional-stats", "--store", world["store"], "--live-only", "--as-of", AS_OF)
    fresh = report("regional-stats", "--lake", world["after"], "--snapshot-only")
    assert live["rows"] == fresh["rows"] and live["source"] == "live"


def copy_lake(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return dst


def test_fallback_when_the_snapshot_is_missing_corrupt_or_old(world, tmp_path):
    fresh = report("regional-stats", "--lake", world["after"], "--snapshot-only")["rows"]
    args = ["--store", world["store"], "--as-of", AS_OF]
    # no snapshot at all
    empty = tmp_path / "empty"
    empty.mkdir()
    result = report("regional-stats", "--lake", empty, *args)
    assert result["source"] == "live" and "no snapshot" in result["fallback_reason"] and result["rows"] == fresh
    # a file that no longer matches its manifest
    broken = copy_lake(world["before"], tmp_path / "broken")
    manifest = json.loads((broken / "manifests" / "CURRENT").read_text().strip() and
                          (broken / "manifests" / f"snapshot-{(broken / 'manifests' / 'CURRENT').read_text().strip()}.json").read_text())
    full = broken / [f for f in manifest["files"] if f["kind"] == "full"][0]["path"]
    full.write_bytes(full.read_bytes()[:-100])
    result = report("regional-stats", "--lake", broken, *args)
    assert result["source"] == "live" and "does not match its manifest" in result["fallback_reason"]
    assert result["rows"] == fresh
    # same size, different bytes: only the checksum sees it
    flipped = copy_lake(world["before"], tmp_path / "flipped")
    full = flipped / full.relative_to(broken)
    data = bytearray(full.read_bytes())
    data[len(data) // 2] ^= 0xFF
    full.write_bytes(bytes(data))
    result = report("regional-stats", "--lake", flipped, *args, "--verify")
    assert result["source"] == "live" and "checksum" in result["fallback_reason"]
    # too old
    time.sleep(1.1)
    result = report("regional-stats", "--lake", world["before"], *args, "--max-snapshot-age", "1")
    assert result["source"] == "live" and "old" in result["fallback_reason"] and result["rows"] == fresh
