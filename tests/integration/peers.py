"""Real servers for the AWS backends, started on loopback by the tests and stopped after:
s3proxy (an S3 server storing objects on local disk, from Maven Central) and DynamoDB Local
(scripts/bootstrap.sh downloads both into ~/.cache/memberlake), moto's S3 server (PyPI) for bucket
versioning, and forwarding proxies in front
of DynamoDB Local that inject throttling or script the table's stream."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("MEMBERLAKE_CACHE", Path.home() / ".cache" / "memberlake"))
S3PROXY_JAR = CACHE / "s3proxy-4.1.0-jar-with-dependencies.jar"
ACCESS_KEY, SECRET_KEY = "memberlaketest", "memberlake-test-secret"  # DynamoDB Local wants [A-Za-z0-9] key ids


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


class S3Server:
    """s3proxy with the filesystem backend: real S3 HTTP API, SigV4, multipart uploads."""

    def __init__(self, base: Path):
        assert S3PROXY_JAR.exists(), f"run scripts/bootstrap.sh first ({S3PROXY_JAR} missing)"
        self.data = base / "s3-data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = base / "s3proxy.conf"
        self.config.write_text(
            f"s3proxy.endpoint=http://127.0.0.1:{self.port}\n"
            "s3proxy.authorization=aws-v2-or-v4\n"
            f"s3proxy.identity={ACCESS_KEY}\ns3proxy.credential={SECRET_KEY}\n"
            "jclouds.provider=filesystem\n"
            f"jclouds.filesystem.basedir={self.data}\n")
        self.log = base / "s3proxy.log"
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["java", "-jar", str(S3PROXY_JAR), "--properties", str(self.config)],
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def env(self):
        """The standard AWS credential chain, environment part, for the memberlake binary."""
        return dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                    AWS_EC2_METADATA_DISABLED="true", AWS_REGION="eu-west-1")

    def uri(self, bucket, prefix):
        return f"s3://{bucket}/{prefix}?endpoint_override=127.0.0.1:{self.port}&scheme=http&region=eu-west-1"

    def filesystem(self):
        import pyarrow.fs as pafs
        return pafs.S3FileSystem(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="eu-west-1",
                                 endpoint_override=f"127.0.0.1:{self.port}", scheme="http",
                                 allow_bucket_creation=True)

    def create_bucket(self, bucket):
        self.filesystem().create_dir(bucket)


class MotoS3(S3Server):
    """moto's standalone server (PyPI moto[server], scripts/bootstrap.sh): an S3 API with bucket
    versioning, which s3proxy's filesystem backend lacks. Objects live in its memory; list them
    with boto3 (`client()`)."""

    def __init__(self, base: Path):
        base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = base / "moto.log"
        self.proc = None
        self.start()

    def start(self):
        server = Path(sys.executable).parent / "moto_server"
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        self.proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=env)
        wait_for_port(self.port, self.proc)

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="eu-west-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def create_bucket(self, bucket, versioning=True):
        client = self.client()
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        if versioning:
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def all_versions(self, bucket):
        """Every version and delete marker of every object: (key, version id, is a delete marker)."""
        out = []
        for page in self.client().get_paginator("list_object_versions").paginate(Bucket=bucket):
            out += [(v["Key"], v["VersionId"], False) for v in page.get("Versions", [])]
            out += [(m["Key"], m["VersionId"], True) for m in page.get("DeleteMarkers", [])]
        return out


DYNAMODB_LOCAL = CACHE / "dynamodb-local"


class DynamoDbLocal:
    """DynamoDB Local (Maven Central) in memory on a free loopback port."""

    def __init__(self, base: Path):
        assert (DYNAMODB_LOCAL / "DynamoDBLocal-2.6.1.jar").exists(), "run scripts/bootstrap.sh first"
        self.port = free_port()
        self.log = base / "dynamodb-local.log"
        self.proc = subprocess.Popen(
            ["java", f"-Dsqlite4java.library.path={DYNAMODB_LOCAL}", "-cp", f"{DYNAMODB_LOCAL}/*",
             "com.amazonaws.services.dynamodbv2.local.main.ServerRunner", "-inMemory", "-port", str(self.port)],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, cwd=base)  # it writes a metadata file there
        wait_for_port(self.port, self.proc)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def uri(self, table, endpoint=None, **options):
        extra = "".join(f"&{k}={v}" for k, v in options.items())
        return f"dynamodb://{table}?endpoint={endpoint or self.endpoint}&region=eu-west-1{extra}"

    @property
    def env(self):
        return dict(os.environ, AWS_ACCESS_KEY_ID="memberlakelocal", AWS_SECRET_ACCESS_KEY="memberlake-local",
                    AWS_EC2_METADATA_DISABLED="true")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class ForwardingProxy:
    """Forwards DynamoDB requests to a real server; `intercept(target, request)` may answer one
    itself instead, as (HTTP status, JSON answer). Real protocol on both sides."""

    def __init__(self, target: str):
        import http.server
        import json
        import threading
        import urllib.request
        proxy = self
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy.lock:
                    own = proxy.intercept(self.headers.get("X-Amz-Target", ""), json.loads(body or b"{}"))
                if own is not None:
                    status, answer = own[0], json.dumps(own[1]).encode()
                else:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                    request = urllib.request.Request(target + "/", data=body, headers=headers, method="POST")
                    try:
                        with urllib.request.urlopen(request, timeout=60) as upstream:
                            answer, status = upstream.read(), upstream.status
                    except urllib.error.HTTPError as e:
                        answer, status = e.read(), e.code
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def intercept(self, target, request):
        return None

    def stop(self):
        self.server.shutdown()


def service_error(kind, message):
    return 400, {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": message}


class ThrottlingProxy(ForwardingProxy):
    """Answers every `every`-th request with a throttling error (as DynamoDB does under load)."""

    def __init__(self, target: str, every: int):
        self.throttled = 0
        self.forwarded = 0
        self.every = every
        self.count = 0
        super().__init__(target)

    def intercept(self, target, request):
        self.count += 1
        if self.every > 0 and self.count % self.every == 0:
            self.throttled += 1
            return service_error("ThrottlingException", "Rate exceeded")
        self.forwarded += 1
        return None


class ScriptedStream(ForwardingProxy):
    """DynamoDB on a real server, its stream scripted by the test: shards (with parents, open or
    closed) holding records, answered over the DynamoDB Streams API (DescribeStream,
    GetShardIterator, GetRecords). Faults on demand: TrimmedDataAccessException for the next
    iterator after a checkpoint, LimitExceededException for every `throttle_every`-th GetRecords."""

    def __init__(self, target: str):
        self.shards = {}  # id -> {"parent": id or None, "closed": bool, "records": [(seq, event, member_id)]}
        self.seq = 100
        self.trim_next = False
        self.throttle_every = 0
        self.get_records = 0
        self.throttled = 0
        self.calls = []
        super().__init__(target)

    def add_shard(self, shard, parent=None):
        with self.lock:
            self.shards[shard] = {"parent": parent, "closed": False, "records": []}

    def close(self, shard):
        with self.lock:
            self.shards[shard]["closed"] = True

    def record(self, shard, event, member_id):
        with self.lock:
            self.seq += 1
            self.shards[shard]["records"].append((f"{self.seq:021d}", event, member_id))

    def intercept(self, target, request):
        if not target.startswith("DynamoDBStreams_20120810."):
            return None
        operation = target.split(".", 1)[1]
        self.calls.append(operation)
        if operation == "DescribeStream":
            shards = []
            for shard, state in self.shards.items():
                entry = {"ShardId": shard, "SequenceNumberRange": {"StartingSequenceNumber": "0"}}
                if state["parent"]:
                    entry["ParentShardId"] = state["parent"]
                if state["closed"]:
                    entry["SequenceNumberRange"]["EndingSequenceNumber"] = f"{self.seq:021d}"
                shards.append(entry)
            return 200, {"StreamDescription": {"StreamArn": request["StreamArn"], "StreamStatus": "ENABLED",
                                               "StreamViewType": "KEYS_ONLY", "Shards": shards}}
        if operation == "GetShardIterator":
            shard = self.shards.get(request["ShardId"])
            if shard is None:
                return service_error("ResourceNotFoundException", "no such shard")
            kind = request["ShardIteratorType"]
            if kind == "AFTER_SEQUENCE_NUMBER" and self.trim_next:
                self.trim_next = False
                return service_error("TrimmedDataAccessException", "the sequence number is beyond the trim horizon")
            records = shard["records"]
            if kind == "TRIM_HORIZON":
                index = 0
            elif kind == "AFTER_SEQUENCE_NUMBER":
                index = sum(1 for seq, _, _ in records if seq <= request["SequenceNumber"])
            else:
                index = len(records)
            return 200, {"ShardIterator": f"{request['ShardId']}|{index}"}
        if operation == "GetRecords":
            self.get_records += 1
            if self.throttle_every and self.get_records % self.throttle_every == 0:
                self.throttled += 1
                return service_error("LimitExceededException", "too many GetRecords")
            shard_id, index = request["ShardIterator"].rsplit("|", 1)
            shard, index = self.shards[shard_id], int(index)
            page = shard["records"][index:index + int(request.get("Limit", 1000))]
            answer = {"Records": [{"eventID": seq, "eventName": event, "eventSource": "aws:dynamodb",
                                   "dynamodb": {"Keys": {"member_id": {"S": member_id}}, "SequenceNumber": seq,
                                                "StreamViewType": "KEYS_ONLY"}}
                                  for seq, event, member_id in page]}
            after = index + len(page)
            if not (shard["closed"] and after >= len(shard["records"])):
                answer["NextShardIterator"] = f"{shard_id}|{after}"
            return 200, answer
        return service_error("UnknownOperationException", operation)
