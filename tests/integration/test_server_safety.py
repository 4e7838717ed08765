"""Where threads and processes meet (issue 18): a fresh process's first request, and the audit
trail's durability and single writer."""
import io
import json
import os
import subprocess

import pyarrow.parquet as pq
import pytest

from conftest import AS_OF, BIN, run
from peers import S3Server
from server_support import AUDIENCE, ISSUER, SECRET, Keys, Server, start_server


def test_a_snapshot_download_as_the_first_request_of_a_process(tmp_path_factory):
    # A Lambda cold start: nothing has run a query yet (Arrow's compute kernels were once only
    # registered by the first query, so a download first answered 404 with Arrow's message).
    server = start_server(tmp_path_factory, members=300, seed=3)
    try:
        manifest_id = (server.lake / "manifests" / "CURRENT").read_text().strip()
        manifest = json.loads((server.lake / "manifests" / f"snapshot-{manifest_id}.json").read_text())
        regional = next(f for f in manifest["files"] if f["kind"] == "regional" and f["region"] == "Utrecht")
        token = server.keys.hs256(["Members_Export", "Regio_Utrecht"])
        response = server.get(f"/api/snapshots/{manifest_id}/files/{regional['path']}", token)
        assert response.status == 200, response.text
        assert "registered" not in response.text
        table = pq.read_table(io.BytesIO(response.body))
        assert table.num_rows == regional["rows"] and set(table.column("regio").to_pylist()) == {"Utrecht"}
    finally:
        assert server.stop() == 0


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3audit"))
    server.create_bucket("audit-lake")
    yield server
    server.stop()


def start_on(base, store, lake_uri, env, key="audit-key-0123456789abcdef"):
    """A server with its own folder (another machine): only the lake on S3 is shared."""
    base.mkdir(parents=True, exist_ok=True)
    config = base / "server.toml"
    config.write_text(f'''
[server]
listen = "127.0.0.1"
port = 0
[data]
store = "{store}"
lake = "{lake_uri}"
as_of = "{AS_OF}"
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
hs256_secret_env = "MEMBERLAKE_TEST_JWT_SECRET"
[audit]
key_env = "MEMBERLAKE_TEST_AUDIT_KEY"
''')
    proc = subprocess.Popen([BIN, "serve", "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(env, MEMBERLAKE_TEST_JWT_SECRET=SECRET, MEMBERLAKE_TEST_AUDIT_KEY=key))
    line = proc.stdout.readline()
    assert "listening on" in line, proc.stderr.read() if proc.poll() is not None else line
    server = Server.__new__(Server)
    server.proc, server.url = proc, line.strip().split()[-1]
    return server


def test_the_audit_trail_of_an_s3_lake_survives_the_machine_and_stays_one_chain(s3, tmp_path):
    store = f"sqlite:{tmp_path / 'members.db'}"
    run("seed", "--store", store, "--members", 200, "--seed", 5)
    lake_uri = s3.uri("audit-lake", "club")
    subprocess.run([BIN, "generate", "--store", store, "--lake", lake_uri, "--as-of", AS_OF], env=s3.env, check=True,
                   capture_output=True)
    keys = Keys()
    token = keys.hs256(["Members_Read", "Regio_Utrecht"])
    first = start_on(tmp_path / "machine-a", store, lake_uri, s3.env)
    for _ in range(3):
        assert first.get("/api/members", token).status == 200
    assert first.stop() == 0
    # Another machine (nothing local is shared) continues the same chain, next to a third writer.
    second = start_on(tmp_path / "machine-b", store, lake_uri, s3.env)
    third = start_on(tmp_path / "machine-c", store, lake_uri, s3.env)
    for _ in range(5):
        assert second.get("/api/members", token).status == 200
        assert third.get("/api/members", token).status == 200
    auditor = keys.hs256(["System_Logs_Read"])
    entries = second.get("/api/audit", auditor, params={"limit": 1000}).json()["entries"]
    assert second.stop() == 0 and third.stop() == 0
    reads = [e for e in entries if e["action"] == "member.list"]
    assert len(reads) == 13, [e["action"] for e in entries]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert not list((tmp_path / "machine-a").glob("**/audit*")), "the trail went to a local folder"
    audit_uri = s3.uri("audit-lake", "club/audit")
    env = dict(s3.env, MEMBERLAKE_TEST_AUDIT_KEY="audit-key-0123456789abcdef")
    verified = subprocess.run([BIN, "audit", "verify", "--log", audit_uri, "--key-env", "MEMBERLAKE_TEST_AUDIT_KEY",
                               "--json"], env=env, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["entries"] == len(entries)
    wrong_key = subprocess.run([BIN, "audit", "verify", "--log", audit_uri, "--key-env", "WRONG_KEY"],
                               env=dict(s3.env, WRONG_KEY="another-key-0123456789"), capture_output=True, text=True)
    assert wrong_key.returncode != 0 and "entry 1" in wrong_key.stderr


def test_the_server_finds_the_registry_like_the_cli(tmp_path):
    # $MEMBERLAKE_REGISTRY is the registry of every entry point, the server's included: one that
    # cannot be read stops the server at start instead of being ignored for the built-in one.
    config = tmp_path / "server.toml"
    config.write_text(f'[data]\nlake = "{tmp_path / "lake"}"\n[auth]\nissuer = "i"\naudience = "a"\n'
                      f'hs256_secret = "{"s" * 32}"\n')
    env = dict(os.environ, MEMBERLAKE_REGISTRY=str(tmp_path / "club-fields.toml"))
    proc = subprocess.run([BIN, "serve", "--config", str(config)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "club-fields.toml" in proc.stderr, proc.stderr
