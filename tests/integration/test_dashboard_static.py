"""`memberlake serve` serving the dashboard's files (server.web_root): index.html at /, content
types, ETag / 304, Cache-Control, the Content-Security-Policy, and refusals: traversal (raw
and percent-encoded), dotfiles, a symlink pointing outside the folder, folders, missing files.
The API stays under /api (an API path never falls through to a file)."""
import gzip
import http.client
import os
import signal
import subprocess

import pytest

from conftest import BIN, run

CSP_MUST = ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]


@pytest.fixture(scope="module")
def site(tmp_path_factory, bin_path):
    base = tmp_path_factory.mktemp("static")
    root = base / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>t</title>index-page")
    (root / "assets" / "app-0123.js").write_text("console.log('bundle')")
    (root / "assets" / "app-0123.css").write_text("body{}")
    (root / "assets" / "app-0123.css.gz").write_bytes(gzip.compress(b"body{}"))
    (root / ".stamp").write_text("secret-stamp")
    (root / "assets" / ".hidden.js").write_text("hidden")
    (base / "outside.txt").write_text("outside-secret")
    os.symlink(base / "outside.txt", root / "escape.txt")
    os.symlink(root / "assets" / "app-0123.css", root / "inside-link.css")
    keys = base / "api_keys.toml"
    keys.write_text("# keys\n")
    key = run("apikey", "create", "--name", "t", "--group", "Members_Read", "--group", "Regio_All", "--file", keys).stdout.strip()
    config = base / "server.toml"
    config.write_text(f"""
[server]
listen = "127.0.0.1"
port = 0
threads = 2
access_log = ""
web_root = "dist"
[data]
lake = "{base / 'lake'}"
[auth]
api_keys_file = "api_keys.toml"
""")
    proc = subprocess.Popen([BIN, "serve", "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening on" in line, proc.stderr.read()
    port = int(line.strip().rsplit(":", 1)[1])
    yield {"port": port, "key": key}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def get(site, path, headers=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", site["port"], timeout=30)
    conn.request(method, path, headers=headers or {})  # sent as is: no client-side normalising
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def test_index_and_assets(site):
    status, headers, body = get(site, "/")
    assert status == 200 and b"index-page" in body
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    for part in CSP_MUST:
        assert part in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    status, headers, body = get(site, "/assets/app-0123.js")
    assert status == 200 and body == b"console.log('bundle')"
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert "immutable" in headers["cache-control"]
    assert get(site, "/assets/app-0123.css")[1]["content-type"] == "text/css; charset=utf-8"
    assert get(site, "/index.html")[2] == body_of(site, "/")
    # HEAD: the headers without the body
    status, headers, body = get(site, "/assets/app-0123.js", method="HEAD")
    assert status == 200 and body == b""


def body_of(site, path):
    return get(site, path)[2]


def test_gzip_copy_when_accepted(site):
    status, headers, body = get(site, "/assets/app-0123.css", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip" and gzip.decompress(body) == b"body{}"
    assert headers["content-type"] == "text/css; charset=utf-8" and "accept-encoding" in headers["vary"].lower()
    status, headers, body = get(site, "/assets/app-0123.css")
    assert body == b"body{}" and "content-encoding" not in headers


def test_etag_revalidation(site):
    status, headers, _ = get(site, "/assets/app-0123.js")
    tag = headers["etag"]
    status, headers, body = get(site, "/assets/app-0123.js", {"If-None-Match": tag})
    assert status == 304 and body == b""
    assert get(site, "/assets/app-0123.js", {"If-None-Match": '"other"'})[0] == 200


@pytest.mark.parametrize("path", [
    "/../outside.txt", "/assets/../../outside.txt", "/%2e%2e/outside.txt", "/assets/%2e%2e/%2e%2e/outside.txt",
    "/..%2foutside.txt", "/.stamp", "/assets/.hidden.js", "/escape.txt", "/assets/", "/assets", "/missing.js",
    "/assets/..\\..\\outside.txt", "/%00index.html", "//etc/passwd",
])
def test_refused_paths(site, path):
    status, headers, body = get(site, path)
    assert status in (400, 404), (path, status)
    assert b"outside-secret" not in body and b"secret-stamp" not in body and b"hidden" not in body


def test_symlink_inside_the_root_is_served(site):
    status, _, body = get(site, "/inside-link.css")
    assert status == 200 and body == b"body{}"


def test_api_stays_api(site):
    status, headers, body = get(site, "/api/me")
    assert status == 401 and headers["content-type"].startswith("application/json")
    assert get(site, "/api/nothing-here", {"X-API-Key": site["key"]})[0] == 404
    assert get(site, "/api")[0] in (401, 404)
    assert get(site, "/health")[0] == 200
    # no static answer for other methods
    assert get(site, "/", method="POST")[0] in (401, 404, 405)


def test_missing_web_root_is_a_start_error(tmp_path):
    config = tmp_path / "server.toml"
    (tmp_path / "k.toml").write_text("# keys\n")
    config.write_text(f'[server]\nport = 0\nweb_root = "nope"\n[data]\nlake = "{tmp_path / "lake"}"\n[auth]\napi_keys_file = "k.toml"\n')
    proc = subprocess.run([BIN, "serve", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "web_root" in proc.stderr
