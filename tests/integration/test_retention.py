"""Retention by purpose (issue 17): rules per status in the [retention] section of the server
config, read by `memberlake retention --config` and applied by the server's lifecycle after each
generation; the `anonymise` action keeps only k-anonymous counts in history/. Checked
independently: the store by SQL, every kept Parquet file by pyarrow, the statistics and the
audit trail as plain JSON."""
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import AS_OF
from test_privacy import KEY, assert_lake_clean, build_lake, manifest, member_ids, ml, pseudonym, snapshot_ids

RULES = """
[retention]
dry_run = {dry_run}
k = 5
rules = [
  {{ status = "Opgezegd", years = 7, action = "anonymise" }},
  {{ status = "Geschorst", years = 2, action = "erase" }},
]
"""


def make_old(db: Path):
    """Members who left long ago, shaped so the statistics have one group of five and a rest of
    four (k = 5): five from Utrecht born 1960 who left in 2016, four from Limburg who left in
    2015-2017; two suspended in 2019; one who left recently and stays. Written by SQL, so the
    store's own code decides nothing here."""
    con = sqlite3.connect(db)
    left = [r[0] for r in con.execute(
        "SELECT member_id FROM members WHERE status IN ('Opgezegd', 'Heeft opgezegd') ORDER BY member_id")]
    suspended = [r[0] for r in con.execute("SELECT member_id FROM members WHERE status = 'Geschorst' ORDER BY member_id")]
    assert len(left) >= 10 and len(suspended) >= 2
    for mid in left[:5]:
        con.execute("UPDATE members SET regio = 'Utrecht', geboortedatum = '1960-05-05', "
                    "updated_at = '2016-03-01T10:00:00' WHERE member_id = ?", (mid,))
    for i, mid in enumerate(left[5:9]):
        con.execute("UPDATE members SET regio = 'Limburg', geboortedatum = ?, updated_at = ? WHERE member_id = ?",
                    (f"19{50 + 10 * i}-01-02", f"201{5 + i % 3}-06-01T08:00:00", mid))
    con.execute("UPDATE members SET updated_at = '2024-06-01T08:00:00' WHERE member_id = ?", (left[9],))
    for mid in suspended[:2]:
        con.execute("UPDATE members SET updated_at = '2019-02-01T08:00:00' WHERE member_id = ?", (mid,))
    # Everyone else of those statuses changed recently: not due.
    rest = left[10:] + suspended[2:]
    con.executemany("UPDATE members SET updated_at = '2025-12-01T08:00:00' WHERE member_id = ?", [(m,) for m in rest])
    con.commit()
    rows = {r[0]: dict(zip([d[0] for d in con.execute("SELECT * FROM members LIMIT 0").description], r))
            for r in con.execute("SELECT * FROM members")}
    con.close()
    return left[:9], suspended[:2], left[9], rows


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp("retention")
    build_lake(base, snapshots=2)
    (base / "audit").mkdir()
    return base


def copy_of(pristine, tmp_path):
    shutil.copytree(pristine, tmp_path / "w")
    work = tmp_path / "w"
    anonymised, erased, stays, rows = make_old(work / "members.db")
    return work, anonymised, erased, stays, rows


def store_ids(work):
    con = sqlite3.connect(work / "members.db")
    ids = {r[0] for r in con.execute("SELECT member_id FROM members")}
    con.close()
    return ids


def audit_entries(path: Path, action):
    return [json.loads(line) for line in path.read_text().splitlines() if f'"action":"{action}"' in line]


def statistics_rows(lake: Path):
    return [json.loads(line) for f in sorted((lake / "history" / "retention_statistics").glob("*.jsonl"))
            for line in f.read_text().splitlines()]


def assert_statistics(lake: Path, anonymised, rows, runs=1):
    stats = statistics_rows(lake)
    files = list((lake / "history" / "retention_statistics").glob("*.jsonl"))
    assert len(files) == runs
    # Every anonymised member is counted exactly once; nobody else is.
    assert sum(r["members"] for r in stats) == len(anonymised)
    # No group with any attribute is below k; the one smaller rest says nothing about anyone.
    for r in stats:
        dims = [r["leave_year"], r["regio"], r["age_band"], r["status"]]
        assert r["members"] >= r["k"] == 5 or dims == ["*"] * 4, r
    assert {"leave_year": "2016", "regio": "Utrecht", "age_band": "50-59", "status": "Opgezegd", "members": 5} \
        .items() <= next(r for r in stats if r["regio"] == "Utrecht").items()
    assert not any(r["regio"] == "Limburg" for r in stats)  # four of them: below k, generalised away
    assert sorted(stats[0]) == ["age_band", "as_of", "k", "leave_year", "members", "regio", "run_id", "status"]
    # No identifier of any member, erased or not, is in the file.
    text = "\n".join(f.read_text() for f in files)
    for mid in anonymised:
        member = rows[mid]
        for value in (mid, pseudonym(mid), member["voornaam"], member["achternaam"], member["email"],
                      member["straat"], member["geboortedatum"]):
            if value not in (None, ""):
                assert str(value) not in text, value


def assert_gone(work, lake, gone, stays):
    ids = store_ids(work)
    assert not ids & set(gone) and stays in ids
    for sid in snapshot_ids(lake):
        for f in manifest(lake, sid)["files"]:
            assert not set(gone) & set(member_ids(lake / f["path"])), f["path"]


def test_cli_reads_the_config_dry_run_first_then_applies(pristine, tmp_path):
    work, anonymised, erased, stays, rows = copy_of(pristine, tmp_path)
    store, lake, audit = f"sqlite:{work / 'members.db'}", work / "lake", work / "audit" / "audit.log"
    config = work / "server.toml"
    config.write_text("[data]\nkeep_snapshots = 3\n" + RULES.format(dry_run="false"))
    common = ["retention", "--config", config, "--store", store, "--lake", lake, "--audit-log", audit,
              "--as-of", AS_OF, "--json"]
    dry = json.loads(ml(*common, "--dry-run").stdout)
    assert dry["dry_run"] and dry["as_of"] == AS_OF and dry["count"] == len(anonymised) + len(erased)
    by_status = {r["status"]: r for r in dry["rules"]}
    assert by_status["Opgezegd"]["action"] == "anonymise" and by_status["Opgezegd"]["count"] == len(anonymised)
    assert by_status["Geschorst"]["action"] == "erase" and by_status["Geschorst"]["count"] == len(erased)
    assert {m["member_id"] for m in dry["members"]} == set(anonymised) | set(erased)
    assert store_ids(work) >= set(anonymised) | set(erased)  # nothing changed
    assert not (lake / "history").exists()
    # The dry run is audited, by pseudonym only.
    [entry] = audit_entries(audit, "retention.dry_run")
    assert entry["rows"] == dry["count"]
    assert set(json.loads(entry["detail"])["rules"][0]["pseudonyms"]) == {pseudonym(m) for m in anonymised}
    assert not any(m in json.dumps(entry) for m in anonymised + erased)
    # The reference date decides (the suspended of 2019 are not due two years on at the end of 2020),
    # and --rule replaces the config's rule for its status.
    early = json.loads(ml(*common[:-3], "--as-of", "2020-12-31", "--json", "--dry-run",
                          "--rule", "Opgezegd=99").stdout)
    assert early["count"] == 0
    # Applied.
    done = json.loads(ml(*common).stdout)
    assert not done["dry_run"] and done["count"] == len(anonymised) + len(erased)
    assert_gone(work, lake, anonymised + erased, stays)
    assert_statistics(lake, anonymised, rows)
    assert done["statistics"]["path"].startswith("history/retention_statistics/")
    [entry] = audit_entries(audit, "retention.apply")
    detail = json.loads(entry["detail"])
    assert {r["status"]: r["count"] for r in detail["rules"]} == {"Opgezegd": 9, "Geschorst": 2}
    assert not any(m in json.dumps(entry) for m in anonymised + erased)
    erasures = audit_entries(audit, "member.erase")
    assert {e["target"] for e in erasures} == {pseudonym(m) for m in anonymised + erased}
    assert all("retention: " in e["detail"] for e in erasures)
    # Member ids are UUIDs: none may be left in any file of the lake (names are shared with others).
    assert_lake_clean(lake, anonymised + erased)
    # A second run finds nobody and writes no statistics.
    assert json.loads(ml(*common).stdout)["count"] == 0
    assert_statistics(lake, anonymised, rows)
    bad = config.with_name("bad.toml")
    bad.write_text('[retention]\nrules = [{ status = "Opgezegd", years = 7, action = "shred" }]\n')
    failed = ml("retention", "--config", bad, "--store", store, "--lake", lake, "--audit-log", audit, check=False)
    assert failed.returncode == 2 and "shred" in failed.stderr


@pytest.mark.parametrize("step", ["retention-journaled", "retention-statistics", "completed@3"])
def test_killed_run_neither_loses_nor_double_counts(pristine, tmp_path, step):
    work, anonymised, erased, stays, rows = copy_of(pristine, tmp_path)
    store, lake, audit = f"sqlite:{work / 'members.db'}", work / "lake", work / "audit" / "audit.log"
    config = work / "server.toml"
    config.write_text(RULES.format(dry_run="false"))
    args = ["retention", "--config", config, "--store", store, "--lake", lake, "--audit-log", audit,
            "--as-of", AS_OF, "--json"]
    killed = ml(*args, "--test-step", f"{step}=crash", check=False)
    assert killed.returncode == -9, killed.stderr
    ml(*args)
    assert_gone(work, lake, anonymised + erased, stays)
    stats = statistics_rows(lake)
    assert sum(r["members"] for r in stats) == len(anonymised)
    assert not list((lake / "privacy").rglob("*.json"))  # journals done


def wait_job(server, token, job_id):
    for _ in range(600):
        job = server.get(f"/api/jobs/{job_id}", token).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def test_the_server_lifecycle_applies_the_rules_after_each_generation(pristine, tmp_path):
    from server_support import Keys, Server
    work, anonymised, erased, stays, rows = copy_of(pristine, tmp_path)
    store, lake = f"sqlite:{work / 'members.db'}", work / "lake"
    keys_file = work / "api_keys.toml"
    keys_file.write_text("# keys\n")
    os.environ["MEMBERLAKE_PSEUDONYM_KEY"] = KEY
    extra = 'keep_snapshots = 2\n[privacy]\npseudonym_key_env = "MEMBERLAKE_PSEUDONYM_KEY"\n'
    keys = Keys()
    admin = keys.hs256(["Members_CRUD", "Regio_All"])
    # First the dry run: reported and audited, nothing changes.
    server = Server(work, store, lake, keys, keys_file, data_extra=extra + RULES.format(dry_run="true"))
    try:
        job = wait_job(server, admin, server.request("POST", "/api/generate", admin).json()["job_id"])
        assert job["state"] == "succeeded", job
        assert "dry run" in job["lifecycle"] and str(len(anonymised) + len(erased)) in job["lifecycle"]
    finally:
        assert server.stop() == 0
    [dry] = audit_entries(server.audit, "retention.dry_run")
    assert dry["actor"] == "lifecycle" and dry["rows"] == len(anonymised) + len(erased)
    assert json.loads(dry["detail"])["as_of"] == AS_OF  # the server's pinned reference date
    assert store_ids(work) >= set(anonymised) | set(erased)
    # Then for real.
    server = Server(work, store, lake, keys, keys_file, data_extra=extra + RULES.format(dry_run="false"))
    try:
        job = wait_job(server, admin, server.request("POST", "/api/generate", admin).json()["job_id"])
        assert job["state"] == "succeeded" and "lifecycle_error" not in job, job
        # The erased are gone from the API at once (caches emptied).
        assert server.get(f"/api/members/{anonymised[0]}", admin).status == 404
    finally:
        assert server.stop() == 0
    assert len(snapshot_ids(lake)) == 2  # keep_snapshots applied in the same lifecycle
    assert_gone(work, lake, anonymised + erased, stays)
    assert_statistics(lake, anonymised, rows)
    [applied] = audit_entries(server.audit, "retention.apply")
    assert applied["rows"] == len(anonymised) + len(erased) and applied["outcome"] == "ok"
    assert not any(m in json.dumps(applied) for m in anonymised + erased)
    finish = audit_entries(server.audit, "generate.finish")[-1]
    assert "retention: 11 member(s)" in finish["detail"]


def test_lambda_applies_the_rules_after_its_generation(pristine, tmp_path):
    """On Lambda the generation runs outside the server's jobs; its lifecycle applies the same
    [retention] rules of MEMBERLAKE_SERVER_CONFIG after each generation, audited alike."""
    from test_lambda import RuntimeApi, start
    work, anonymised, erased, stays, rows = copy_of(pristine, tmp_path)
    store, lake, audit = f"sqlite:{work / 'members.db'}", work / "lake", work / "audit" / "lambda.log"
    config = work / "lambda.toml"
    config.write_text(f'[data]\nstore = "{store}"\nlake = "{lake}"\nas_of = "{AS_OF}"\n'
                      f'[auth]\nissuer = "i"\naudience = "a"\nhs256_secret = "{"s" * 32}"\n'
                      f'[audit]\npath = "{audit}"\n'
                      '[privacy]\npseudonym_key_env = "MEMBERLAKE_PSEUDONYM_KEY"\n' + RULES.format(dry_run="false"))
    api = RuntimeApi()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api.address, MEMBERLAKE_STORE=store, MEMBERLAKE_LAKE=str(lake),
               MEMBERLAKE_SERVER_CONFIG=str(config), MEMBERLAKE_PSEUDONYM_KEY=KEY)
    proc = start(env, "--max-invocations", "1")
    try:
        api.invoke("g1", {"action": "generate", "as_of": AS_OF})
        kind, body, _ = api.wait("g1")
        assert kind == "response" and "lifecycle_error" not in body, body
        assert "retention: 11 member(s)" in body["lifecycle"], body
        assert proc.wait(timeout=60) == 0
    finally:
        api.server.shutdown()
        if proc.poll() is None:
            proc.kill()
    assert_gone(work, lake, anonymised + erased, stays)
    assert_statistics(lake, anonymised, rows)
    [applied] = audit_entries(audit, "retention.apply")
    assert applied["actor"] == "lifecycle" and applied["rows"] == len(anonymised) + len(erased)
    assert not any(m in json.dumps(applied) for m in anonymised + erased)
