"""OpenID Connect sign-in (issue 15 item 2) against a real OpenID provider on loopback: npm
oidc-provider (tests/oidc/provider.mjs, installed by scripts/bootstrap.sh), whose RS256 ID tokens
carry cognito:groups as Cognito's do. memberlake fetches the provider's keys through OpenID
discovery; the browser tests drive Debian's Chromium through the provider's real login and
consent pages with web/src/oidc.js."""
import base64
import hashlib
import http.cookiejar
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import AS_OF, BIN, ROOT, run, run_json
from server_support import Server

OIDC_DIR = ROOT / "tests" / "oidc"
USERS = json.loads((OIDC_DIR / "users.json").read_text())["users"]
CLIENT_ID = "memberlake-dashboard"
REFETCH_SECONDS = 3  # auth.jwks_refetch_seconds: short, so that a rotation is picked up in a test
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user(name):
    return next(u for u in USERS if u["username"] == name)


class Provider:
    """tests/oidc/provider.mjs on a fixed loopback port (the issuer URL holds it); every start
    makes a new signing key with a new kid."""

    def __init__(self, port, redirect_uri, cors_origin, id_token_ttl=3600):
        assert (OIDC_DIR / "node_modules" / "oidc-provider").is_dir(), \
            "oidc-provider is not installed: run scripts/bootstrap.sh (npm ci in tests/oidc)"
        self.port, self.redirect_uri = port, redirect_uri
        self.args = ["node", "provider.mjs", "--port", str(port), "--client-id", CLIENT_ID,
                     "--redirect-uri", redirect_uri, "--cors-origin", cors_origin, "--id-token-ttl", str(id_token_ttl)]
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.args, cwd=OIDC_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line, f"the provider did not start: {self.proc.stderr.read()}"
        info = json.loads(line)
        self.issuer, self.kid = info["issuer"], info["kid"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        self.start()

    def jwks_requests(self):
        with urllib.request.urlopen(self.issuer + "/test/stats", timeout=10) as response:
            return json.loads(response.read())["jwks_requests"]

    def login(self, username, password=None):
        """The authorization code flow with PKCE as a browser goes through it, over plain HTTP:
        the login and consent forms posted, the code exchanged. Returns the token response."""
        password = user(username)["password"] if password is None else password
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        callback = {}

        class StopAtCallback(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, req, fp, code, msg, headers, newurl):
                if newurl.startswith(Provider.redirect_base):
                    callback.update(urllib.parse.parse_qs(urllib.parse.urlsplit(newurl).query))
                    return None
                return super().redirect_request(req, fp, code, msg, headers, newurl)

        Provider.redirect_base = self.redirect_uri
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                             StopAtCallback())

        def go(url, form=None):
            data = urllib.parse.urlencode(form).encode() if form is not None else None
            try:
                with opener.open(url, data=data, timeout=20) as response:
                    return response.geturl(), response.read().decode()
            except urllib.error.HTTPError as e:
                if callback:
                    return None, ""
                raise AssertionError(f"{url}: HTTP {e.code}: {e.read()[:300]}")

        query = urllib.parse.urlencode({"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": self.redirect_uri,
                                        "scope": "openid email", "state": state, "nonce": nonce,
                                        "code_challenge": challenge, "code_challenge_method": "S256"})
        url, page = go(f"{self.issuer}/auth?{query}")
        assert "Wachtwoord" in page, page[:300]
        url, page = go(url + "/login", {"username": username, "password": password})
        if "Onjuiste gebruikersnaam" in page:
            return None
        assert "Toestaan" in page, page[:300]
        go(url + "/confirm", {})
        assert callback.get("state") == [state] and "code" in callback, callback
        form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": callback["code"][0],
                                       "redirect_uri": self.redirect_uri, "client_id": CLIENT_ID,
                                       "code_verifier": verifier}).encode()
        with urllib.request.urlopen(self.issuer + "/token", data=form, timeout=20) as response:
            tokens = json.loads(response.read())
        assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["nonce"] == nonce
        return tokens


class OidcServer(Server):
    """`memberlake serve` with the [auth] section given: the store and lake of `data`."""

    def __init__(self, base, data, auth, port=0, extra=""):
        self.base, self.store, self.lake = base, data["store"], data["lake"]
        self.audit = base / "audit" / "audit.log"
        config = base / "server.toml"
        config.write_text(f"""
[server]
listen = "127.0.0.1"
port = {port}
threads = 4
access_log = ""
{extra}

[data]
store = "{self.store}"
lake = "{self.lake}"
as_of = "{AS_OF}"

[auth]
{auth}

[audit]
path = "{self.audit}"
""")
        self.proc = subprocess.Popen([BIN, "serve", "--config", str(config)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert "listening on" in line, f"server did not start: {line} {self.proc.stderr.read()}"
        self.url = line.strip().split()[-1]

    def stop_and_read_stderr(self):
        assert self.stop() == 0
        return self.proc.stderr.read()


class Harness:
    """A loopback web root with web/src/oidc.js and tests/oidc/harness.html that passes /api/*
    on to memberlake, as the dashboard's own origin will."""

    def __init__(self, root):
        self.root, self.api = root, None
        shutil.copy(ROOT / "web" / "src" / "oidc.js", root / "oidc.js")
        shutil.copy(OIDC_DIR / "harness.html", root / "harness.html")
        harness = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.startswith("/api/"):
                    return super().do_GET()
                request = urllib.request.Request(harness.api + self.path)
                if self.headers.get("Authorization"):
                    request.add_header("Authorization", self.headers["Authorization"])
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, body, kind = response.status, response.read(), response.headers["Content-Type"]
                except urllib.error.HTTPError as e:
                    status, body, kind = e.code, e.read(), e.headers["Content-Type"]
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        Handler.extensions_map = {**Handler.extensions_map, ".js": "text/javascript", ".mjs": "text/javascript"}
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def data(tmp_path_factory, bin_path):
    base = tmp_path_factory.mktemp("oidc-data")
    store = f"sqlite:{base / 'members.db'}"
    run("seed", "--store", store, "--members", 200, "--seed", 15)
    run_json("generate", "--store", store, "--lake", base / "lake", "--as-of", AS_OF, "--json")
    return {"store": store, "lake": base / "lake"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, data):
    """The harness, the provider and memberlake, wired to each other."""
    harness = Harness(tmp_path_factory.mktemp("webroot"))
    redirect_uri = harness.origin + "/harness.html"
    provider = Provider(free_port(), redirect_uri, harness.origin)
    try:
        server = OidcServer(tmp_path_factory.mktemp("oidc-server"), data, f"""
issuer = "{provider.issuer}"
oidc_client_id = "{CLIENT_ID}"
oidc_redirect_uri = "{redirect_uri}"
oidc_scopes = "openid email"
jwks_refetch_seconds = {REFETCH_SECONDS}
""")
    except BaseException:
        provider.stop()
        harness.stop()
        raise
    harness.api = server.url
    yield {"harness": harness, "provider": provider, "server": server, "redirect_uri": redirect_uri}
    code = server.stop()
    provider.stop()
    harness.stop()
    assert code == 0


def forged(claims, kid):
    """A token with the provider's claims signed by a key nobody published."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, other, algorithm="RS256", headers={"kid": kid})


def test_auth_config_tells_the_browser_how_to_sign_in(setup):
    response = setup["server"].get("/api/auth/config")  # no credentials: it is asked before sign-in
    assert response.status == 200
    assert response.json() == {"oidc": {"issuer": setup["provider"].issuer, "client_id": CLIENT_ID,
                                        "redirect_uri": setup["redirect_uri"], "scopes": "openid email"}}


def test_auth_config_is_null_without_openid_sign_in(tmp_path_factory, data):
    server = OidcServer(tmp_path_factory.mktemp("no-oidc"), data, """
issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x"
audience = "x"
hs256_secret = "a-secret-of-at-least-thirty-two-bytes-0123"
""")
    try:
        response = server.get("/api/auth/config")
        assert response.status == 200 and response.json() == {"oidc": None}
    finally:
        assert server.stop() == 0


def test_a_token_from_the_provider_is_accepted_and_others_are_refused(setup):
    provider, server = setup["provider"], setup["server"]
    tokens = provider.login("anna")
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["cognito:groups"] == user("anna")["groups"] and claims["aud"] == CLIENT_ID
    assert jwt.get_unverified_header(tokens["id_token"])["kid"] == provider.kid
    me = server.get("/api/me", tokens["id_token"])
    assert me.status == 200, me.text
    assert me.json()["subject"] == "anna" and me.json()["groups"] == user("anna")["groups"]
    assert me.json()["regions"] == ["Utrecht"]
    # The provider's access token is opaque and for its own userinfo: not a memberlake token.
    assert server.get("/api/me", tokens["access_token"]).status == 401
    # The same claims under the provider's kid but signed by another key: the signature fails.
    refused = server.get("/api/me", forged(claims, provider.kid))
    assert refused.status == 401 and "bad signature" in refused.text
    # A wrong password gets no token at all.
    assert provider.login("anna", "geraden-wachtwoord") is None


def test_unknown_kids_do_not_make_the_server_hammer_the_issuer(setup):
    provider, server = setup["provider"], setup["server"]
    token = provider.login("bert")["id_token"]
    assert server.get("/api/me", token).status == 200
    before = provider.jwks_requests()
    assert before >= 1  # memberlake fetched the keys from the provider (discovery -> jwks_uri)
    claims = jwt.decode(token, options={"verify_signature": False})
    started = time.monotonic()
    for i in range(30):
        refused = server.get("/api/me", forged(claims, f"garbage-{i}"))
        assert refused.status == 401 and "unknown key id" in refused.text
    elapsed = time.monotonic() - started
    fetched = provider.jwks_requests() - before
    # At most one fetch per refetch interval, however many unknown kids arrive.
    assert fetched <= 1 + int(elapsed // REFETCH_SECONDS), (fetched, elapsed)
    assert fetched < 30


def test_a_rotated_key_is_picked_up_through_a_refetch(setup):
    provider, server = setup["provider"], setup["server"]
    old = provider.login("anna")["id_token"]
    assert server.get("/api/me", old).status == 200
    old_kid = provider.kid
    provider.restart()  # a new signing key with a new kid, the old one withdrawn
    assert provider.kid != old_kid and provider.jwks_requests() == 0
    new = provider.login("anna")["id_token"]
    assert jwt.get_unverified_header(new)["kid"] == provider.kid
    deadline = time.monotonic() + REFETCH_SECONDS + 10
    status = None
    while time.monotonic() < deadline:  # within the refetch interval of an earlier fetch it may still wait
        status = server.get("/api/me", new).status
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200
    assert 1 <= provider.jwks_requests() <= 1 + (REFETCH_SECONDS + 10) // REFETCH_SECONDS
    # The refetched set no longer holds the withdrawn key.
    refused = server.get("/api/me", old)
    assert refused.status == 401 and "unknown key id" in refused.text


def test_the_server_refuses_an_insecure_issuer(tmp_path_factory, data):
    base = tmp_path_factory.mktemp("insecure")
    config = base / "server.toml"
    config.write_text(f"""
[server]
port = 0
[data]
store = "{data['store']}"
lake = "{data['lake']}"
[auth]
issuer = "http://idp.example.org"
oidc_client_id = "{CLIENT_ID}"
oidc_redirect_uri = "https://leden.example.nl/"
""")
    proc = subprocess.run([BIN, "serve", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "must be an https:// URL" in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def status_of(page):
    page.wait_for_function("document.querySelector('[data-testid=status]').textContent !== 'laden'", timeout=20000)
    return json.loads(page.get_by_test_id("status").text_content())


def test_the_browser_signs_in_through_the_providers_pages(setup, browser):
    harness, provider = setup["harness"], setup["provider"]
    context = browser.new_context()
    page = context.new_page()
    visited = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    page.on("request", lambda request: visited.append(request.url))
    page.goto(harness.origin + "/harness.html")
    assert status_of(page)["signedIn"] is False

    page.get_by_role("button", name="Inloggen met clubaccount").click()
    page.wait_for_url(provider.issuer + "/interaction/**")
    anna = user("anna")
    page.get_by_label("Gebruikersnaam").fill("anna")
    page.get_by_label("Wachtwoord").fill("niet-het-wachtwoord")
    page.get_by_role("button", name="Inloggen").click()
    assert "Onjuiste gebruikersnaam of wachtwoord" in page.get_by_role("alert").text_content()
    page.get_by_label("Gebruikersnaam").fill("anna")
    page.get_by_label("Wachtwoord").fill(anna["password"])
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_role("button", name="Toestaan").click()
    page.wait_for_url(harness.origin + "/harness.html**")
    page.wait_for_function("/signedIn.:true|error/.test(document.querySelector('[data-testid=status]').textContent)",
                           timeout=20000)

    status = status_of(page)
    assert status.get("signedIn") is True, status
    assert status["returnTo"] == "/harness.html#leden"
    assert status["expiresAt"] > time.time() * 1000
    me = json.loads(page.get_by_test_id("me").text_content())
    assert me["status"] == 200 and me["body"]["subject"] == "anna" and me["body"]["groups"] == anna["groups"]
    token = page.evaluate("sessionStorage.getItem('harness.token')")
    assert token and token.count(".") == 2
    # The authorization request carried a PKCE challenge, and the code came back in the URL...
    assert any(url.startswith(provider.issuer + "/auth?") and "code_challenge_method=S256" in url for url in visited)
    assert any("code=" in url for url in visited)
    # ...but the token never was in any URL, and the code is gone from the address bar.
    assert all(token not in url for url in visited)
    assert "code=" not in page.url and "state=" not in page.url
    assert page.evaluate("sessionStorage.getItem('memberlake.oidc.pending')") is None  # used once
    assert page.evaluate("localStorage.length") == 0

    page.get_by_role("button", name="Uitloggen").click()
    signed_out = status_of(page)
    assert signed_out["signedOut"] is True
    assert signed_out["logoutUrl"].startswith(provider.issuer + "/session/end?")
    assert token not in signed_out["logoutUrl"]
    assert page.evaluate("sessionStorage.length") == 0
    assert page.evaluate("sessionStorage.getItem('harness.token')") is None
    context.close()


@pytest.mark.parametrize("query, message", [
    ("error=access_denied&state=x", "geannuleerd of geweigerd"),
    ("error=server_error&error_description=stuk&state=x", "mislukt bij de clubaccount-dienst (server_error: stuk)"),
    ("code=abc&state=not-ours", "state klopt niet"),
])
def test_a_bad_callback_gives_a_clear_dutch_error(setup, browser, query, message):
    page = browser.new_page()
    page.goto(f"{setup['harness'].origin}/harness.html?{query}")
    status = status_of(page)
    assert message in status.get("error", ""), status
    assert "state=" not in page.url and "code=" not in page.url and "error=" not in page.url
    page.close()


@pytest.mark.skipif(not (ROOT / "web" / "dist" / "index.html").exists(),
                    reason="the dashboard (web/dist, another branch) is not built here; enabled after the merge")
def test_the_dashboard_signs_in_with_the_club_account_and_back_after_expiry(tmp_path_factory, data, browser):
    """The dashboard served by memberlake at / with OpenID sign-in: the sign-in view's button,
    the provider's pages, who is signed in, and the sign-in again once the token expires.
    memberlake serves the built web/dist at / with server.web_root."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    provider = Provider(free_port(), origin + "/", origin, id_token_ttl=8)
    server = None
    try:
        server = OidcServer(tmp_path_factory.mktemp("dashboard"), data, f"""
issuer = "{provider.issuer}"
oidc_client_id = "{CLIENT_ID}"
oidc_redirect_uri = "{origin}/"
leeway_seconds = 0
""", port=port, extra=f'web_root = "{ROOT / "web" / "dist"}"')
        page = browser.new_page()
        page.goto(origin + "/")
        page.get_by_role("button", name="Inloggen met clubaccount").click()
        page.get_by_label("Gebruikersnaam").fill("anna")
        page.get_by_label("Wachtwoord").fill(user("anna")["password"])
        page.get_by_role("button", name="Inloggen").click()
        page.get_by_role("button", name="Toestaan").click()
        page.wait_for_url(origin + "/**")
        assert "anna" in page.get_by_test_id("whoami").text_content(timeout=20000)
        time.sleep(9)  # the ID token (8 s, no leeway) has expired
        page.reload()
        page.get_by_role("button", name="Inloggen met clubaccount").wait_for(timeout=20000)
        page.close()
    finally:
        if server is not None:
            server.stop()
        provider.stop()


def test_a_failed_code_exchange_gives_a_clear_dutch_error(setup, browser):
    """A callback whose state matches (oidc.js's own pending entry) but whose code the provider
    never issued: the token endpoint refuses it and the page says so."""
    origin = setup["harness"].origin
    page = browser.new_page()
    page.goto(origin + "/harness.html")
    status_of(page)
    page.evaluate("""sessionStorage.setItem('memberlake.oidc.pending', JSON.stringify(
        {state: 'st-1', nonce: 'n-1', verifier: 'v'.repeat(43), returnTo: '/harness.html'}))""")
    page.goto(origin + "/harness.html?code=never-issued&state=st-1")
    status = status_of(page)
    assert "De inlogcode kon niet worden ingewisseld (HTTP 400: invalid_grant)" in status.get("error", ""), status
    assert "code=" not in page.url
    page.close()


def test_an_unreachable_issuer_is_a_503_not_a_401(tmp_path_factory, data):
    """No keys can be fetched (nothing listens at the issuer): signing in again would not help,
    so the answer is 503; the sign-in config and API keys are unaffected."""
    issuer = f"http://127.0.0.1:{free_port()}"
    server = OidcServer(tmp_path_factory.mktemp("unreachable"), data, f"""
issuer = "{issuer}"
oidc_client_id = "{CLIENT_ID}"
oidc_redirect_uri = "http://127.0.0.1:9/"
""")
    try:
        claims = {"sub": "anna", "iss": issuer, "aud": CLIENT_ID, "exp": int(time.time()) + 600,
                  "cognito:groups": ["Members_Read"]}
        response = server.get("/api/me", forged(claims, "k1"))
        assert response.status == 503, response.text
        assert "signing keys cannot be fetched" in response.text
        assert "connect" in server.stop_and_read_stderr().lower()  # why, for the operator
        server = None
    finally:
        if server is not None:
            server.stop()
