"""The dashboard per role of issue 15 in real Chromium: which views and controls appear, and
that no member of another region appears in any page's text or any API response the page
received (checked against the seeded lake, read with pyarrow)."""
import pytest

from dashboard_support import (REGION_OF_ROLE, Leaks, browser, dashboard, go, nav_titles, new_page,  # noqa: F401
                               seeded_members, sign_in, wait_view)

ALL_VIEWS = ["Overzicht", "Regio's", "Leeftijd en lidmaatschap", "Verjaardagen", "ALV-jubilea", "Leden", "Exporteren", "Beheer"]
EXPECTED_NAV = {
    "crud_all": ALL_VIEWS,
    "read_utrecht": [v for v in ALL_VIEWS if v != "Exporteren"],
    "export_zh": ALL_VIEWS,
    "comm_all": ["Overzicht", "Verjaardagen"],
    "approve_utrecht": [v for v in ALL_VIEWS if v != "Exporteren"],
    "system": ALL_VIEWS,
}
# controls: new member, full edit, status-only edit, delete, generate now, audit trail
EXPECTED_CONTROLS = {
    "crud_all": {"new": True, "edit": True, "status": False, "delete": True, "generate": True, "audit": False},
    "read_utrecht": {"new": False, "edit": False, "status": False, "delete": False, "generate": False, "audit": False},
    "export_zh": {"new": False, "edit": False, "status": False, "delete": False, "generate": False, "audit": False},
    "comm_all": {"new": False, "edit": False, "status": False, "delete": False, "generate": False, "audit": False},
    "approve_utrecht": {"new": False, "edit": False, "status": True, "delete": False, "generate": False, "audit": False},
    "system": {"new": True, "edit": True, "status": False, "delete": True, "generate": True, "audit": True},
}


def present(page, role, name):
    return page.get_by_role(role, name=name, exact=True).count() > 0


@pytest.mark.parametrize("role", list(EXPECTED_NAV))
def test_views_controls_and_region(browser, dashboard, role):
    context, page = new_page(browser, dashboard)
    responses = []
    page.on("response", lambda r: responses.append(r) if "/api/" in r.url else None)
    sign_in(page, dashboard.api_keys[role])
    assert page.get_by_test_id("whoami").inner_text() == role
    assert nav_titles(page) == EXPECTED_NAV[role]
    expected = EXPECTED_CONTROLS[role]
    texts = {}
    seen = {k: False for k in expected}
    for title in EXPECTED_NAV[role]:
        go(page, title)
        main = page.locator("main")
        assert main.locator(".notice.error").count() == 0, f"{role} {title}: {main.inner_text()}"
        texts[title] = main.inner_text()
        assert len(texts[title]) > 40, f"{role} {title} is (nearly) empty: {texts[title]!r}"
        if title == "Leden":
            seen["new"] = present(page, "link", "Nieuw lid")
            page.locator("[data-testid=members-table] tbody a").first.click()
            wait_view(page)
            texts["Lid"] = page.locator("main").inner_text()
            seen["edit"] = present(page, "link", "Bewerken")
            seen["status"] = present(page, "link", "Status wijzigen")
            seen["delete"] = present(page, "button", "Verwijderen")
            if seen["status"]:
                page.get_by_role("link", name="Status wijzigen").click()
                wait_view(page)
                labels = page.locator("form.member-form label").all_inner_texts()
                assert [l.rstrip(" *") for l in labels] == ["Status"], labels
        if title == "Beheer":
            seen["generate"] = present(page, "button", "Snapshot nu maken")
            seen["audit"] = present(page, "heading", "Audit trail")
    assert seen == expected
    # a view outside the role's menu, asked for by its address: a clear message, not a page
    if "Leden" not in EXPECTED_NAV[role]:
        page.goto(dashboard.url + "/#/leden")
        wait_view(page)
        assert "geen toestemming" in page.locator("main").inner_text()
    region = REGION_OF_ROLE.get(role)
    if region:
        leaks = Leaks(seeded_members(dashboard.lake), region)
        for title, text in texts.items():
            assert not leaks.find(text), f"{role}: {title} shows members outside {region}: {leaks.find(text)[:5]}"
        bodies = [r.body().decode("utf-8", "replace") for r in responses if r.status == 200]
        assert bodies, "no API responses recorded"
        for body in bodies:
            assert not leaks.find(body), f"{role}: a response holds members outside {region}: {leaks.find(body)[:5]}"
        # the walk did show members of the region (the check above had something to look at)
        all_text = "\n".join(texts.values())
        assert any(name in all_text for name in leaks.inside_names), "no member of the region was shown"
        assert region in all_text
    context.close()
