"""Editing members through the dashboard in real Chromium: the version conflict with two
browser contexts (the second save is refused, says why, and reloads the newer data), a new
member, the status-only form of Members_Status_Approve, and deletion. Every outcome is checked
through the API, not only on screen."""
from dashboard_support import browser, dashboard, go, new_page, wait_view  # noqa: F401

REGION = "Utrecht"


def first_member(dashboard, role="crud_all", region=REGION):
    status, _, page = dashboard.api("GET", f"/api/members?region={region}&limit=1&where=status%3DActief", role)
    assert status == 200, page
    return page["rows"][0]


def open_edit(page, dashboard, member_id):
    page.goto(f"{dashboard.url}/#/leden/{member_id}/bewerken")
    wait_view(page)
    page.get_by_label("Woonplaats").wait_for()


def test_conflict_with_two_browser_contexts(browser, dashboard):
    member = first_member(dashboard)
    ctx_a, a = new_page(browser, dashboard, "crud_all")
    ctx_b, b = new_page(browser, dashboard, "crud_all")
    open_edit(a, dashboard, member["member_id"])
    open_edit(b, dashboard, member["member_id"])
    a.get_by_label("Woonplaats").fill("Veenendaal-A")
    a.get_by_role("button", name="Opslaan").click()
    a.wait_for_url(f"**/#/leden/{member['member_id']}")
    wait_view(a)
    assert "Veenendaal-A" in a.locator("main").inner_text()
    b.get_by_label("Telefoon").fill("06-12345678")
    b.get_by_role("button", name="Opslaan").click()
    conflict = b.get_by_test_id("conflict")
    conflict.wait_for()
    assert "Iemand anders heeft dit lid gewijzigd" in conflict.inner_text()
    _, _, stored = dashboard.api("GET", f"/api/members/{member['member_id']}")
    assert stored["woonplaats"] == "Veenendaal-A" and stored["telefoon"] != "06-12345678"
    b.get_by_role("button", name="Opnieuw laden (met de nieuwste gegevens)").click()
    wait_view(b)
    assert b.get_by_label("Woonplaats").input_value() == "Veenendaal-A"
    # now B's change goes through on the fresh version
    b.get_by_label("Telefoon").fill("06-12345678")
    b.get_by_role("button", name="Opslaan").click()
    b.wait_for_url(f"**/#/leden/{member['member_id']}")
    _, _, stored = dashboard.api("GET", f"/api/members/{member['member_id']}")
    assert stored["woonplaats"] == "Veenendaal-A" and stored["telefoon"] == "06-12345678"
    ctx_a.close()
    ctx_b.close()


def test_create_and_delete(browser, dashboard):
    context, page = new_page(browser, dashboard, "crud_all")
    go(page, "Leden")
    page.get_by_role("link", name="Nieuw lid").click()
    wait_view(page)
    page.get_by_label("Voornaam *").fill("Testa")
    page.get_by_label("Achternaam *").fill("Dashboardsma")
    page.get_by_label("Geboortedatum").fill("1980-05-17")
    page.get_by_label("Regio *").select_option(REGION)
    page.get_by_label("Status *").select_option("Aangemeld")
    page.get_by_label("Woonplaats").fill("Zeist")
    page.get_by_role("button", name="Opslaan").click()
    page.wait_for_function(r"() => /^#\/leden\/[0-9a-f-]{36}$/.test(location.hash)")  # the new member's page
    wait_view(page)
    member_id = page.url.rsplit("/", 1)[1]
    _, _, stored = dashboard.api("GET", f"/api/members/{member_id}")
    assert stored["achternaam"] == "Dashboardsma" and stored["regio"] == REGION and stored["status"] == "Aangemeld"
    page.get_by_role("button", name="Verwijderen").click()
    page.get_by_role("button", name="Ja, verwijderen").click()
    page.wait_for_url("**/#/leden")
    assert dashboard.api("GET", f"/api/members/{member_id}")[0] == 404
    context.close()


def test_status_only_edit(browser, dashboard):
    member = first_member(dashboard, "approve_utrecht")
    context, page = new_page(browser, dashboard, "approve_utrecht")
    page.goto(f"{dashboard.url}/#/leden/{member['member_id']}")
    wait_view(page)
    assert page.get_by_role("link", name="Bewerken", exact=True).count() == 0
    page.get_by_role("link", name="Status wijzigen").click()
    wait_view(page)
    assert page.locator("form.member-form input").count() == 0  # only the status select
    page.get_by_label("Status *").select_option("Geschorst")
    page.get_by_role("button", name="Opslaan").click()
    page.wait_for_url(f"**/#/leden/{member['member_id']}")
    _, _, stored = dashboard.api("GET", f"/api/members/{member['member_id']}")
    assert stored["status"] == "Geschorst"
    context.close()


def test_generate_now_with_progress_and_audit_trail(browser, dashboard):
    _, _, before = dashboard.api("GET", "/api/snapshots", "system")
    context, page = new_page(browser, dashboard, "system")
    go(page, "Beheer")
    rows_before = page.locator("[data-testid=snapshots-table] tbody tr").count()
    page.get_by_role("button", name="Snapshot nu maken").click()
    page.get_by_test_id("job-status").get_by_text("Klaar: snapshot").wait_for(timeout=120000)
    page.locator("[data-testid=snapshots-table] tbody tr").nth(rows_before).wait_for()
    _, _, after = dashboard.api("GET", "/api/snapshots", "system")
    assert len(after["snapshots"]) == len(before["snapshots"]) + 1
    assert after["current"] in page.get_by_test_id("job-status").inner_text()
    # the audit trail (refreshed after the job; oldest first) shows the request and its outcome
    _, _, audit = dashboard.api("GET", "/api/audit?limit=50", "system")
    actions = [e["action"] for e in audit["entries"]]
    assert "generate" in actions and "generate.finish" in actions
    page.get_by_test_id("audit-table").get_by_text("generate.finish").first.wait_for()
    context.close()
