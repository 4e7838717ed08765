"""The live store on DynamoDB Local (real DynamoDB HTTP API on loopback): CRUD with optimistic
concurrency, change tracking for hybrid reads, parallel scans, and end to end: DynamoDB ->
S3 lake equals SQLite -> local disk. Throttling is injected by a forwarding proxy."""
import json
import subprocess

import pyarrow.parquet as pq

from conftest import AS_OF, BIN, run
from peers import S3Server, ThrottlingProxy

NEW = {"voornaam": "Dirk", "achternaam": "de Vries", "email": "dirk.ddb@example.nl", "status": "Actief",
       "lidmaatschap": "Gewoon lid", "regio": "Limburg", "geboortedatum": "1975-04-03",
       "ingangsdatum": "2020-02-01", "clubblad": "Papier"}


def ml(env, *args, check=True, input=None):
    proc = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=env, input=input, timeout=600)
    if check:
        assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc


def full_rows(lake_fs, lake_root, manifest):
    full = next(f for f in manifest["files"] if f["kind"] == "full")
    table = pq.read_table(f"{lake_root}/{full['path']}", filesystem=lake_fs) if lake_fs else \
        pq.read_table(f"{lake_root}/{full['path']}")
    return sorted(table.to_pylist(), key=lambda r: r["member_id"])


def test_dynamodb_to_s3_equals_sqlite_to_disk(ddb, tmp_path):
    s3 = S3Server(tmp_path / "s3")
    try:
        s3.create_bucket("club")
        env = dict(ddb.env, AWS_ACCESS_KEY_ID=s3.env["AWS_ACCESS_KEY_ID"],
                   AWS_SECRET_ACCESS_KEY=s3.env["AWS_SECRET_ACCESS_KEY"])
        store = ddb.uri("EndToEnd", segments=4)
        ml(env, "seed", "--store", store, "--members", 4000, "--seed", 31)
        sqlite = f"sqlite:{tmp_path / 'm.db'}"
        run("seed", "--store", sqlite, "--members", 4000, "--seed", 31)
        remote = json.loads(ml(env, "generate", "--store", store, "--lake", s3.uri("club", "lake"), "--as-of", AS_OF,
                               "--json").stdout)
        local = json.loads(run("generate", "--store", sqlite, "--lake", tmp_path / "lake", "--as-of", AS_OF,
                               "--json").stdout)
        fs = s3.filesystem()
        remote_manifest = json.loads(fs.open_input_stream(f"club/lake/{remote['manifest']}").read())
        local_manifest = json.loads((tmp_path / "lake" / local["manifest"]).read_text())
        assert remote_manifest["members"] == local_manifest["members"] and remote_manifest["quarantined"] == local_manifest["quarantined"]
        remote_rows = full_rows(fs, "club/lake", remote_manifest)
        local_rows = full_rows(None, tmp_path / "lake", local_manifest)
        assert len(remote_rows) == len(local_rows) > 3000
        assert remote_rows == local_rows
    finally:
        s3.stop()


def test_crud_conflicts_and_hybrid_reads(ddb, tmp_path):
    env = ddb.env
    store = ddb.uri("Crud")
    ml(env, "seed", "--store", store, "--members", 500, "--seed", 2)
    lake = tmp_path / "lake"
    ml(env, "generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    member = json.loads(ml(env, "members", "add", "--store", store, "--json", json.dumps(NEW)).stdout)
    assert member["lidnummer"] > 500 and member["regio"] == "Limburg"
    got = json.loads(ml(env, "members", "get", "--store", store, member["member_id"]).stdout)
    assert got == member
    stale = ml(env, "members", "update", "--store", store, member["member_id"], "--expected-version",
               member["_version"] - 1, "--json", '{"regio": "Utrecht"}', check=False)
    assert stale.returncode == 4 and "version conflict" in stale.stderr
    moved = json.loads(ml(env, "members", "update", "--store", store, member["member_id"], "--expected-version",
                          member["_version"], "--json", '{"regio": "Utrecht"}').stdout)
    assert moved["regio"] == "Utrecht" and moved["_version"] > member["_version"]
    bad = ml(env, "members", "update", "--store", store, member["member_id"], "--expected-version",
             moved["_version"], "--json", '{"lidmaatschap": "Platina"}', check=False)
    assert bad.returncode == 2 and "lidmaatschap" in bad.stderr
    # Hybrid: the snapshot plus DynamoDB's changes since it.
    query = ["query", "--lake", lake, "--store", store, "--where", "email=dirk.ddb@example.nl", "--select",
             "member_id,regio", "--format", "json"]
    utrecht = json.loads(ml(env, *query, "--region", "Utrecht").stdout)
    assert [r["regio"] for r in utrecht["rows"]] == ["Utrecht"] and utrecht["source"] == "hybrid"
    assert json.loads(ml(env, *query, "--region", "Limburg").stdout)["rows"] == []
    ml(env, "members", "delete", "--store", store, member["member_id"], "--expected-version", moved["_version"])
    assert json.loads(ml(env, *query).stdout)["rows"] == []
    missing = ml(env, "members", "get", "--store", store, member["member_id"], check=False)
    assert missing.returncode == 3


def test_throttling_is_retried_and_a_failed_generation_keeps_the_previous_snapshot(ddb, tmp_path):
    env = ddb.env
    ml(env, "seed", "--store", ddb.uri("Throttled"), "--members", 3000, "--seed", 4)
    lake = tmp_path / "lake"
    first = json.loads(ml(env, "generate", "--store", ddb.uri("Throttled"), "--lake", lake, "--as-of", AS_OF,
                          "--json").stdout)
    current = (lake / "manifests" / "CURRENT").read_text()
    proxy = ThrottlingProxy(ddb.endpoint, every=2)
    try:
        # Without retries the throttled scan fails, and the lake keeps its snapshot.
        failed = ml(env, "generate", "--store", ddb.uri("Throttled", endpoint=proxy.endpoint, max_attempts=1),
                    "--lake", lake, "--as-of", AS_OF, check=False)
        assert failed.returncode != 0 and "ThrottlingException" in failed.stderr
        assert (lake / "manifests" / "CURRENT").read_text() == current
        ml(env, "snapshots", "verify", "--lake", lake)
        # With retries (backoff and jitter) the same throttling is ridden out.
        throttled_before = proxy.throttled
        again = json.loads(ml(env, "generate", "--store", ddb.uri("Throttled", endpoint=proxy.endpoint), "--lake",
                              lake, "--as-of", AS_OF, "--json").stdout)
        assert proxy.throttled > throttled_before
        assert again["manifest"] != first["manifest"]
        manifest = json.loads((lake / again["manifest"]).read_text())
        assert manifest["members"] == json.loads((lake / first["manifest"]).read_text())["members"]
    finally:
        proxy.stop()


def test_missing_table_and_credentials_are_clear_errors(ddb, tmp_path):
    missing = ml(ddb.env, "generate", "--store", ddb.uri("NoSuchTable"), "--lake", tmp_path / "l", check=False)
    assert missing.returncode != 0 and "NoSuchTable" in missing.stderr and "not found" in missing.stderr
    env = {k: v for k, v in ddb.env.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)
    nocreds = ml(env, "members", "list", "--store", ddb.uri("Crud"), check=False)
    assert nocreds.returncode != 0 and "AWS credentials" in nocreds.stderr and "instance metadata" in nocreds.stderr


def test_concurrent_writers_each_get_their_own_version(ddb, tmp_path):
    """Writes are transactions that move the data_version counter from the value they read:
    writers racing for it retry, and every change gets exactly one version, logged with it."""
    env = ddb.env
    store = ddb.uri("Concurrent")
    ml(env, "seed", "--store", store, "--members", 20, "--seed", 4)
    script = (
        "set -e\n"
        f"for i in $(seq 1 8); do {BIN} members add --store '{store}' "
        "--json \"{\\\"voornaam\\\": \\\"W$1\\\", \\\"achternaam\\\": \\\"Race$i\\\", \\\"email\\\": \\\"w$1.$i@example.nl\\\", "
        "\\\"status\\\": \\\"Actief\\\", \\\"lidmaatschap\\\": \\\"Gewoon lid\\\", \\\"regio\\\": \\\"Oost\\\"}\" > /dev/null; done\n")
    writers = [subprocess.Popen(["bash", "-c", script, "writer", str(w)], env=env, stderr=subprocess.PIPE, text=True)
               for w in range(4)]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    summary = json.loads(ml(env, "generate", "--store", store, "--lake", tmp_path / "lake", "--as-of", AS_OF,
                            "--json").stdout)
    assert summary["data_version"] == 20 + 4 * 8  # one version per change, none lost or doubled
    listed = json.loads(ml(env, "members", "list", "--store", store, "--limit", 1000).stdout)
    assert len(listed) == 52
    versions = sorted(m["_version"] for m in listed if m["achternaam"].startswith("Race"))
    assert len(versions) == len(set(versions)) == 32 and versions[-1] <= 52
    numbers = [m["lidnummer"] for m in listed if isinstance(m.get("lidnummer"), int)]
    assert len(numbers) == len(set(numbers))


class CredentialsEndpoint:
    """A fake EC2 instance metadata service (IMDSv2) and ECS container credentials endpoint on
    loopback, handing out temporary credentials DynamoDB Local accepts."""

    def __init__(self, valid_minutes=60):
        import datetime
        import http.server
        import threading
        endpoint = self
        self.calls = []
        self.valid_minutes = valid_minutes
        self.malformed = False

        def credentials():
            if endpoint.malformed:  # every value of the wrong JSON type
                return json.dumps({"Code": "Success", "AccessKeyId": 5, "SecretAccessKey": ["x"], "Token": {},
                                   "Expiration": 7}).encode()
            expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=endpoint.valid_minutes)
            # one key id: DynamoDB Local keeps separate tables per key id
            return json.dumps({"Code": "Success", "AccessKeyId": "ASIAFAKEROLE",
                               "SecretAccessKey": "fake-secret", "Token": "fake-session-token",
                               "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body=b""):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                endpoint.calls.append(("PUT", self.path, dict(self.headers)))
                if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self.answer(200, b"imds-session-token")
                self.answer(400)

            def do_GET(self):
                endpoint.calls.append(("GET", self.path, dict(self.headers)))
                if self.path.startswith("/latest/"):
                    if self.headers.get("X-aws-ec2-metadata-token") != "imds-session-token":
                        return self.answer(401)  # IMDSv2 only
                    if self.path == "/latest/meta-data/iam/security-credentials/":
                        return self.answer(200, b"memberlake-role")
                    if self.path == "/latest/meta-data/iam/security-credentials/memberlake-role":
                        return self.answer(200, credentials())
                if self.path == "/v2/credentials/task" and self.headers.get("Authorization") == "task-secret":
                    return self.answer(200, credentials())
                self.answer(403)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def without_keys(ddb, tmp_path, **extra):
    env = {k: v for k, v in ddb.env.items() if not k.startswith("AWS_")}
    env.update({"HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true", **extra})
    return env


def test_instance_and_container_credentials(ddb, tmp_path):
    endpoint = CredentialsEndpoint()
    try:
        store = ddb.uri("RoleCredentials")
        imds = without_keys(ddb, tmp_path, AWS_EC2_METADATA_DISABLED="false",
                            AWS_EC2_METADATA_SERVICE_ENDPOINT=endpoint.url)
        ml(imds, "seed", "--store", store, "--members", 30, "--seed", 9)
        assert ("PUT", "/latest/api/token") in [(m, p) for m, p, _ in endpoint.calls]
        role = [h for m, p, h in endpoint.calls if p.endswith("/memberlake-role")]
        assert role and role[0]["X-aws-ec2-metadata-token"] == "imds-session-token"
        task = without_keys(ddb, tmp_path, AWS_CONTAINER_CREDENTIALS_FULL_URI=endpoint.url + "/v2/credentials/task",
                            AWS_CONTAINER_AUTHORIZATION_TOKEN="task-secret")
        assert len(json.loads(ml(task, "members", "list", "--store", store, "--limit", 100).stdout)) == 30
        wrong = dict(task, AWS_CONTAINER_AUTHORIZATION_TOKEN="not-the-secret")
        refused = ml(wrong, "members", "list", "--store", store, check=False)
        assert refused.returncode != 0 and "container credentials" in refused.stderr and "403" in refused.stderr
        # Credentials about to expire are fetched again before requests go out.
        endpoint.valid_minutes = 2
        before = len(endpoint.calls)
        ml(imds, "members", "list", "--store", store, "--limit", 100)
        ml(imds, "seed", "--store", ddb.uri("RoleCredentials2"), "--members", 60, "--seed", 9)
        fetched = [p for m, p, _ in endpoint.calls[before:] if p.endswith("/memberlake-role")]
        assert len(fetched) > 2
        # An answer with values of the wrong JSON types is a clear error, not a dead process.
        endpoint.malformed = True
        odd = ml(task, "members", "list", "--store", store, check=False)
        assert odd.returncode > 0, odd  # an exit code, not a signal
        assert "no credentials in the answer" in odd.stderr, odd.stderr
    finally:
        endpoint.stop()
