"""Real servers for the AWS backends, started on loopback by the tests and stopped after:
s3proxy (an S3 server storing objects on local disk, from Maven Central) and, later, DynamoDB
Local. scripts/bootstrap.sh downloads them into ~/.cache/memberlake."""
import os
import socket
import subprocess
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


class ThrottlingProxy:
    """Forwards DynamoDB requests to a real server, answering every `every`-th one with a
    throttling error instead (as DynamoDB does under load). Real protocol on both sides."""

    def __init__(self, target: str, every: int):
        import http.server
        import threading
        import urllib.request
        proxy = self
        self.throttled = 0
        self.forwarded = 0
        self.every = every
        self.count = 0
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    proxy.count += 1
                    throttle = proxy.every > 0 and proxy.count % proxy.every == 0
                    if throttle:
                        proxy.throttled += 1
                    else:
                        proxy.forwarded += 1
                if throttle:
                    answer = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}'
                    self.send_response(400)
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

    def stop(self):
        self.server.shutdown()
