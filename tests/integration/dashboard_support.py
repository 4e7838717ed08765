"""The dashboard under test: a real `memberlake serve` with server.web_root pointing at the
built web/dist, API keys for the roles of issue 15, and Debian's Chromium driven by
Playwright. The seeded data is read independently (pyarrow on the lake's full dataset) to
check that nothing of another region reaches a page, a download or a network response."""
import json
import os
import re
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import AS_OF, BIN, ROOT, run, run_json
from server_support import AUDIENCE, ISSUER, SECRET, Keys

WEB_DIST = ROOT / "web" / "dist"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

ROLES = {
    "crud_all": ["Members_CRUD", "Regio_All"],
    "read_utrecht": ["Members_Read", "Regio_Utrecht"],
    "export_zh": ["Members_Export", "Regio_Zuid-Holland"],
    "comm_all": ["Communication_Read", "Regio_All"],
    "approve_utrecht": ["Members_Status_Approve", "Regio_Utrecht"],
    "system": ["System_CRUD"],
}
REGION_OF_ROLE = {"read_utrecht": "Utrecht", "export_zh": "Zuid-Holland", "approve_utrecht": "Utrecht"}


def require_dashboard():
    if not (WEB_DIST / "index.html").exists():
        pytest.fail("the dashboard is not built: run scripts/bootstrap.sh (or npm ci && npm run build in web/)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dashboard:
    """A seeded store, a generated lake, one API key per role and a server serving web/dist."""

    def __init__(self, base: Path, members=2000, seed=11, port=0, auth=None, extra_config="", env=None):
        # auth: the [auth] section's sign-in settings (default: HS256 tokens of server_support)
        self.auth = auth or (f'issuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n'
                             'hs256_secret_env = "MEMBERLAKE_TEST_JWT_SECRET"')
        self.base = base
        self.extra_config, self.extra_env = extra_config, env or {}  # more config sections, their variables
        self.store = f"sqlite:{base / 'members.db'}"
        self.lake = base / "lake"
        run("seed", "--store", self.store, "--members", members, "--seed", seed)
        run_json("generate", "--store", self.store, "--lake", self.lake, "--as-of", AS_OF, "--json")
        self.keys_file = base / "api_keys.toml"
        self.keys_file.write_text("# memberlake API keys (hashes only)\n")
        self.api_keys = {}
        for role, groups in ROLES.items():
            args = ["apikey", "create", "--name", role, "--file", self.keys_file]
            for g in groups:
                args += ["--group", g]
            self.api_keys[role] = run(*args).stdout.strip()
        self.port = port or free_port()
        self.keys = Keys()
        self.start()

    def start(self):
        """Starts (or starts again, on the same port) the server; returns its base URL."""
        config = self.base / "server.toml"
        config.write_text(f"""
[server]
listen = "127.0.0.1"
port = {self.port}
threads = 4
access_log = ""
web_root = "{WEB_DIST}"

[data]
store = "{self.store}"
lake = "{self.lake}"
as_of = "{AS_OF}"

[auth]
{self.auth}
api_keys_file = "{self.keys_file}"

[audit]
path = "{self.base / 'audit' / 'audit.log'}"
{self.extra_config}
""")
        env = dict(os.environ, MEMBERLAKE_TEST_JWT_SECRET=SECRET, **self.extra_env)
        self.proc = subprocess.Popen([BIN, "serve", "--config", str(config)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        assert "listening on" in line, f"server did not start: {line} {self.proc.stderr.read() if self.proc.poll() is not None else ''}"
        self.url = line.strip().split()[-1]
        return self.url

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=60) == 0

    def api(self, method, path, role="crud_all", body=None, headers=None):
        """The API directly (not through the browser): (status, headers, parsed JSON or bytes)."""
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("X-API-Key", self.api_keys[role])
        if body is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, hdrs, data = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            status, hdrs, data = e.code, dict(e.headers), e.read()
        try:
            return status, hdrs, json.loads(data)
        except ValueError:
            return status, hdrs, data

def seeded_members(lake: Path):
    """Every member of the current snapshot's full dataset (read with pyarrow, not the server)."""
    manifest = json.loads(sorted((lake / "manifests").glob("snapshot-*.json"))[-1].read_text())
    full = [f for f in manifest["files"] if "full-dataset" in f["path"]][0]
    return pq.read_table(lake / full["path"], columns=["member_id", "korte_naam", "email", "regio"]).to_pylist()


class Leaks:
    """Tokens that identify members outside a region: member ids, e-mail addresses, and full
    names no member inside the region shares. `find(text)` lists those present in text."""

    def __init__(self, members, region):
        inside = [m for m in members if m["regio"] == region]
        outside = [m for m in members if m["regio"] != region]
        assert inside and outside, "the seeded data must have members inside and outside the region"
        inside_names = {m["korte_naam"] for m in inside}
        inside_emails = {m["email"] for m in inside}
        self.tokens = {m["member_id"] for m in outside}
        self.tokens |= {m["email"] for m in outside if m["email"] and m["email"] not in inside_emails}
        self.names = {m["korte_naam"] for m in outside if m["korte_naam"] and m["korte_naam"] not in inside_names
                      and len(m["korte_naam"]) > 8}
        self.inside_ids = {m["member_id"] for m in inside}
        self.inside_names = inside_names
        self.region = region

    def find(self, text: str):
        found = [t for t in self.tokens if t in text]
        if not found:
            for name in self.names:
                if name in text and re.search(r"(?<![\w'])" + re.escape(name) + r"(?![\w])", text):
                    found.append(name)
        return found


@pytest.fixture(scope="module")  # one Playwright per module: test modules import this fixture
def browser():
    from playwright.sync_api import sync_playwright
    require_dashboard()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, bin_path):
    require_dashboard()
    dash = Dashboard(tmp_path_factory.mktemp("dashboard"))
    yield dash
    dash.stop()


def new_page(browser, dash, role=None, width=1440, height=900, **context_options):
    """A fresh browser context (its own sessionStorage) on the dashboard, signed in as `role`."""
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True,
                                  locale="nl-NL", timezone_id="Europe/Amsterdam", **context_options)
    page = context.new_page()
    page.goto(dash.url + "/")
    # The page boots asynchronously (auth config, then a credential check). Until the sign-in form
    # shows, a request of that boot may still be in flight, and a 401 answering it clears the
    # credential a test has just put in sessionStorage. Tests start from a settled page.
    page.get_by_label("API-sleutel").wait_for()
    if role:
        sign_in(page, dash.api_keys[role])
    return context, page


def sign_in(page, key):
    page.get_by_label("API-sleutel").fill(key)
    page.get_by_role("button", name="Inloggen met sleutel").click()
    page.get_by_test_id("whoami").wait_for()
    wait_view(page)


def wait_view(page, timeout=30000):
    """Until the view at the current address has rendered (the router marks main with
    data-ready = the address once the view's data is on screen)."""
    page.wait_for_function(
        "() => { const m = document.querySelector('main');"
        " return m && m.dataset.ready === (location.hash || '#/') && !m.hasAttribute('aria-busy'); }",
        timeout=timeout)


def nav_titles(page):
    return [t.strip() for t in page.locator("nav#nav a").all_inner_texts()]


def go(page, title):
    """Opens a view through the menu (the menu button first on a narrow screen)."""
    toggle = page.locator("button.menu-toggle")
    if toggle.is_visible():
        toggle.click()
    link = page.locator("nav#nav a", has_text=title).first
    href = link.get_attribute("href")
    link.click()
    page.wait_for_function("h => location.hash === h || location.hash.startsWith(h + '?')", arg=href)
    wait_view(page)


AXE_RULES = "['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']"


def axe_problems(page):
    """axe-core's serious and critical violations on the page as it is now (the page's context
    needs bypass_csp=True: the checker is added as a script)."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(f"""async () => {{
        const r = await axe.run(document, {{runOnly: {{type: 'tag', values: {AXE_RULES}}}}});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => `${{v.id}} (${{v.impact}}): ${{v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}}`);
    }}""")
