"""Signing in and staying signed in, in real Chromium: a wrong key, the key kept only in
sessionStorage (never in the URL or localStorage), signing out, an expired token bringing the
sign-in back and returning to the page the user was on, a server restart (lost connection,
then working again; a revoked key signs out), and 5xx / network failures with clear Dutch
messages instead of a blank page."""
import time

from dashboard_support import browser, dashboard, go, new_page, sign_in, wait_view  # noqa: F401


def main_text(page):
    return page.locator("main").inner_text()


def test_wrong_key_and_storage(browser, dashboard):
    context, page = new_page(browser, dashboard)
    page.get_by_label("API-sleutel").fill("mlk_00000000_not-a-key")
    page.get_by_role("button", name="Inloggen met sleutel").click()
    page.get_by_text("Deze sleutel wordt niet geaccepteerd").wait_for()
    assert page.get_by_test_id("whoami").count() == 0
    key = dashboard.api_keys["read_utrecht"]
    sign_in(page, key)
    assert key not in page.url
    assert page.evaluate("() => JSON.stringify(localStorage)") == "{}"
    assert key in page.evaluate("() => JSON.stringify(sessionStorage)")
    # another tab (context) does not share it
    other = context.browser.new_context().new_page()
    other.goto(dashboard.url + "/")
    other.get_by_label("API-sleutel").wait_for()
    other.context.close()
    page.get_by_role("button", name="Uitloggen").click()
    page.get_by_text("Je bent uitgelogd").wait_for()
    assert page.evaluate("() => sessionStorage.length") == 0
    context.close()


def test_expired_token_returns_to_the_page(browser, dashboard):
    context, page = new_page(browser, dashboard)
    # a bearer token the server refuses as expired (past exp and leeway); the page does not know
    token = dashboard.keys.hs256(["Members_Read", "Regio_Utrecht"], exp=int(time.time()) - 120)
    page.evaluate("t => sessionStorage.setItem('memberlake.credential', JSON.stringify({kind: 'bearer', value: t}))", token)
    page.goto(dashboard.url + "/#/leden?q=de&in=woonplaats")
    page.reload()
    page.get_by_text("Je bent niet (meer) ingelogd").wait_for()
    assert page.evaluate("() => sessionStorage.length") == 0
    sign_in(page, dashboard.api_keys["read_utrecht"])
    assert page.url.endswith("#/leden?q=de&in=woonplaats")
    assert page.get_by_label("Zoek", exact=True).input_value() == "de"
    page.get_by_test_id("members-table").wait_for()
    context.close()


def test_server_restart(browser, dashboard):
    context, page = new_page(browser, dashboard, "crud_all")
    dashboard.stop()
    go(page, "Regio's")
    assert "Geen verbinding met de server" in main_text(page)
    dashboard.start()
    page.get_by_role("button", name="Opnieuw proberen").click()
    wait_view(page)
    page.get_by_test_id("regions-table").wait_for()
    # restarted without the key (revoked): the next request signs out, with the reason
    saved = dashboard.keys_file.read_text()
    dashboard.keys_file.write_text("# no keys\n")
    dashboard.stop()
    dashboard.start()
    try:
        page.locator("nav#nav a", has_text="Overzicht").click()
        page.get_by_text("Je bent niet (meer) ingelogd").wait_for()
        page.get_by_label("API-sleutel").wait_for()
    finally:
        dashboard.keys_file.write_text(saved)
        dashboard.stop()
        dashboard.start()
    context.close()


def test_server_errors_and_lost_connection_are_explained(browser, dashboard):
    context, page = new_page(browser, dashboard, "crud_all")
    page.route("**/api/reports/regional-stats*", lambda route: route.fulfill(
        status=500, content_type="application/json", body='{"error": {"status": 500, "message": "internal error"}}'))
    go(page, "Regio's")
    assert "Er ging iets mis op de server" in main_text(page)
    assert page.get_by_role("alert").count() >= 1
    page.unroute("**/api/reports/regional-stats*")
    page.route("**/api/members*", lambda route: route.abort("connectionrefused"))
    go(page, "Leden")
    assert "Geen verbinding met de server" in main_text(page)
    page.unroute("**/api/members*")
    page.route("**/api/members*", lambda route: route.fulfill(
        status=403, content_type="application/json", body='{"error": {"status": 403, "message": "forbidden"}}'))
    page.get_by_role("button", name="Opnieuw proberen").click()
    wait_view(page)
    assert "geen toestemming" in main_text(page)
    context.close()
