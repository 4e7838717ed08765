"""The HTTP API's behaviour against a real server: member CRUD with scoping, bad input,
ETags, generation jobs, the audit trail and `memberlake audit verify`, concurrency while a
generation runs, and a graceful shutdown."""
import json
import shutil
import subprocess
import threading
import time

import pytest

from conftest import BIN, run
from server_support import METRICS_TOKEN, serve, start_server

OWN, OTHER = "Utrecht", "Groningen/Drenthe"
NEW = {"voornaam": "Ëlla", "achternaam": "van Dijk", "email": "ella.api@example.nl", "status": "Actief",
       "lidmaatschap": "Gewoon lid", "regio": OWN, "geboortedatum": "1984-03-02",
       "ingangsdatum": "2024-05-01", "clubblad": "Digitaal"}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    yield from serve(tmp_path_factory, members=2000, seed=5)


def crud(api):
    return api.keys.hs256(["Members_CRUD", f"Regio_{OWN}"])


def admin(api):
    return api.keys.hs256(["Members_CRUD", "Regio_All"])


def test_create_read_update_delete_within_scope(api):
    token = crud(api)
    created = api.request("POST", "/api/members", token, body=NEW)
    assert created.status == 201, created.text
    member = created.json()
    assert member["regio"] == OWN and member["voornaam"] == "Ëlla"
    member_id, version = member["member_id"], member["_version"]
    assert created.headers["Location"] == f"/api/members/{member_id}"
    # It shows up in the list right away (lake + live delta).
    listed = api.get("/api/members", token, params={"where": "email=ella.api@example.nl"}).json()
    assert [r["member_id"] for r in listed["rows"]] == [member_id]
    assert listed["source"] == "hybrid"
    # Stale version: 409, nothing changed.
    stale = api.request("PATCH", f"/api/members/{member_id}", token, body={"woonplaats": "Utrecht"},
                        headers={"If-Match": f'"{version + 1000}"'})
    assert stale.status == 409
    updated = api.request("PATCH", f"/api/members/{member_id}", token, body={"woonplaats": "Utrecht"},
                          headers={"If-Match": f'"{version}"'})
    assert updated.status == 200 and updated.json()["woonplaats"] == "Utrecht"
    # Moving the member out of the caller's scope is refused and changes nothing.
    moved = api.request("PATCH", f"/api/members/{member_id}", token,
                        body={"regio": OTHER, "_version": updated.json()["_version"]})
    assert moved.status == 403, moved.text
    assert api.get(f"/api/members/{member_id}", token).json()["regio"] == OWN
    # Another region's caller cannot see, change or delete it: 404, like a member that does not exist.
    other = api.keys.hs256(["Members_CRUD", "Regio_Limburg"])
    assert api.get(f"/api/members/{member_id}", other).status == 404
    assert api.request("DELETE", f"/api/members/{member_id}", other,
                       params={"version": updated.json()["_version"]}).status == 404
    deleted = api.request("DELETE", f"/api/members/{member_id}", token, params={"version": updated.json()["_version"]})
    assert deleted.status == 204
    assert api.get(f"/api/members/{member_id}", token).status == 404


def test_create_outside_scope_is_refused(api):
    response = api.request("POST", "/api/members", crud(api), body=dict(NEW, regio=OTHER, email="x.api@example.nl"))
    assert response.status == 403
    assert api.get("/api/members", admin(api), params={"where": "email=x.api@example.nl"}).json()["rows"] == []


def test_status_approver_changes_status_only(api):
    approver = api.keys.hs256(["Members_Status_Approve", f"Regio_{OWN}"])
    member = api.get("/api/members", approver, params={"limit": 1}).json()["rows"][0]
    current = api.get(f"/api/members/{member['member_id']}", approver).json()
    other_field = api.request("PATCH", f"/api/members/{member['member_id']}", approver,
                              body={"woonplaats": "Elders", "_version": current["_version"]})
    assert other_field.status == 403
    ok = api.request("PATCH", f"/api/members/{member['member_id']}", approver,
                     body={"status": "Geschorst", "_version": current["_version"]})
    assert ok.status == 200, ok.text
    assert ok.json()["status"] == "Geschorst"
    # Restricted fields never reach a role without restricted access.
    assert "bankrekeningnummer" not in ok.json() and "notities" not in ok.json()


@pytest.mark.parametrize("body,problem", [
    (b"{not json", "JSON"),
    (json.dumps(dict(NEW, schoenmaat="44")).encode(), "schoenmaat"),
    (json.dumps(dict(NEW, lidmaatschap="Platina lid")).encode(), "lidmaatschap"),
    (json.dumps(dict(NEW, geboortedatum="1984-02-30")).encode(), "geboortedatum"),
    (json.dumps([NEW]).encode(), "object"),
])
def test_bad_member_input_is_400_naming_the_problem_and_writes_nothing(api, body, problem):
    before = api.get("/api/members", admin(api), params={"limit": 1}).json()["total"]
    response = api.request("POST", "/api/members", crud(api), body=body)
    assert response.status == 400, response.text
    assert problem.lower() in response.json()["error"]["message"].lower()
    assert api.get("/api/members", admin(api), params={"limit": 1}).json()["total"] == before


def test_oversize_body_is_413(api):
    response = api.request("POST", "/api/members", crud(api), body=b"{" + b" " * 70000 + b"}")
    assert response.status == 413
    assert response.json()["error"]["status"] == 413


@pytest.mark.parametrize("path,params,problem", [
    ("/api/members", {"limit": "abc"}, "limit"),
    ("/api/members", {"limit": "-1"}, "limit"),
    ("/api/members", {"colour": "red"}, "colour"),
    ("/api/members", {"where": "schoenmaat=44"}, "schoenmaat"),
    ("/api/members", {"region": "Atlantis"}, "Atlantis"),
    ("/api/reports/birthdays", {"month": "13"}, "month"),
    ("/api/reports/regional-stats", {"format": "pdf"}, "pdf"),
    ("/api/reports/no-such-report", {}, "no-such-report"),
    ("/api/query", {"where": "geboortedatum=2001-02-30"}, "2001-02-30"),
])
def test_bad_query_parameters(api, path, params, problem):
    response = api.get(path, admin(api), params=params)
    assert response.status in (400, 404), response.text
    assert problem in response.json()["error"]["message"]


def test_etag_and_if_none_match(api):
    token = admin(api)
    first = api.get("/api/reports/regional-stats", token)
    etag = first.headers["ETag"]
    again = api.get("/api/reports/regional-stats", token, headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    # Another caller's view has another tag.
    regional = api.get("/api/reports/regional-stats", api.keys.hs256(["Members_Read", f"Regio_{OWN}"]))
    assert regional.headers["ETag"] != etag
    # A live change moves the data version: the old tag no longer matches.
    created = api.request("POST", "/api/members", token, body=dict(NEW, email="etag.api@example.nl"))
    assert created.status == 201
    after = api.get("/api/reports/regional-stats", token, headers={"If-None-Match": etag})
    assert after.status == 200 and after.headers["ETag"] != etag


def test_generation_job_and_audit_trail(api, tmp_path):
    token = admin(api)
    before = api.get("/api/snapshots", token).json()["current"]
    started = api.request("POST", "/api/generate", token, params={"as_of": "2026-01-07"}, body=b"")
    assert started.status == 202, started.text
    job_id = started.json()["job_id"]
    deadline = time.time() + 120
    while True:
        job = api.get(f"/api/jobs/{job_id}", token).json()
        if job["state"] in ("succeeded", "failed") or time.time() > deadline:
            break
        time.sleep(0.2)
    assert job["state"] == "succeeded", job
    assert job["checked"] is True  # the deep check ran before publishing (data.verify = "deep")
    assert api.get("/api/snapshots", token).json()["current"] == job["snapshot_id"] != before
    # A regional caller may not generate nor read jobs.
    regional = crud(api)
    assert api.request("POST", "/api/generate", regional, body=b"").status == 403
    assert api.get(f"/api/jobs/{job_id}", regional).status == 403

    # Audited actions: export, download, member reads and mutations, generation (and denials).
    api.get("/api/reports/member-overview", token, params={"format": "csv"})
    snapshot = api.get("/api/snapshots", token).json()["snapshots"][-1]
    regional_file = next(f for f in snapshot["files"] if f["kind"] == "regional")
    # Members in scope: each member once (the full dataset), not again for every regional file.
    full_rows = next(f["rows"] for f in snapshot["files"] if f["kind"] == "full")
    assert snapshot["members_in_scope"] == full_rows == snapshot["members"]
    regional_snapshot = api.get("/api/snapshots", regional).json()["snapshots"][-1]
    assert regional_snapshot["members_in_scope"] == sum(
        f["rows"] for f in regional_snapshot["files"] if f["kind"] == "regional") < full_rows
    assert api.get(regional_file["url"], token).status == 200
    auditor = api.keys.hs256(["System_Logs_Read"])
    entries = api.get("/api/audit", auditor, params={"limit": 10000}).json()["entries"]
    actions = {e["action"] for e in entries}
    assert {"member.create", "member.update", "member.delete", "member.read", "member.list", "generate",
            "generate.finish", "report.export", "snapshot.download"} <= actions, actions
    denied = [e for e in entries if e["outcome"] == "denied"]
    assert any(e["action"] == "generate" for e in denied)
    export = next(e for e in entries if e["action"] == "report.export")
    assert export["actor"] and export["roles"] == ["Members_CRUD", "Regio_All"] and export["rows"] > 0
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    # The audit log is not for member roles.
    assert api.get("/api/audit", token).status == 403

    # `memberlake audit verify` passes on the live log and fails on edited, removed or reordered copies.
    log = api.audit
    assert run("audit", "verify", "--log", log).returncode == 0
    lines = log.read_text().splitlines(keepends=True)
    assert len(lines) >= 5

    def verify_copy(new_lines):
        copy = tmp_path / f"audit-{len(list(tmp_path.iterdir()))}.log"
        copy.write_text("".join(new_lines))
        head = log.with_name(log.name + ".head")
        if head.exists():
            shutil.copy(head, copy.with_name(copy.name + ".head"))
        return run("audit", "verify", "--log", copy, check=False)

    edited = list(lines)
    edited[2] = edited[2].replace('"actor":"', '"actor":"X', 1)
    assert edited[2] != lines[2]
    assert verify_copy(edited).returncode != 0
    assert verify_copy(lines[:2] + lines[3:]).returncode != 0
    assert verify_copy(lines[:2] + [lines[3], lines[2]] + lines[4:]).returncode != 0
    assert verify_copy(lines).returncode == 0


def test_readers_see_no_error_and_no_mixed_snapshot_while_generating(api):
    token = admin(api)
    regional = api.keys.hs256(["Members_Read", f"Regio_{OWN}"])
    reference = api.get("/api/reports/regional-stats", token).json()["rows"]
    reference_list = api.get("/api/members", regional, params={"limit": 20}).json()
    failures, seen = [], set()
    stop = threading.Event()

    def reader(i):
        while not stop.is_set():
            stats = api.get("/api/reports/regional-stats", token)
            page = api.get("/api/members", regional, params={"limit": 20})
            if stats.status != 200 or page.status != 200:
                failures.append((stats.status, page.status, stats.text[:200], page.text[:200]))
                continue
            doc = stats.json()
            seen.add(doc["snapshot_id"])
            if doc["rows"] != reference:
                failures.append(("stats differ", doc["snapshot_id"]))
            listed = page.json()
            if [r["member_id"] for r in listed["rows"]] != [r["member_id"] for r in reference_list["rows"]] \
                    or listed["total"] != reference_list["total"]:
                failures.append(("list differs", listed["snapshot_id"]))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    started = api.request("POST", "/api/generate", token, params={"as_of": "2026-01-07"}, body=b"")
    assert started.status == 202, started.text
    job_id = started.json()["job_id"]
    while api.get(f"/api/jobs/{job_id}", token).json()["state"] in ("queued", "running"):
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    assert api.get(f"/api/jobs/{job_id}", token).json()["snapshot_id"] in seen


def test_graceful_shutdown(tmp_path_factory):
    server = start_server(tmp_path_factory, members=300, seed=3)
    token = server.keys.hs256(["Members_Read", "Regio_All"])
    assert server.get("/api/reports/regional-stats", token).status == 200
    assert server.stop() == 0
    assert "server stopped" in server.proc.stderr.read()
    lines = (server.base / "access.log").read_text().splitlines()
    entry = json.loads(lines[-1])
    assert entry["path"] == "/api/reports/regional-stats" and entry["status"] == 200 and entry["actor"]
    assert run("audit", "verify", "--log", server.audit).returncode == 0


def test_generation_prunes_old_snapshots_when_configured(tmp_path_factory):
    # also unchecked: data.verify = "none" publishes without the deep check
    server = start_server(tmp_path_factory, members=300, seed=4, data_extra='keep_snapshots = 1\nverify = "none"')
    try:
        token = server.keys.hs256(["Members_CRUD", "Regio_All"])
        first = server.get("/api/snapshots", token).json()["current"]
        jobs = []
        for _ in range(2):
            started = server.request("POST", "/api/generate", token, body=b"")
            assert started.status == 202, started.text
            job_id = started.json()["job_id"]
            job = wait_for(lambda: (j := server.get(f"/api/jobs/{job_id}", token).json())["state"] in
                           ("succeeded", "failed") and j, 120)
            assert job, "the generation job did not finish"
            jobs.append(job)
        assert [j["state"] for j in jobs] == ["succeeded", "succeeded"]
        assert [j["checked"] for j in jobs] == [False, False]
        assert jobs[0]["pruned_snapshots"] == [first] and jobs[1]["pruned_snapshots"] == [jobs[0]["snapshot_id"]]
        listed = server.get("/api/snapshots", token).json()
        assert [s["snapshot_id"] for s in listed["snapshots"]] == [jobs[1]["snapshot_id"]] == [listed["current"]]
        assert server.get("/api/reports/regional-stats", token).status == 200
        auditor = server.keys.hs256(["System_Logs_Read"])
        entries = server.get("/api/audit", auditor, params={"limit": 1000}).json()["entries"]
        finished = [e for e in entries if e["action"] == "generate.finish"]
        assert len(finished) == 2 and all("pruned 1 old snapshot(s)" in json.dumps(e) for e in finished), finished
        metrics = server.get("/metrics").text
        assert metric(metrics, 'memberlake_generations_total{outcome="succeeded"}') == 2
        assert metric(metrics, "memberlake_generation_duration_seconds_count") == 2
    finally:
        server.stop()


def metric(text, series):
    """The value of the line for `series` (name plus labels) in Prometheus text; None if absent."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ")[-1])
    return None


def test_metrics_count_requests_by_route_and_carry_no_member_data(api):
    token = admin(api)
    members = api.get("/api/members", token, params={"limit": 3}).json()["rows"]
    member = members[0]
    assert api.get(f"/api/members/{member['member_id']}", token).status == 200
    assert api.get("/api/reports/regional-stats", token).status in (200, 304)
    assert api.get("/api/reports/regional-stats", token).status == 200
    assert api.get("/api/reports/regional-stats").status == 401
    before = api.get("/metrics")
    assert before.status == 200 and before.headers["Content-Type"].startswith("text/plain")
    text = before.text
    ok = metric(text, 'memberlake_http_requests_total{route="/api/reports/{name}",method="GET",status="200"}')
    assert ok >= 2
    assert metric(text, 'memberlake_http_requests_total{route="/api/reports/{name}",method="GET",status="401"}') >= 1
    assert metric(text, 'memberlake_http_requests_total{route="/api/members/{id}",method="GET",status="200"}') >= 1
    # histograms are cumulative and end in +Inf = count
    prefix = 'memberlake_http_request_duration_seconds_bucket{route="/api/reports/{name}",method="GET",le='
    buckets = [float(line.split(" ")[-1]) for line in text.splitlines() if line.startswith(prefix)]
    assert buckets == sorted(buckets) and buckets[-1] == metric(
        text, 'memberlake_http_request_duration_seconds_count{route="/api/reports/{name}",method="GET"}')
    # the snapshot and the live store, as the API reports them to the trusted scraper
    text = api.get("/metrics", METRICS_TOKEN).text
    current = api.get("/api/snapshots", token).json()
    manifest = json.loads((api.lake / "manifests" / f"snapshot-{current['current']}.json").read_text())
    assert metric(text, "memberlake_snapshot_data_version") == manifest["data_version"]
    assert metric(text, "memberlake_live_changes_since_snapshot") == (
        metric(text, "memberlake_live_data_version") - manifest["data_version"])
    assert 0 <= metric(text, "memberlake_snapshot_age_seconds") < 24 * 3600
    # no member data, whatever was asked
    for row in members:
        for value in (row["member_id"], row.get("email"), row.get("achternaam")):
            assert not value or value not in text
    # a repeated report is a cache hit
    hits = metric(text, "memberlake_response_cache_hits_total")
    assert api.get("/api/reports/regional-stats", token).status == 200
    assert metric(api.get("/metrics").text, "memberlake_response_cache_hits_total") > hits


def wait_for(predicate, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return None


def generations_by(server, trigger):
    auditor = server.keys.hs256(["System_Logs_Read"])
    entries = server.get("/api/audit", auditor, params={"limit": 1000}).json()["entries"]
    return [e for e in entries if e["action"] == "generate.finish" and trigger in json.dumps(e)]


def test_on_change_trigger_generates_after_a_burst_of_edits(tmp_path_factory):
    server = start_server(tmp_path_factory, members=300, seed=6,
                          data_extra="[triggers]\non_change_min_changes = 2\non_change_quiet_seconds = 1")
    try:
        token = server.keys.hs256(["Members_CRUD", "Regio_All"])
        first = server.get("/api/snapshots", token).json()["current"]
        one = dict(NEW, email="trigger.one@example.nl")
        assert server.request("POST", "/api/members", token, body=one).status == 201
        time.sleep(3)  # one change is below the minimum: no generation
        assert server.get("/api/snapshots", token).json()["current"] == first
        two = dict(NEW, email="trigger.two@example.nl")
        assert server.request("POST", "/api/members", token, body=two).status == 201
        current = wait_for(lambda: (c := server.get("/api/snapshots", token).json()["current"]) != first and c, 60)
        assert current, "no generation after two changes and a quiet second"
        manifest = json.loads((server.lake / "manifests" / f"snapshot-{current}.json").read_text())
        live = metric(server.get("/metrics", METRICS_TOKEN).text, "memberlake_live_data_version")
        assert manifest["data_version"] == live  # both changes are in the snapshot
        listed = server.get("/api/members", token, params={"where": "email in trigger.one@example.nl|trigger.two@example.nl"})
        assert len(listed.json()["rows"]) == 2
        assert wait_for(lambda: generations_by(server, "trigger:on-change"), 10)
        time.sleep(2)  # nothing waits any more: no further generation
        assert server.get("/api/snapshots", token).json()["current"] == current
    finally:
        server.stop()


def test_scheduled_trigger_generates_every_interval(tmp_path_factory):
    server = start_server(tmp_path_factory, members=200, seed=8, data_extra="[triggers]\nevery_seconds = 1")
    try:
        assert wait_for(lambda: len(generations_by(server, "trigger:schedule")) >= 2, 60)
        token = server.keys.hs256(["Members_CRUD", "Regio_All"])
        assert len(server.get("/api/snapshots", token).json()["snapshots"]) >= 3
    finally:
        assert server.stop() == 0  # stops cleanly with the trigger thread running


def test_address_labels_as_pdf_through_the_api(api):
    token = api.keys.hs256(["Communication_Export", f"Regio_{OWN}"])
    labels = api.get("/api/reports/address-stickers", token, params={"format": "pdf"})
    assert labels.status == 200 and labels.headers["Content-Type"].startswith("application/pdf")
    assert labels.body.startswith(b"%PDF-1.4") and labels.body.rstrip().endswith(b"%%EOF")
    rows = api.get("/api/reports/address-stickers", token, params={"format": "json"}).json()["rows"]
    assert rows and all(r["regio"] == OWN for r in rows)
    assert labels.body.count(b" Tj\n") == len(rows)  # one label per row of the caller's region
    auditor = api.keys.hs256(["System_Logs_Read"])
    entries = api.get("/api/audit", auditor, params={"limit": 10000}).json()["entries"]
    assert any(e["action"] == "report.export" and "pdf" in json.dumps(e) for e in entries)
