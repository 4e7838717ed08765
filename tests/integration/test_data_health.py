"""Data health (issue 16): the deep data check proves a snapshot right, not only intact.

Each property is corrupted on purpose in a copy of a generated lake: the Parquet files are
rewritten with pyarrow and the manifest's rows, sizes and checksums fixed up, so the plain
`snapshots verify` still passes and only the deep check can notice. The deep check must name
the broken check, exit non-zero, raise the metric and fire the webhook; a clean lake passes.
The alerting rules are checked with promtool and fired by a real Prometheus server."""
import hashlib
import json
import shutil
import socket
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import AS_OF, BIN, ROOT, run, run_json
from server_support import METRICS_TOKEN, start_server
from test_server_api import wait_for

RULES = ROOT / "deploy" / "prometheus" / "memberlake-alerts.yml"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    base = tmp_path_factory.mktemp("health")
    store = f"sqlite:{base / 'members.db'}"
    lake = base / "lake"
    run("seed", "--store", store, "--members", 1500, "--seed", 16)
    summary = run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    assert summary["deep_check"]["passed"] is True
    return {"store": store, "lake": lake, "id": summary["snapshot_id"]}


@pytest.fixture
def lake(source, tmp_path):
    copy = tmp_path / "lake"
    shutil.copytree(source["lake"], copy)
    return copy


def manifest_path(lake):
    current = (lake / "manifests" / "CURRENT").read_text().strip()
    return lake / "manifests" / f"snapshot-{current}.json"


def files(lake, kind=None):
    manifest = json.loads(manifest_path(lake).read_text())
    return [f for f in manifest["files"] if kind is None or f["kind"] == kind]


def fix_manifest(lake, rel, rows=None):
    """Makes the manifest agree with the rewritten file: size, checksum and rows."""
    path = manifest_path(lake)
    manifest = json.loads(path.read_text())
    data = (lake / rel).read_bytes()
    for entry in manifest["files"]:
        if entry["path"] == rel:
            entry["bytes"] = len(data)
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            if rows is not None:
                entry["rows"] = rows
                if entry["kind"] == "full":
                    manifest["members"] = rows
    path.write_text(json.dumps(manifest, indent=2))


def rewrite(lake, rel, change):
    """Reads a lake file with pyarrow, applies change(table) and writes it back in place."""
    table = pq.ParquetFile(lake / rel).read()
    table = change(table)
    pq.write_table(table, lake / rel, compression="zstd")
    fix_manifest(lake, rel, rows=table.num_rows)


def set_value(table, column, row, value):
    values = table.column(column).to_pylist()
    values[row] = value
    index = table.schema.get_field_index(column)
    return table.set_column(index, table.schema.field(index), pa.array(values, type=table.schema.field(index).type))


def deep(lake, *extra, registry=None):
    args = (["--registry", registry] if registry else []) + ["snapshots", "verify", "--lake", lake, "--deep",
                                                              "--json", *extra]
    proc = run(*args, check=False)
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc, report


def failing(report):
    return {c["name"] for c in report["checks"] if not c["passed"]}


def check(report, name):
    return next(c for c in report["checks"] if c["name"] == name)


def plain_verify_passes(lake):
    proc = run("snapshots", "verify", "--lake", lake, check=False)
    assert proc.returncode == 0, proc.stderr


def test_a_clean_lake_passes_every_check(source):
    proc, report = deep(source["lake"], "--store", source["store"])
    assert proc.returncode == 0, proc.stderr
    assert report["passed"] is True and failing(report) == set()
    assert [c["name"] for c in report["checks"]] == ["calculated_fields", "completeness", "integrity", "schema_evolution"]
    manifest = json.loads(manifest_path(source["lake"]).read_text())
    assert check(report, "calculated_fields")["rows_checked"] == manifest["members"]
    # every file's rows were read and compared
    assert check(report, "integrity")["rows_checked"] == sum(f["rows"] for f in manifest["files"])
    assert any("live members at data_version" in n for n in check(report, "completeness")["notes"])
    text = run("snapshots", "verify", "--lake", source["lake"], "--deep").stdout
    for name in ("calculated_fields", "completeness", "integrity", "schema_evolution"):
        assert name in text


def test_a_changed_leeftijd_is_found_by_recomputing(lake):
    full = files(lake, "full")[0]["path"]
    table = pq.ParquetFile(lake / full).read()
    row = next(i for i, v in enumerate(table.column("leeftijd").to_pylist()) if v is not None)
    member = table.column("member_id")[row].as_py()
    wrong = table.column("leeftijd")[row].as_py() + 1
    # The same wrong value in every copy of the member's row, so only recomputing can tell.
    for entry in files(lake):
        t = pq.ParquetFile(lake / entry["path"]).read()
        if "leeftijd" not in t.column_names:
            continue
        ids = t.column("member_id").to_pylist()
        if member in ids:
            rewrite(lake, entry["path"], lambda t, i=ids.index(member): set_value(t, "leeftijd", i, wrong))
    plain_verify_passes(lake)
    proc, report = deep(lake)
    assert proc.returncode != 0
    assert failing(report) == {"calculated_fields"}
    calc = check(report, "calculated_fields")
    assert calc["mismatches"] == 1
    assert member in calc["problems"][0] and "leeftijd" in calc["problems"][0] and str(wrong) in calc["problems"][0]
    assert "calculated_fields" in proc.stderr


def test_a_row_removed_from_one_regional_file(lake):
    regional = next(f for f in files(lake, "regional") if f["rows"] > 10)
    table = pq.ParquetFile(lake / regional["path"]).read()
    removed = table.column("member_id")[5].as_py()
    rewrite(lake, regional["path"], lambda t: pa.concat_tables([t.slice(0, 5), t.slice(6)]))
    plain_verify_passes(lake)
    proc, report = deep(lake)
    assert proc.returncode != 0
    assert failing(report) == {"completeness"}
    problems = " ".join(check(report, "completeness")["problems"])
    assert regional["path"] in problems and removed in problems and "missing" in problems


def test_duplicated_misplaced_and_unknown_members_are_named(lake):
    # The full dataset's ids are kept as hashes; a report still names the member by id.
    full = files(lake, "full")[0]
    table = pq.ParquetFile(lake / full["path"]).read()
    twice, twice_region = table.column("member_id")[7].as_py(), table.column("regio")[7].as_py()
    rewrite(lake, full["path"], lambda t: pa.concat_tables([t.slice(0, 8), t.slice(7, 1), t.slice(8)]))
    # (the duplicate's second row is missing from its region's file too: rename in another)
    first, second = [f for f in files(lake, "regional") if f["rows"] > 10 and f["region"] != twice_region][:2]
    other = pq.ParquetFile(lake / second["path"]).read()
    misplaced = other.column("member_id")[3].as_py()
    rewrite(lake, first["path"], lambda t: pa.concat_tables([t, other.slice(3, 1).cast(t.schema)]))
    renamed = pq.ParquetFile(lake / second["path"]).read().column("member_id")[4].as_py()
    rewrite(lake, second["path"], lambda t: set_value(t, "member_id", 4, "00000000-dead-beef-0000-000000000000"))
    proc, report = deep(lake)
    assert proc.returncode != 0 and "completeness" in failing(report)
    problems = " ".join(check(report, "completeness")["problems"])
    assert f"member {twice} appears more than once" in problems, problems
    assert f"member {misplaced} does not belong in region {first['region']}" in problems, problems
    assert "member 00000000-dead-beef-0000-000000000000 is not in the full dataset" in problems, problems
    assert "missing" in problems and renamed in problems, problems


def test_a_view_row_altered(lake):
    view = next(f for f in files(lake, "view") if f["view"] == "communication-list")
    table = pq.ParquetFile(lake / view["path"]).read()
    member = table.column("member_id")[3].as_py()
    rewrite(lake, view["path"], lambda t: set_value(t, "woonplaats", 3, "Nergenshuizen"))
    plain_verify_passes(lake)
    proc, report = deep(lake)
    assert proc.returncode != 0
    assert failing(report) == {"completeness"}
    problems = check(report, "completeness")["problems"]
    assert any(member in p and "differs" in p and view["path"] in p for p in problems), problems


def test_a_truncated_page(lake):
    regional = next(f for f in files(lake, "regional") if f["rows"] > 10)
    path = lake / regional["path"]
    meta = pq.ParquetFile(path).metadata.row_group(0)
    chunk = max((meta.column(i) for i in range(meta.num_columns)), key=lambda c: c.total_compressed_size)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    end = start + chunk.total_compressed_size
    data = bytearray(path.read_bytes())
    data[end - chunk.total_compressed_size // 3:end] = bytes(chunk.total_compressed_size // 3)  # the page's tail lost
    path.write_bytes(bytes(data))
    fix_manifest(lake, regional["path"])
    plain_verify_passes(lake)
    proc, report = deep(lake)
    assert proc.returncode != 0
    assert "integrity" in failing(report)
    problems = check(report, "integrity")["problems"]
    assert any(regional["path"] in p and "unreadable" in p for p in problems), problems


def test_statistics_that_disagree_with_the_data(lake):
    """The footer's max of one column chunk lowered below its largest value: a reader would
    prune that row group for values it holds."""
    import struct
    regional = next(f for f in files(lake, "regional") if f["rows"] > 10)
    path = lake / regional["path"]
    parquet = pq.ParquetFile(path)
    column = parquet.schema_arrow.get_field_index("bouwjaar")
    stats = parquet.metadata.row_group(0).column(column).statistics
    data = bytearray(path.read_bytes())
    footer = len(data) - 8 - struct.unpack("<I", data[-8:-4])[0]
    needle, patched = struct.pack("<q", stats.max), 0
    while (at := data.find(needle, footer)) != -1:  # max and max_value in the footer's thrift
        data[at:at + 8] = struct.pack("<q", stats.max - 5)
        patched += 1
    assert patched >= 1
    path.write_bytes(bytes(data))
    assert pq.ParquetFile(path).metadata.row_group(0).column(column).statistics.max == stats.max - 5
    fix_manifest(lake, regional["path"])
    plain_verify_passes(lake)
    proc, report = deep(lake)
    assert proc.returncode != 0
    assert failing(report) == {"integrity"}
    problems = check(report, "integrity")["problems"]
    assert any(regional["path"] in p and "bouwjaar" in p and "statistics" in p for p in problems), problems


def retyped_registry(tmp_path):
    text = (ROOT / "config" / "fields.toml").read_text()
    start = text.index('name = "bouwjaar"')
    end = text.index("[[field]]", start)
    block = text[start:end]
    assert 'type = "integer"' in block
    registry = tmp_path / "retyped.toml"
    registry.write_text(text[:start] + block.replace('type = "integer"', 'type = "string"') + text[end:])
    return registry


def test_a_registry_that_retypes_a_column_is_reported_and_refused(source, lake, tmp_path):
    registry = retyped_registry(tmp_path)
    proc, report = deep(lake, registry=registry)
    assert proc.returncode != 0
    assert "schema_evolution" in failing(report)
    assert any("bouwjaar" in p for p in check(report, "schema_evolution")["problems"])
    # Refused before it is used: generation writes nothing, and the server does not start.
    before = sorted(p.name for p in (lake / "manifests").iterdir())
    refused = run("--registry", registry, "generate", "--store", source["store"], "--lake", lake, "--as-of", AS_OF,
                  check=False)
    assert refused.returncode != 0 and "bouwjaar" in refused.stderr
    assert sorted(p.name for p in (lake / "manifests").iterdir()) == before
    config = tmp_path / "server.toml"
    config.write_text(f'[data]\nlake = "{lake}"\nregistry = "{registry}"\n[auth]\napi_keys_file = "{tmp_path / "k.toml"}"\n')
    (tmp_path / "k.toml").write_text("")
    served = subprocess.run([BIN, "serve", "--config", config], capture_output=True,
                            text=True, timeout=60)
    assert served.returncode != 0 and "bouwjaar" in served.stderr


def test_an_added_field_reads_as_null_and_passes(lake, tmp_path):
    text = (ROOT / "config" / "fields.toml").read_text()
    registry = tmp_path / "added.toml"
    marker = "# Calculated fields:"
    registry.write_text(text.replace(marker, '[[field]]\nname = "schoenmaat"\ntype = "integer"\n\n' + marker, 1))
    proc, report = deep(lake, registry=registry)
    assert proc.returncode == 0, proc.stderr
    notes = " ".join(check(report, "schema_evolution")["notes"])
    assert "schoenmaat" in notes and "null" in notes


def test_generation_with_an_injected_fault_does_not_publish(source, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(source["lake"], lake)
    before_current = (lake / "manifests" / "CURRENT").read_text()
    before_files = sorted(str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file())
    proc = run("generate", "--store", source["store"], "--lake", lake, "--as-of", AS_OF, "--inject-fault-for-test",
               check=False)
    assert proc.returncode != 0
    assert "not published" in proc.stderr and "completeness" in proc.stderr
    assert (lake / "manifests" / "CURRENT").read_text() == before_current
    after_files = sorted(str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file() and ".locks" not in str(p))
    assert after_files == [f for f in before_files if ".locks" not in f]  # its files were removed
    # and without the fault the same generation publishes
    run("generate", "--store", source["store"], "--lake", lake, "--as-of", AS_OF)
    assert (lake / "manifests" / "CURRENT").read_text() != before_current


def test_generate_verify_none_skips_the_deep_check(source, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(source["lake"], lake)
    before_current = (lake / "manifests" / "CURRENT").read_text()
    # the same injected fault is published unchecked: nothing looked
    proc = run("generate", "--store", source["store"], "--lake", lake, "--as-of", AS_OF, "--inject-fault-for-test",
               "--verify=none", "--json")
    summary = json.loads(proc.stdout)
    assert "deep_check" not in summary and summary["seconds"]["check"] == 0
    assert (lake / "manifests" / "CURRENT").read_text() != before_current
    bad = run("generate", "--store", source["store"], "--lake", lake, "--as-of", AS_OF, "--verify=quick", check=False)
    assert bad.returncode != 0 and "--verify" in bad.stderr


class Receiver:
    """A small webhook receiver on loopback: answers 503 to the first `fail_first` posts."""

    def __init__(self, fail_first=1):
        self.posts, self.attempts, self.fail_first = [], 0, fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(503)
                else:
                    receiver.posts.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/memberlake"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def waited(condition, what, seconds=60):
    value = wait_for(condition, seconds)
    assert value, f"timed out waiting for {what}"
    return value


def metric(text, name, check):
    for line in text.splitlines():
        if line.startswith(f'{name}{{check="{check}"}} '):
            return float(line.split()[-1])
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_schedule_metrics_audit_webhook_and_a_real_prometheus_alert(tmp_path_factory, tmp_path):
    receiver = Receiver(fail_first=1)  # the first POST fails: the server must retry
    health = f'\n[health]\ndeep_check_interval_seconds = 1\nwebhook_url = "{receiver.url}"\nwebhook_attempts = 3\n'
    server = start_server(tmp_path_factory, members=600, seed=17, data_extra=health)
    prometheus = None
    try:
        admin = server.keys.hs256(["System_CRUD", "Regio_All"])
        # Healthy first: the schedule passes every check.
        def scraped_with_checks():
            text = server.get("/metrics").text
            return text if metric(text, "memberlake_data_check_passed", "completeness") is not None else None
        text = waited(scraped_with_checks, "a first scheduled check")
        assert metric(text, "memberlake_data_check_passed", "completeness") == 1
        assert metric(text, "memberlake_data_check_rows_checked", "calculated_fields") is None  # untrusted scraper
        trusted = server.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
        assert metric(trusted, "memberlake_data_check_rows_checked", "calculated_fields") > 0
        assert server.get("/api/health/data", server.keys.hs256(["Members_Read", "Regio_All"])).status == 403
        answer = server.get("/api/health/data", admin, params={"run": "true"})
        assert answer.status == 200 and answer.json()["passed"] is True

        # Corrupt the served lake: a member goes missing from one regional file.
        lake = server.lake
        regional = next(f for f in files(lake, "regional") if f["rows"] > 5)
        rewrite(lake, regional["path"], lambda t: t.slice(1))
        waited(lambda: metric(server.get("/metrics").text, "memberlake_data_check_passed", "completeness") == 0,
               "the metric to drop")
        text = server.get("/metrics").text
        assert metric(text, "memberlake_data_check_mismatches", "completeness") >= 1
        assert metric(text, "memberlake_data_check_passed", "calculated_fields") == 1
        post = waited(lambda: receiver.posts and receiver.posts[0], "the webhook")
        assert receiver.attempts >= 2  # retried after the 503
        assert post["event"] == "data_check_failed" and post["report"]["passed"] is False
        assert "completeness" in post["detail"]
        report = server.get("/api/health/data", admin).json()
        assert report["passed"] is False and "completeness" in {c["name"] for c in report["checks"] if not c["passed"]}
        entries = server.get("/api/audit", admin, params={"limit": 10000}).json()["entries"]
        checks = [e for e in entries if e["action"] == "health.check"]
        assert any(e["outcome"] == "ok" for e in checks) and any(e["outcome"] == "error" for e in checks)

        # A real Prometheus scrapes the server and fires the shipped rule.
        port = free_port()
        host = server.url.split("://")[1]
        token_file = tmp_path / "token"
        token_file.write_text(METRICS_TOKEN)
        config = tmp_path / "prometheus.yml"
        config.write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{RULES}"]
scrape_configs:
  - job_name: memberlake
    authorization:
      credentials_file: {token_file}
    static_configs:
      - targets: ["{host}"]
""")
        prometheus = subprocess.Popen(["/usr/bin/prometheus", f"--config.file={config}",
                                       f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                       f"--web.listen-address=127.0.0.1:{port}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def firing():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5) as r:
                    alerts = json.load(r)["data"]["alerts"]
            except OSError:
                return None
            return [a for a in alerts if a["labels"]["alertname"] == "MemberlakeDataCheckFailed"
                    and a["state"] == "firing"]
        alerts = waited(firing, "the Prometheus alert", seconds=90)
        assert {a["labels"]["check"] for a in alerts} == {"completeness"}
        assert "mismatches" in alerts[0]["annotations"]["description"]
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(timeout=30)
        receiver.stop()
        assert server.stop() == 0


def test_alerting_rules_pass_promtool():
    checked = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(["promtool", "test", "rules", str(RULES.with_name("memberlake-alerts_test.yml"))],
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_template_alarms_notify_the_alert_topic():
    from cfnlint.decode import cfn_yaml
    template = cfn_yaml.load(str(ROOT / "deploy" / "template.yaml"))
    resources = template["Resources"]
    assert resources["AlertTopic"]["Type"] == "AWS::SNS::Topic"
    alarms = {name: r["Properties"] for name, r in resources.items()
              if isinstance(r, dict) and r.get("Type") == "AWS::CloudWatch::Alarm"}
    metrics = {(p["Namespace"], p["MetricName"]) for p in alarms.values()}
    # failed generation, failed data check, stale snapshot, live lag, audit failures
    assert metrics == {("AWS/Lambda", "Errors"), ("Memberlake", "DataCheckFailed"), ("Memberlake", "SnapshotAgeSeconds"),
                       ("AWS/Lambda", "IteratorAge"), ("Memberlake", "AuditAppendFailures")}
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": "AlertTopic"}]
    events = resources["GenerateFunction"]["Properties"]["Events"]
    assert json.loads(events["DeepCheck"]["Properties"]["Input"]) == {"action": "deep_check"}
    lint = subprocess.run([str(Path(__import__("sys").executable).parent / "cfn-lint"), str(ROOT / "deploy" / "template.yaml")],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_the_lambda_deep_check_event_reports_cloudwatch_metrics(source, lake):
    import os
    from test_lambda import RuntimeApi, start
    regional = next(f for f in files(lake, "regional") if f["rows"] > 5)
    rewrite(lake, regional["path"], lambda t: t.slice(1))
    api = RuntimeApi()
    try:
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api.address, MEMBERLAKE_STORE=source["store"],
                   MEMBERLAKE_LAKE=str(lake))
        proc = start(env, "--max-invocations", "1")
        api.invoke("h1", {"action": "deep_check"})
        kind, body, _ = api.wait("h1")
        assert kind == "response" and body["passed"] is False
        assert {c["name"] for c in body["checks"] if not c["passed"]} == {"completeness"}
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{") and "_aws" in line]
        failed = {line["Check"]: line["DataCheckFailed"] for line in lines if "Check" in line}
        assert failed == {"calculated_fields": 0, "completeness": 1, "integrity": 0, "schema_evolution": 0}
        assert lines[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Memberlake"
        assert any("SnapshotAgeSeconds" in line for line in lines)
    finally:
        api.server.shutdown()
