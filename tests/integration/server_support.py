"""A real `memberlake serve` on loopback, with real tokens: HS256 and RS256 (a JWKS file), and
an API key made by the CLI. The server is started by the fixture and stopped with SIGTERM."""
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import BIN, AS_OF, run, run_json

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_memberlake"
AUDIENCE = "memberlake-dashboard"
SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
METRICS_TOKEN = "scraper-token-0123456789abcdef"  # the trusted scraper's (server.metrics_token_env)
FRONTEND = "https://leden.example.nl"  # the club's frontend (server.cors_origins)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.rsa.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        self.jwks = {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                               "n": b64url(n), "e": b64url(e)}]}
        self.public_pem = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def claims(self, groups, **overrides):
        now = int(time.time())
        claims = {"sub": "user-" + "-".join(groups or ["none"]), "iss": ISSUER, "aud": AUDIENCE,
                  "iat": now, "exp": now + 600, "cognito:groups": list(groups)}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def hs256(self, groups, **overrides):
        return jwt.encode(self.claims(groups, **overrides), SECRET, algorithm="HS256")

    def rs256(self, groups, **overrides):
        return jwt.encode(self.claims(groups, **overrides), self.rsa, algorithm="RS256",
                          headers={"kid": "k1"})

    @staticmethod
    def raw(header: dict, claims: dict, signing_key: bytes | None) -> str:
        """A token assembled by hand (for attacks PyJWT refuses to make)."""
        head = b64url(json.dumps(header).encode())
        body = b64url(json.dumps(claims).encode())
        signing_input = f"{head}.{body}".encode()
        if signing_key is None:
            return f"{head}.{body}."
        return f"{head}.{body}." + b64url(hmac.new(signing_key, signing_input, hashlib.sha256).digest())


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)


class Server:
    def __init__(self, base: Path, store: str, lake: Path, keys: Keys, api_key_file: Path, data_extra: str = "",
                 server_extra: str = "", as_of: str = AS_OF):
        self.base, self.store, self.lake, self.keys = base, store, lake, keys
        self.audit = base / "audit" / "audit.log"
        (base / "jwks.json").write_text(json.dumps(keys.jwks))
        config = base / "server.toml"
        config.write_text(f"""
[server]
listen = "127.0.0.1"
port = 0
{'' if 'threads =' in server_extra else 'threads = 8'}
max_body_bytes = 65536
access_log = "{base / 'access.log'}"
metrics_token_env = "MEMBERLAKE_TEST_METRICS_TOKEN"
cors_origins = ["{FRONTEND}"]
{server_extra}

[data]
store = "{store}"
lake = "{lake}"
as_of = "{as_of}"
{data_extra}

[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
hs256_secret_env = "MEMBERLAKE_TEST_JWT_SECRET"
jwks_file = "jwks.json"
api_keys_file = "{api_key_file}"

[audit]
path = "{self.audit}"
""")
        env = dict(os.environ, MEMBERLAKE_TEST_JWT_SECRET=SECRET, MEMBERLAKE_TEST_METRICS_TOKEN=METRICS_TOKEN)
        self.proc = subprocess.Popen([BIN, "serve", "--config", str(config)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        assert "listening on" in line, f"server did not start: {line} {self.proc.stderr.read() if self.proc.poll() is not None else ''}"
        self.url = line.strip().split()[-1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return code

    def request(self, method, path, token=None, params=None, body=None, headers=None, api_key=None):
        url = self.url + urllib.parse.quote(path, safe="/")
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if api_key:
            req.add_header("X-API-Key", api_key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return Response(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read())

    def get(self, path, token=None, **kwargs):
        return self.request("GET", path, token, **kwargs)


def start_server(tmp_path_factory, members=3000, seed=11, data_extra="", server_extra=""):
    base = tmp_path_factory.mktemp("server")
    store = f"sqlite:{base / 'members.db'}"
    lake = base / "lake"
    run("seed", "--store", store, "--members", members, "--seed", seed)
    run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    keys_file = base / "api_keys.toml"
    keys_file.write_text("# memberlake API keys (hashes only)\n")
    api_key = run("apikey", "create", "--name", "export-script", "--group", "Members_Export",
                  "--group", "Regio_Utrecht", "--file", keys_file).stdout.strip()
    keys = Keys()
    server = Server(base, store, lake, keys, keys_file, data_extra, server_extra)
    server.api_key = api_key
    return server


def serve(tmp_path_factory, **kwargs):
    """The body of a module fixture: yields a started server (start_server's arguments) and
    stops it, checking a clean exit, unless a test stopped it already."""
    server = start_server(tmp_path_factory, **kwargs)
    yield server
    if server.proc.poll() is None:
        assert server.stop() == 0
