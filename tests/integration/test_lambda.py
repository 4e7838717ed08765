"""`memberlake lambda` against a local implementation of the Lambda Runtime API (the same HTTP
protocol Lambda speaks to custom runtimes): success, handler error, init error and timeout."""
import base64
import http.server
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import AS_OF, BIN, run

ROUTE = "/2018-06-01/runtime"


class RuntimeApi:
    """Hands out queued events on /invocation/next and records responses and errors."""

    def __init__(self):
        self.events = queue.Queue()
        self.results = {}
        self.init_error = None
        self.done = threading.Condition()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                assert self.path == f"{ROUTE}/invocation/next", self.path
                request_id, event, deadline_ms = api.events.get()
                payload = event if isinstance(event, bytes) else json.dumps(event).encode()  # bytes: sent as is
                self.reply(200, payload, {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:eu-west-1:123:function:memberlake",
                    "Content-Type": "application/json"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = self.path[len(ROUTE):].strip("/").split("/")
                with api.done:
                    if parts[0] == "init":
                        api.init_error = (json.loads(body), self.headers.get("Lambda-Runtime-Function-Error-Type"))
                    else:
                        kind = parts[2]  # response | error
                        api.results[parts[1]] = (kind, json.loads(body),
                                                 self.headers.get("Lambda-Runtime-Function-Error-Type"))
                    api.done.notify_all()
                self.reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, request_id, event, timeout_ms=120000):
        self.events.put((request_id, event, int(time.time() * 1000) + timeout_ms))

    def wait(self, request_id, timeout=120):
        with self.done:
            assert self.done.wait_for(lambda: request_id in self.results, timeout=timeout), f"no answer to {request_id}"
            return self.results[request_id]


@pytest.fixture
def world(tmp_path):
    store = f"sqlite:{tmp_path / 'members.db'}"
    run("seed", "--store", store, "--members", 3000, "--seed", 8)
    api = RuntimeApi()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api.address, MEMBERLAKE_STORE=store,
               MEMBERLAKE_LAKE=str(tmp_path / "lake"), MEMBERLAKE_DEADLINE_MARGIN_MS="200")
    yield api, env, tmp_path / "lake", store
    api.server.shutdown()


def start(env, *args):
    return subprocess.Popen([BIN, "lambda", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_scheduled_and_on_demand_generation_and_handler_errors(world):
    api, env, lake, _ = world
    proc = start(dict(env, MEMBERLAKE_KEEP_SNAPSHOTS="1"), "--max-invocations", "4")
    api.invoke("r1", {"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
                      "time": "2026-11-25T03:00:00Z", "detail": {"as_of": AS_OF}})
    kind, body, _ = api.wait("r1")
    assert kind == "response" and body["trigger"] == "schedule"
    assert body["deep_check"]["passed"] is True  # checked before publishing by default
    current = (lake / "manifests" / "CURRENT").read_text().strip()
    assert body["snapshot_id"] == current
    manifest = json.loads((lake / "manifests" / f"snapshot-{current}.json").read_text())
    assert manifest["as_of"] == AS_OF and manifest["members"] > 2500

    api.invoke("r2", {"action": "generate", "as_of": "2026-02-01"})
    kind, body, _ = api.wait("r2")
    assert kind == "response" and body["trigger"] == "on-demand" and body["snapshot_id"] != current
    assert body["retention"]["expired_snapshots"] == [current]  # MEMBERLAKE_KEEP_SNAPSHOTS=1
    assert not (lake / "manifests" / f"snapshot-{current}.json").exists()

    api.invoke("r3", {"action": "generate", "as_of": "2026-02-30"})
    kind, body, error_type = api.wait("r3")
    assert kind == "error" and error_type == "Runtime.InvalidEvent" and "2026-02-30" in body["errorMessage"]

    api.invoke("r4", {"hello": "world"})
    kind, body, _ = api.wait("r4")
    assert kind == "error" and "unknown event" in body["errorMessage"]
    assert proc.wait(timeout=60) == 0
    run("snapshots", "verify", "--lake", lake)


def test_a_dynamodb_stream_batch_triggers_a_generation(world):
    api, env, lake, _ = world
    proc = start(dict(env, MEMBERLAKE_VERIFY="none"), "--max-invocations", "1")
    record = {"eventSource": "aws:dynamodb", "eventName": "MODIFY", "awsRegion": "eu-west-1",
              "dynamodb": {"Keys": {"member_id": {"S": "00000000-0000-0000-0000-000000000001"}},
                           "StreamViewType": "KEYS_ONLY", "SequenceNumber": "1"}}
    api.invoke("s1", {"Records": [record, dict(record, eventName="INSERT")]})
    kind, body, _ = api.wait("s1")
    assert kind == "response" and body["trigger"] == "on-change", body
    assert "deep_check" not in body  # MEMBERLAKE_VERIFY=none: published unchecked
    assert (lake / "manifests" / "CURRENT").read_text().strip() == body["snapshot_id"]
    assert proc.wait(timeout=60) == 0


def test_timeout_is_reported_and_the_lake_keeps_its_snapshot(world, tmp_path):
    api, env, lake, _ = world
    run("generate", "--store", env["MEMBERLAKE_STORE"], "--lake", lake, "--as-of", AS_OF)
    before = (lake / "manifests" / "CURRENT").read_text()
    big = f"sqlite:{tmp_path / 'big.db'}"
    run("seed", "--store", big, "--members", 150000, "--seed", 8)
    spill_root = tmp_path / "lambda-tmp"  # /tmp of a warm Lambda outlives the process
    spill_root.mkdir()
    env = dict(env, MEMBERLAKE_STORE=big, TMPDIR=str(spill_root))
    proc = start(env)
    api.invoke("slow", {"action": "generate", "as_of": AS_OF}, timeout_ms=700)
    kind, body, error_type = api.wait("slow")
    assert kind == "error" and body["errorType"] == "Timeout" and error_type == "Runtime.Timeout"
    assert proc.wait(timeout=60) != 0  # the process ends; Lambda would start a fresh one
    assert (lake / "manifests" / "CURRENT").read_text() == before
    run("snapshots", "verify", "--lake", lake)
    left = [p.name for p in spill_root.iterdir()]
    assert len(left) == 1 and left[0].startswith("memberlake-spill-"), left  # the cut-off generation's spill
    # The next generation in the same (warm) sandbox removes it.
    subprocess.run([BIN, "generate", "--store", env["MEMBERLAKE_STORE"], "--lake", str(lake), "--as-of", AS_OF],
                   env=env, check=True, capture_output=True, timeout=300)
    assert list(spill_root.iterdir()) == []


def test_init_error_is_reported(world):
    api, env, _, _ = world
    env = dict(env, MEMBERLAKE_REGISTRY="/nonexistent/fields.toml")
    proc = start(env)
    assert proc.wait(timeout=60) != 0
    body, error_type = api.init_error
    assert error_type == "Runtime.InitError" and "fields.toml" in body["errorMessage"]


def test_an_unknown_verify_setting_is_an_init_error(world):
    api, env, _, _ = world
    proc = start(dict(env, MEMBERLAKE_VERIFY="shallow"))
    assert proc.wait(timeout=60) != 0
    body, error_type = api.init_error
    assert error_type == "Runtime.InitError" and "MEMBERLAKE_VERIFY" in body["errorMessage"]


def test_api_gateway_requests_go_through_the_same_api(world, tmp_path):
    from server_support import AUDIENCE, ISSUER, SECRET, Keys
    api, env, lake, store = world
    run("generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    config = tmp_path / "server.toml"
    config.write_text(f'[data]\nstore = "{store}"\nlake = "{lake}"\nas_of = "{AS_OF}"\n'
                      f'[auth]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\nhs256_secret = "{SECRET}"\n'
                      f'[audit]\npath = "{tmp_path / "audit.log"}"\n')
    proc = start(dict(env, MEMBERLAKE_SERVER_CONFIG=str(config)), "--max-invocations", "4")
    keys = Keys()

    def http_event(path, groups, query=None):
        return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
                "headers": {"authorization": f"Bearer {keys.hs256(groups)}"},
                "queryStringParameters": query or {},
                "requestContext": {"http": {"method": "GET", "path": path}}, "isBase64Encoded": False}

    api.invoke("h1", http_event("/api/reports/regional-stats", ["Members_Read", "Regio_Utrecht"]))
    kind, body, _ = api.wait("h1")
    assert kind == "response" and body["statusCode"] == 200
    rows = json.loads(body["body"])["rows"]
    assert rows and {r["regio"] for r in rows} == {"Utrecht"}
    api.invoke("h2", http_event("/api/reports/regional-stats", ["Members_Read", "Regio_Utrecht"], {"region": "Limburg"}))
    kind, body, _ = api.wait("h2")
    assert kind == "response" and body["statusCode"] == 403
    # Streamed bodies (a snapshot file, a CSV export) are collected whole into the answer.
    snapshot = (Path(lake) / "manifests" / "CURRENT").read_text().strip()
    manifest = json.loads((Path(lake) / "manifests" / f"snapshot-{snapshot}.json").read_text())
    full = next(f for f in manifest["files"] if f["kind"] == "full")
    api.invoke("h3", http_event(f"/api/snapshots/{snapshot}/files/{full['path']}", ["System_CRUD"]))
    kind, body, _ = api.wait("h3")
    assert kind == "response" and body["statusCode"] == 200 and body["isBase64Encoded"]
    assert base64.b64decode(body["body"]) == (Path(lake) / full["path"]).read_bytes()
    api.invoke("h4", http_event("/api/query", ["Members_CRUD", "Regio_All"], {"select": "member_id", "format": "csv"}))
    kind, body, _ = api.wait("h4")
    assert kind == "response" and body["statusCode"] == 200 and not body["isBase64Encoded"]
    assert len(body["body"].lstrip("\ufeff").splitlines()) == full["rows"] + 1
    assert proc.wait(timeout=60) == 0


# Events of every JSON type where the handler expects a particular one, and payloads that are no
# JSON at all: each gets an error answer, and the process serves the next invocation.
MALFORMED_EVENTS = [
    {"source": 5}, {"source": None, "action": 7}, {"action": ["generate"]}, {"action": {"x": 1}},
    {"action": "generate", "as_of": 20260101}, {"source": "aws.events", "detail": {"as_of": 5}, "as_of": []},
    {"Records": [5]}, {"Records": [{"eventSource": 1}]}, {"Records": "x"}, {"Records": [None]},
    {"requestContext": 5, "rawPath": 7}, {"requestContext": {"http": 5}, "rawPath": "/health"},
    {"requestContext": {}, "path": 5, "httpMethod": [], "headers": 5, "body": {}},
    {"requestContext": {"http": {"method": 5}}, "rawPath": "/api/me", "headers": {"authorization": 5},
     "queryStringParameters": {"a": 5, "b": [1, None]}, "body": "!!", "isBase64Encoded": True},
    {"requestContext": {"http": {"method": "GET"}}, "rawPath": "/health", "isBase64Encoded": "yes"},
    [], [1, 2], "text", 5, 1.5, None, True, b"{not json", b"\xff\xfe\x00", b"",
]


def test_malformed_events_get_error_answers_and_never_end_the_process(world, tmp_path):
    api, env, lake, store = world
    config = tmp_path / "server.toml"
    config.write_text(f'[data]\nstore = "{store}"\nlake = "{lake}"\nas_of = "{AS_OF}"\n'
                      f'[auth]\nissuer = "i"\naudience = "a"\nhs256_secret = "{"s" * 32}"\n'
                      f'[audit]\npath = "{tmp_path / "audit.log"}"\n')
    proc = start(dict(env, MEMBERLAKE_SERVER_CONFIG=str(config)), "--max-invocations", str(len(MALFORMED_EVENTS) + 1))
    for number, event in enumerate(MALFORMED_EVENTS):
        api.invoke(f"bad{number}", event)
        kind, body, _ = api.wait(f"bad{number}")
        assert proc.poll() is None, f"the runtime died on {event!r}: {proc.stderr.read()}"
        if kind == "error":
            assert body["errorMessage"], event
        else:  # an API Gateway event the service itself answers (e.g. 401 without a usable token)
            assert isinstance(body["statusCode"], int) and body["statusCode"] < 500, (event, body)
    api.invoke("good", {"action": "generate", "as_of": AS_OF})
    kind, body, _ = api.wait("good")
    assert kind == "response" and body["trigger"] == "on-demand"
    assert proc.wait(timeout=60) == 0
