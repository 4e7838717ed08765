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
ACCESS_KEY, SECRET_KEY = "memberlake-test", "memberlake-test-secret"


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
