"""What a person notices, in real Chromium: nothing is loaded from or sent to another origin
and the Content-Security-Policy blocks nothing the dashboard does; axe-core (from web/'s npm
packages) finds no serious or critical violation on any view at 375 and 1440 px; the
JavaScript stays small; and a screenshot of every view at both widths (written to
docs/screenshots/ with MEMBERLAKE_UPDATE_SCREENSHOTS=1)."""
import gzip
import os
import shutil

import pytest

from dashboard_support import (ROOT, WEB_DIST, axe_problems, browser, dashboard, go, nav_titles,  # noqa: F401
                               new_page, sign_in, wait_view)

VIEWS = {  # view title -> screenshot name
    "Overzicht": "overzicht", "Regio's": "regio", "Leeftijd en lidmaatschap": "verdeling", "Verjaardagen": "verjaardagen",
    "ALV-jubilea": "jubilea", "Leden": "leden", "Exporteren": "export", "Beheer": "beheer",
}


def test_bundle_is_small():
    files = [p for p in (WEB_DIST / "assets").iterdir() if p.suffix != ".gz"]
    assert {p.suffix for p in files} == {".js", ".css"}  # one bundle, one stylesheet
    total = sum(len(gzip.compress(p.read_bytes())) for p in files)
    total += len(gzip.compress((WEB_DIST / "index.html").read_bytes()))
    assert total < 200 * 1024, f"{total} bytes gzip"


def test_same_origin_only_and_csp_clean(browser, dashboard):
    context, page = new_page(browser, dashboard)
    requests, csp = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: csp.append(f"page error: {e}"))
    page.reload()
    sign_in(page, dashboard.api_keys["system"])
    for title in nav_titles(page):
        go(page, title)
    go(page, "Leden")
    page.locator("[data-testid=members-table] tbody a").first.click()
    wait_view(page)
    page.get_by_role("link", name="Bewerken").click()
    wait_view(page)
    assert requests and all(u.startswith(dashboard.url) or u.startswith(("data:", "blob:")) for u in requests), \
        [u for u in requests if not u.startswith(dashboard.url)]
    assert not csp, csp
    go(page, "Regio's")
    assert page.locator("figure.chart svg").count() >= 1  # drawn under the CSP
    context.close()


@pytest.mark.parametrize("width", [1440, 375])
def test_axe_and_screenshots(browser, dashboard, tmp_path, width):
    context, page = new_page(browser, dashboard, "system", width=width, height=900 if width > 400 else 800, bypass_csp=True)
    shots = tmp_path / "shots"
    shots.mkdir()
    problems = []

    def check(name):
        problems.extend(f"{name}@{width}: {p}" for p in axe_problems(page))
        path = shots / f"{name}-{width}.png"
        page.screenshot(path=str(path))
        assert path.stat().st_size > 5000

    for title, name in VIEWS.items():
        go(page, title)
        check(name)
    go(page, "Leden")
    page.locator("[data-testid=members-table] tbody a").first.click()
    wait_view(page)
    check("lid")
    page.get_by_role("link", name="Bewerken").click()
    wait_view(page)
    check("lid-bewerken")
    page.get_by_role("button", name="Uitloggen").click()
    page.get_by_label("API-sleutel").wait_for()
    check("inloggen")
    assert not problems, "\n".join(problems)
    # at 375 px nothing is wider than the screen except scrollable tables and charts
    if width == 375:
        go_back = new_page(browser, dashboard, "system", width=375, height=800)
        overflow = go_back[1].evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= 380, overflow
        go_back[0].close()
    if os.environ.get("MEMBERLAKE_UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, target / shot.name)
    context.close()


def test_keyboard_only(browser, dashboard):
    """Sign in, skip to the content, open the member list, search and open a member with the
    keyboard alone."""
    context, page = new_page(browser, dashboard)
    page.get_by_label("API-sleutel").focus()
    page.keyboard.type(dashboard.api_keys["read_utrecht"])
    page.keyboard.press("Enter")
    page.get_by_test_id("whoami").wait_for()
    wait_view(page)
    page.reload()  # a fresh load (the session stays in the tab): focus starts at the top
    wait_view(page)
    page.keyboard.press("Tab")  # the first stop: the skip link
    assert page.evaluate("() => document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    assert page.evaluate("() => location.hash") == "#/"
    for _ in range(30):  # forward through the header to the menu's "Leden"
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent") == "Leden":
            break
    page.keyboard.press("Enter")
    wait_view(page)
    assert page.evaluate("() => location.hash") == "#/leden"
    assert page.evaluate("() => document.getElementById('main').contains(document.activeElement)")
    page.get_by_label("Zoek", exact=True).focus()
    page.keyboard.type("b")  # achternaam starting with B: typed in lower case
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.hash.includes('q=b')")
    wait_view(page)
    first = page.locator("[data-testid=members-table] tbody a").first
    first.focus()
    name = first.inner_text()
    page.keyboard.press("Enter")
    wait_view(page)
    assert page.locator("main h1").inner_text() == name
    context.close()


def test_policy_admits_the_sign_in_provider_only(dashboard):
    """connect-src: the page's own origin and the configured issuer's (OpenID discovery), nothing
    else; scripts only from the page's origin."""
    import urllib.request
    from server_support import ISSUER
    with urllib.request.urlopen(dashboard.url + "/", timeout=30) as resp:
        policy = resp.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    issuer_origin = "/".join(ISSUER.split("/")[:3])
    assert directives["connect-src"] == ["'self'", issuer_origin]
    assert directives["script-src"] == ["'self'"] and directives["default-src"] == ["'none'"]
