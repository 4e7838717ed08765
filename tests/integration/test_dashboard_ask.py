"""The dashboard's question box (issue 14, "Vraag stellen") in real Chromium against a real
`memberlake serve` with an [ai] section pointing at the scripted fake model (fake_llm.py): a
regional user asks, sees the answer and every query with its result (only their region's
numbers, checked against the lake read with pyarrow), using the keyboard alone; roles that may
not ask see no box; each failure gives a readable Dutch message; axe-core finds nothing serious
at 375 and 1440 px and the page stays on its own origin under the CSP. A screenshot of the view
goes to docs/screenshots/ with MEMBERLAKE_UPDATE_SCREENSHOTS=1."""
import json
import os
import re
import shutil

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import AS_OF
from dashboard_support import (ROOT, Dashboard, Leaks, axe_problems, browser, go, nav_titles,  # noqa: F401
                               new_page, require_dashboard, seeded_members, sign_in, wait_view)
from fake_llm import KEY_ENV, ai_section, fake, tool_results  # noqa: F401
BY_REGION = {"where": ["status=Actief"], "group_by": ["regio"], "aggregates": ["count"]}
QUESTION = "Hoeveel actieve leden hebben we per regio?"


@pytest.fixture(scope="module")
def dash(tmp_path_factory, bin_path, fake):
    require_dashboard()
    dash = Dashboard(tmp_path_factory.mktemp("dashboard-ask"), members=800, extra_config=ai_section(fake, max_retries=0),
                     env={KEY_ENV: "sk-test-dashboard"})
    yield dash
    dash.stop()


def active_per_region(lake):
    """Active members per regio in the snapshot's full dataset (pyarrow, not the server)."""
    manifest = json.loads(sorted((lake / "manifests").glob("snapshot-*.json"))[-1].read_text())
    full = [f for f in manifest["files"] if "full-dataset" in f["path"]][0]
    table = pq.read_table(lake / full["path"], columns=["regio", "status"])
    active = table.filter(pc.equal(table["status"], "Actief"))
    return {row["values"]: row["counts"] for row in pc.value_counts(active["regio"]).to_pylist()}


def answer_from(request):
    """The model's answer, from the tool result memberlake sent it."""
    counts = {row[0]: row[1] for row in tool_results(request)[0]["rows"]}
    return {"content": "; ".join(f"{region} heeft {n} actieve leden" for region, n in counts.items()) + "."}


def ask_in_page(page, question=QUESTION):
    """Types the question and sends it with the keyboard alone; waits for the answer or an error."""
    go(page, "Vraag stellen")
    page.get_by_label("Je vraag").focus()
    page.keyboard.type(question)
    page.keyboard.press("Tab")  # from the question to its button
    assert page.evaluate("() => document.activeElement.textContent") == "Vraag stellen"
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=ask-answer], [data-testid=ask-error], main .notice.error", timeout=60000)


def test_a_regional_user_sees_the_answer_and_the_queries_with_only_their_regions_numbers(browser, dash, fake):
    expected = active_per_region(dash.lake)
    assert len(expected) > 1 and expected["Utrecht"] >= 5
    fake.script({"tool_calls": [("run_query", BY_REGION),
                                ("run_query", {"where": ["regio=Noord-Holland"], "aggregates": ["count"]})]},
                answer_from)
    context, page = new_page(browser, dash)
    responses = []
    page.on("response", lambda r: responses.append(r) if "/api/" in r.url else None)
    sign_in(page, dash.api_keys["read_utrecht"])
    assert "Vraag stellen" in nav_titles(page)
    ask_in_page(page)
    answer = page.get_by_test_id("ask-answer")
    assert answer.locator(".ask-text").inner_text() == f"Utrecht heeft {expected['Utrecht']} actieve leden."
    # Focus moves to the answer's heading, so a screen reader reads it next.
    assert page.evaluate("() => document.activeElement.textContent") == "Antwoord"
    # The queries: the first with its result table (Utrecht alone), the second refused.
    queries = page.get_by_test_id("ask-queries").locator(":scope > li")
    assert queries.count() == 2
    assert "Filter: status=Actief · Gegroepeerd op: regio · Berekend: count" in queries.nth(0).inner_text()
    result = page.get_by_test_id("ask-result-1")
    assert result.locator("thead th").all_inner_texts() == ["regio", "count"]
    rows = [[c.strip() for c in r.split("\t")] for r in result.locator("tbody tr").all_inner_texts()]
    assert rows == [["Utrecht", str(expected["Utrecht"])]]
    assert "Geweigerd" in queries.nth(1).inner_text() and "outside the caller's scope" in queries.nth(1).inner_text()
    # The tokens, as the API reported them.
    body = next(r.json() for r in responses if r.url.endswith("/api/ask"))
    tokens = re.sub(r"(?<=\d)\.(?=\d{3})", "", page.get_by_test_id("ask-tokens").inner_text())  # 1.234: 1234
    assert body["tokens"]["total"] > 0 and f" {body['tokens']['total']} samen" in tokens, tokens
    # What the model was sent: Utrecht's numbers only.
    assert [row[0] for row in tool_results(fake.requests[1]["json"])[0]["rows"]] == ["Utrecht"]
    # Nothing of another region on the page or in any response the page received.
    leaks = Leaks(seeded_members(dash.lake), "Utrecht")
    text = page.locator("main").inner_text()
    assert not leaks.find(text)
    assert page.locator("main table").count() == 1  # the refused query has no result
    for response in responses:
        if response.status == 200:
            assert not leaks.find(response.body().decode("utf-8", "replace"))
    context.close()


def test_roles_that_may_not_ask_see_no_box(browser, dash):
    assert dash.api("GET", "/api/me", "read_utrecht")[2]["ask"] is True
    assert dash.api("GET", "/api/me", "comm_all")[2]["ask"] is False
    status, _, _ = dash.api("POST", "/api/ask", "comm_all", body={"question": "Hoeveel leden?"})
    assert status == 403  # the server decides anyway
    context, page = new_page(browser, dash, "comm_all")
    assert nav_titles(page) == ["Overzicht", "Verjaardagen"]
    assert page.get_by_label("Je vraag").count() == 0
    page.goto(dash.url + "/#/vraag")
    wait_view(page)
    assert "geen toestemming" in page.locator("main").inner_text()
    assert page.get_by_label("Je vraag").count() == 0
    context.close()


@pytest.mark.parametrize("fault, message", [
    ({"status": 500}, "Het taalmodel is niet bereikbaar of gaf een onbruikbaar antwoord"),
    ({"status": 401, "message": "Invalid API key"}, "weigert de sleutel van de server"),
    ({"status": 429, "retry_after": "1"}, "krijgt nu te veel vragen"),
    ({"hang": 4}, "gaf niet op tijd antwoord"),
])
def test_a_failure_of_the_model_gives_a_readable_message(browser, dash, fake, fault, message):
    fake.script(fault)
    context, page = new_page(browser, dash, "export_zh")
    ask_in_page(page, "Hoeveel leden?")
    error = page.get_by_test_id("ask-error")
    assert message in error.inner_text(), error.inner_text()
    assert error.get_attribute("role") == "alert"
    assert page.get_by_test_id("ask-answer").count() == 0
    # The form can be used again at once.
    assert page.get_by_role("button", name="Vraag stellen").is_enabled()
    context.close()


def test_budget_used_up_and_no_key_give_readable_messages(browser, dash, fake):
    # The day's tokens of export_zh used up, in the budget file the server keeps (read at start).
    budget = dash.base / "audit" / "ask-budget.json"
    subject = dash.api("GET", "/api/me", "export_zh")[2]["subject"]  # the budget's key: the caller
    dash.stop()
    state = json.loads(budget.read_text()) if budget.exists() else {"version": 1, "used": {}}
    state["used"][subject] = {"day": AS_OF, "tokens": 10 ** 9}
    budget.write_text(json.dumps(state))
    dash.start()
    fake.script({"content": "never asked"})
    context, page = new_page(browser, dash, "export_zh")
    ask_in_page(page, "Hoeveel leden?")
    assert "Je dagbudget voor vragen is op" in page.get_by_test_id("ask-error").inner_text()
    assert fake.requests == []
    context.close()
    # No API key in the server's environment.
    dash.stop()
    saved_env, dash.extra_env = dash.extra_env, {}
    try:
        dash.start()
        context, page = new_page(browser, dash, "read_utrecht")
        ask_in_page(page, "Hoeveel leden?")
        assert "geen API-sleutel voor het taalmodel" in page.get_by_test_id("ask-error").inner_text()
        context.close()
    finally:
        dash.stop()
        dash.extra_env = saved_env
        dash.start()


def test_same_origin_only_and_csp_clean(browser, dash, fake):
    fake.script({"tool_calls": [("run_query", BY_REGION)]}, answer_from)
    context, page = new_page(browser, dash)
    requests, csp = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: csp.append(f"page error: {e}"))
    sign_in(page, dash.api_keys["crud_all"])
    ask_in_page(page)
    assert page.get_by_test_id("ask-answer").count() == 1
    assert requests and all(u.startswith(dash.url) for u in requests), [u for u in requests if not u.startswith(dash.url)]
    assert not csp, csp
    context.close()


@pytest.mark.parametrize("width", [1440, 375])
def test_axe_and_screenshot(browser, dash, fake, tmp_path, width):
    fake.script({"tool_calls": [("run_query", BY_REGION),
                                ("run_query", {"group_by": ["lidmaatschap"], "aggregates": ["count", "avg(leeftijd)"]})]},
                answer_from)
    context, page = new_page(browser, dash, "read_utrecht", width=width, height=900 if width > 400 else 800,
                             bypass_csp=True)
    go(page, "Vraag stellen")
    problems = [f"empty form: {p}" for p in axe_problems(page)]
    ask_in_page(page)
    assert page.get_by_test_id("ask-answer").count() == 1
    problems += [f"answer: {p}" for p in axe_problems(page)]
    assert not problems, "\n".join(problems)
    if width == 375:  # nothing wider than the screen but scrollable tables
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 380
    shot = tmp_path / f"vraag-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5000
    if os.environ.get("MEMBERLAKE_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(shot, ROOT / "docs" / "screenshots" / shot.name)
    context.close()
