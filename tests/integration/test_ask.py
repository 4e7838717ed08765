"""AI questions (issue 14 items 1-4): `memberlake ask` and POST /api/ask against a scripted
OpenAI-compatible fake (fake_llm.py) on loopback, over a real store and lake.

What is checked: the model only ever receives the schema and suppressed aggregates (no request
body of any test holds a seeded member's name, e-mail, phone, postcode, member number or id); a
regional caller gets only its region's numbers and a tool error for another region; a group of
4 never leaves, a group of 5 does; identifier and restricted columns are refused as tool errors;
every fault of the provider (401, 429 with Retry-After, 500, a hung connection, malformed tool
calls, endless tool calls) gives a clear message and an audit entry."""
import json
import os
import re
import time
from pathlib import Path

import duckdb
import pytest

from conftest import AS_OF, BIN, run, run_json
from fake_llm import ALL_BODIES, KEY_ENV, ai_section, fake, tool_results  # noqa: F401
from server_support import Keys, Server

KEY = "sk-test-0123456789abcdef"
ADMIN = ["Members_Read", "Regio_All"]
UTRECHT = ["Members_Read", "Regio_Utrecht"]
# Crafted members: motortype groups of exactly 4 and 5 in Utrecht (and their personal data).
CRAFTED = [("Vier", 4), ("Vijf", 5)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A seeded store with the crafted members, one generated snapshot, and every seeded
    member's personal data (for the check of what was sent to the model)."""
    base = tmp_path_factory.mktemp("ask")
    store = f"sqlite:{base / 'members.db'}"
    lake = base / "lake"
    run("seed", "--store", store, "--members", 600, "--seed", 17)
    number = 93000
    for label, count in CRAFTED:
        for i in range(count):
            number += 1
            member = {"voornaam": f"Quirijn{label}{i}", "achternaam": f"Zwanenburg{label}{i}", "status": "Actief",
                      "lidmaatschap": "Gewoon lid", "regio": "Utrecht", "motormerk": "Indian",
                      "motortype": f"Testtype {label}", "email": f"quirijn.{label.lower()}{i}@voorbeeld.nl",
                      "telefoon": f"06-9{number}", "postcode": f"35{i}{len(label)} QZ", "lidnummer": number,
                      "geboortedatum": "1970-05-05", "ingangsdatum": "2010-02-03"}
            run("members", "add", "--store", store, "--json", json.dumps(member))
    run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    members = run_json("members", "list", "--store", store, "--limit", 100000)
    assert len(members) == 600 + 9
    return {"base": base, "store": store, "lake": lake, "members": members}


def personal_values(members):
    """Every seeded name, e-mail address, phone number, postcode, member number and id."""
    values = set()
    for m in members:
        for field in ("member_id", "voornaam", "achternaam", "email", "telefoon", "postcode", "lidnummer", "kenteken",
                      "straat", "bankrekeningnummer"):
            value = m.get(field)
            if value not in (None, ""):
                values.add(str(value))
        full = " ".join(p for p in (m.get("voornaam"), m.get("tussenvoegsel"), m.get("achternaam")) if p)
        values.add(full)
    return values


@pytest.fixture(scope="module")
def api(world, fake, tmp_path_factory):
    base = tmp_path_factory.mktemp("ask-server")
    keys_file = base / "api_keys.toml"
    keys_file.write_text("# memberlake API keys (hashes only)\n")
    server = start_server(base, world, keys_file, ai_section(fake, max_retries=2, max_retry_wait_seconds=3, max_rounds=3))
    yield server
    if server.proc.poll() is None:
        assert server.stop() == 0
    # Over every test of this module: nothing personal ever reached the model.
    assert_no_personal_data(world, ALL_BODIES)


def start_server(base, world, keys_file, ai, as_of=AS_OF):
    """A server over the world's store and lake with the [ai] section `ai`, the key in its environment."""
    os.environ[KEY_ENV] = KEY
    try:
        return Server(base, world["store"], world["lake"], Keys(), keys_file, data_extra=ai, as_of=as_of)
    finally:
        del os.environ[KEY_ENV]


def assert_no_personal_data(world, bodies):
    assert bodies, "no request reached the fake model"
    values = personal_values(world["members"])
    for body in set(bodies):
        decoded = json.dumps(json.loads(body), ensure_ascii=False)  # \u escapes undone
        for value in values:
            if value not in decoded:
                continue
            # Whole words only: a short first name may be part of an ordinary word.
            pattern = r"(?<![\w@.-])" + re.escape(value) + r"(?![\w@-])"
            assert not re.search(pattern, decoded), f"{value!r} was sent to the model"


def ask(api, roles, question, **params):
    token = api.keys.hs256(roles)
    return api.request("POST", "/api/ask", token, params=params or None, body={"question": question})


def audit_entries(api, action="ask"):
    lines = Path(api.audit).read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["action"] == action]


def lake_counts(world, where="status = 'Actief'", group="regio"):
    files = [str(p) for p in Path(world["lake"]).rglob("full-dataset/**/*.parquet")]
    con = duckdb.connect()
    rows = con.execute(f"select {group}, count(*) from read_parquet({files!r}) where {where} group by {group}").fetchall()
    return {str(k): v for k, v in rows}


def released(counts, k=5):
    """The groups of a one-column grouping that may leave: at least k members each, and the
    suppressed ones together none or at least k (the smallest others go too until they are)."""
    hidden = {g for g, n in counts.items() if n < k}
    while 0 < sum(counts[g] for g in hidden) < k and len(hidden) < len(counts):
        hidden.add(min((g for g in counts if g not in hidden), key=lambda g: counts[g]))
    return {g: n for g, n in counts.items() if g not in hidden}


def test_answer_lists_each_query_with_its_suppressed_result_and_is_audited(api, fake, world):
    def answer_from(request):  # the model reads the tool result memberlake sent it
        counts = {row[0]: row[1] for row in tool_results(request)[0]["rows"]}
        return {"content": f"Utrecht has {counts['Utrecht']} active members."}

    fake.script({"tool_calls": [("run_query", {"where": ["status=Actief"], "group_by": ["regio"],
                                               "aggregates": ["count", "avg(leeftijd)"]})]}, answer_from)
    response = ask(api, ADMIN, "How many active members does each region have?")
    assert response.status == 200, response.text
    answer = response.json()
    expected = lake_counts(world)
    (query,) = answer["queries"]
    assert query["tool"] == "run_query" and query["query"]["group_by"] == ["regio"]
    assert query["result"]["columns"] == ["regio", "count", "avg_leeftijd"]
    got = {row[0]: row[1] for row in query["result"]["rows"]}
    assert got == released(expected)
    assert answer["answer"] == f"Utrecht has {expected['Utrecht']} active members."
    assert answer["tokens"]["total"] > 0 and answer["rounds"] == 2 and answer["k"] == 5
    # The wire: streamed, the provider's headers, the key, tools offered, the schema in the prompt.
    first = fake.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["json"]["stream"] is True
    assert first["headers"]["Authorization"] == f"Bearer {KEY}"
    assert first["headers"]["X-Title"] == "memberlake" and first["headers"]["HTTP-Referer"]
    assert {t["function"]["name"] for t in first["json"]["tools"]} == {"run_query", "run_report"}
    system = first["json"]["messages"][0]["content"]
    assert "- lidmaatschap (enum: Gewoon lid|" in system and "email" not in system and "postcode" not in system
    # Audited: model, queries, rows, tokens; not the answer.
    entry = audit_entries(api)[-1]
    detail = json.loads(entry["detail"])
    assert entry["outcome"] == "ok" and entry["target"] == "fake/model" and entry["scope"] == ["*"]
    assert entry["rows"] == len(got) and detail["queries"][0]["query"]["group_by"] == ["regio"]
    assert detail["tokens"]["total"] == answer["tokens"]["total"]
    assert "active members." not in entry["detail"]


def test_a_group_of_4_never_leaves_a_group_of_5_does(api, fake):
    fake.script({"tool_calls": [("run_query", {"where": ["motortype=Testtype Vier"]}),
                                ("run_query", {"where": ["motortype=Testtype Vijf"]}),
                                ("run_query", {"where": ["motortype in Testtype Vier|Testtype Vijf"],
                                               "group_by": ["motortype"]}),
                                ("run_query", {"where": ["motortype in Testtype Vier|Testtype Vijf"]})]},
                {"content": "ok"})
    response = ask(api, ADMIN, "How many members ride the test types?")
    assert response.status == 200, response.text
    four, five, both_grouped, both_total = tool_results(fake.requests[1]["json"])
    assert four == {"columns": ["count"], "rows": [], "suppressed_groups": 1, "k": 5}
    assert five == {"columns": ["count"], "rows": [[5]], "suppressed_groups": 0, "k": 5}
    # Grouped, the 4 is suppressed and so is its complement (else total - 5 = 4).
    assert both_grouped["rows"] == [] and both_grouped["suppressed_groups"] == 2
    assert both_total["rows"] == [[9]]


def test_identifier_and_restricted_columns_are_refused_as_tool_errors(api, fake):
    calls = [("run_query", {"group_by": ["achternaam"]}),
             ("run_query", {"where": ["email is not null"]}),
             ("run_query", {"aggregates": ["count(lidnummer)"]}),
             ("run_query", {"where": ["postcode^=35"]}),
             ("run_query", {"group_by": ["betaalwijze"]}),
             ("run_query", {"select": ["member_id", "voornaam"]}),
             ("run_query", {"aggregates": ["max(leeftijd)"]})]
    fake.script({"tool_calls": calls}, {"content": "I cannot see personal data."})
    response = ask(api, ADMIN, "List the names and e-mail addresses of our members")
    assert response.status == 200, response.text
    results = tool_results(fake.requests[1]["json"])
    assert [set(r) for r in results] == [{"error"}] * len(calls)
    messages = [r["error"] for r in results]
    assert "'achternaam' is personal data" in messages[0] and "'email' is personal data" in messages[1]
    assert "'lidnummer' is personal data" in messages[2] and "'postcode'" in messages[3]
    assert "'betaalwijze' is restricted" in messages[4] and "unknown argument 'select'" in messages[5]
    assert "would describe one member" in messages[6]
    assert all(q["error"] for q in response.json()["queries"])


def test_a_regional_caller_gets_only_its_region_and_a_tool_error_for_another(api, fake, world):
    fake.script({"tool_calls": [("run_query", {"group_by": ["regio", "status"]}),
                                ("run_query", {"where": ["regio=Noord-Holland"]}),
                                ("run_query", {"where": ["regio in Utrecht|NH"]}),
                                ("run_query", {"where": ["regio^=Noord"]}),
                                ("run_report", {"name": "regional-stats"}),
                                ("run_report", {"name": "age-distribution"})]},
                {"content": "done"})
    response = ask(api, UTRECHT, "How does Utrecht compare with Noord-Holland?")
    assert response.status == 200, response.text
    grouped, other, alias, prefix, report, ages = tool_results(fake.requests[1]["json"])
    assert {row[0] for row in grouped["rows"]} == {"Utrecht"}
    utrecht = lake_counts(world, where="regio = 'Utrecht'", group="status")
    assert {row[1]: row[2] for row in grouped["rows"]} == released(utrecht)
    assert "outside the caller's scope" in other["error"] and "Noord-Holland" in other["error"]
    assert "outside the caller's scope" in alias["error"]  # NH is Noord-Holland's alias
    assert "only as regio=R" in prefix["error"]
    stats = lake_counts(world, where="regio = 'Utrecht' and status = 'Actief'", group="lidmaatschap")
    assert {row[1]: row[2] for row in report["rows"]} == released(stats)
    assert {row[0] for row in report["rows"]} <= {"Utrecht"}
    assert ages["columns"][:2] == ["regio", "count"] and [row[:2] for row in ages["rows"]] == [
        ["Utrecht", sum(stats.values())]]
    # What the model saw holds no other region's name in any result.
    # ("Overig" is also a status and a lidmaatschap.)
    others = {r for r in lake_counts(world, where="true") if r not in ("Utrecht", "Overig")}
    for message in fake.requests[1]["json"]["messages"]:
        if message["role"] == "tool" and "error" not in message["content"]:
            assert not any(region in message["content"] for region in others)
    assert "the regions Utrecht only" in fake.requests[0]["json"]["messages"][0]["content"]
    entry = audit_entries(api)[-1]
    assert entry["scope"] == ["Utrecht"] and entry["roles"] == UTRECHT
    # Asking the API for another region is refused before any model is asked.
    fake.script()
    refused = ask(api, UTRECHT, "hoeveel leden?", region="Noord-Holland")
    assert refused.status == 403 and fake.requests == []
    assert audit_entries(api)[-1]["outcome"] == "denied"


def test_malformed_tool_calls_get_readable_tool_errors(api, fake):
    fake.script({"tool_calls": [("run_query", "{not json"), ("drop_table", {}), ("run_query", {"where": 5}),
                                ("run_query", {"where": ["status=Bogus"]}),
                                ("run_report", {"name": "member-overview"})]},
                {"content": "sorry"})
    response = ask(api, ADMIN, "Hoeveel leden zijn er?")
    assert response.status == 200, response.text
    errors = [r["error"] for r in tool_results(fake.requests[1]["json"])]
    assert errors[0] == "the arguments are not a JSON object"
    assert errors[1].startswith("unknown tool 'drop_table'")
    assert "'where' must be a list of strings" in errors[2]
    assert "Bogus" in errors[3]
    assert "no aggregate report 'member-overview'" in errors[4]  # it lists members: not offered


def test_the_model_must_answer_after_the_tool_round_limit(api, fake):
    loop = {"tool_calls": [("run_query", {"group_by": ["status"]})]}
    fake.script(loop, loop, loop, loop, loop)
    response = ask(api, ADMIN, "Keep counting")
    assert response.status == 502 and "kept calling tools after 3 rounds" in response.text
    assert [r["json"]["tool_choice"] for r in fake.requests] == ["auto", "auto", "auto", "none"]
    entry = audit_entries(api)[-1]
    detail = json.loads(entry["detail"])
    assert entry["outcome"] == "error" and detail["error"]["kind"] == "tool_rounds" and len(detail["queries"]) == 3


@pytest.mark.parametrize("fault, status, message, kind, attempts", [
    ({"status": 401, "message": "Invalid API key"}, 502, "refused the API key (HTTP 401): Invalid API key",
     "provider_auth", 1),
    ({"status": 500}, 502, "failed (HTTP 500): scripted failure (3 attempts)", "provider_error", 3),
    ({"status": 429, "retry_after": "1"}, 503, "rate limiting (HTTP 429)", "rate_limited", 3),
    ({"hang": 6}, 504, "did not answer within 2", "timeout", 1),
])
def test_each_fault_of_the_provider_gives_a_clear_message_and_an_audit_entry(api, fake, fault, status, message,
                                                                              kind, attempts):
    fake.script(*[fault] * 3)
    started = time.monotonic()
    response = ask(api, ADMIN, "Hoeveel leden?")
    elapsed = time.monotonic() - started
    assert response.status == status, response.text
    assert message in response.json()["error"]["message"]
    assert response.json()["error"]["kind"] == kind  # for the dashboard's own message
    assert len(fake.requests) == attempts
    if "retry_after" in fault:
        gaps = [b["time"] - a["time"] for a, b in zip(fake.requests, fake.requests[1:])]
        assert all(gap >= 0.95 for gap in gaps), gaps  # Retry-After honoured
    if "hang" in fault:
        assert elapsed < 5  # the per-call timeout, not the hang
    entry = audit_entries(api)[-1]
    assert entry["outcome"] == "error" and json.loads(entry["detail"])["error"]["kind"] == kind
    assert KEY not in Path(api.audit).read_text()


def test_retries_recover_from_429_and_500(api, fake):
    fake.script({"status": 429, "retry_after": "1"}, {"status": 500}, {"content": "42 members"})
    response = ask(api, ADMIN, "Hoeveel leden?")
    assert response.status == 200 and response.json()["answer"] == "42 members"
    assert len(fake.requests) == 3


def test_the_cli_asks_streams_and_audits(world, fake, tmp_path):
    env_key = {KEY_ENV: KEY}
    audit = tmp_path / "audit.log"
    args = ["ask", "--lake", world["lake"], "--store", world["store"], "--base-url", fake.url, "--model", "fake/cli",
            "--api-key-env", KEY_ENV, "--audit", audit, "--timeout", 2]
    fake.script({"tool_calls": [("run_report", {"name": "age-distribution"})]}, {"content": "Ages are spread evenly."})
    proc = run_with_env(env_key, *args, "--region", "Utrecht", "Hoe oud zijn onze leden?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Ages are spread evenly.")
    assert "query 1: run_report" in proc.stdout and "p25_leeftijd" in proc.stdout
    assert fake.requests[0]["json"]["stream"] is True
    # --json and --no-stream: everything as JSON, one body per call.
    fake.script({"tool_calls": [("run_query", {"group_by": ["lidmaatschap"]})]}, {"content": "Mostly ordinary members."})
    proc = run_with_env(env_key, *args, "--json", "--no-stream", "Welke soorten lidmaatschap?")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["answer"] == "Mostly ordinary members." and answer["scope"] == "all"
    assert answer["queries"][0]["result"]["columns"] == ["lidmaatschap", "count"]
    assert "stream" not in fake.requests[0]["json"]
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [e["action"] for e in entries] == ["ask", "ask"] and entries[0]["auth"] == "cli"
    assert entries[0]["scope"] == ["Utrecht"] and entries[1]["scope"] == ["*"]
    assert run("audit", "verify", "--log", audit).returncode == 0
    # Without a key: a clear error and an audit entry, no request.
    fake.script()
    proc = run_with_env({}, *args, "Hoeveel?")
    assert proc.returncode == 1 and f"the variable {KEY_ENV} is not set" in proc.stderr and fake.requests == []
    assert json.loads(audit.read_text().splitlines()[-1])["outcome"] == "error"
    # The daily budget holds across runs: it is counted from the audit trail.
    fake.script({"content": "x"})
    proc = run_with_env(env_key, *args, "--daily-tokens", 10, "Hoeveel?")
    assert proc.returncode == 1 and "daily limit of 10 tokens" in proc.stderr and fake.requests == []


def test_the_servers_daily_budget_survives_a_restart_and_is_fresh_the_next_day(world, fake, tmp_path):
    """The budget is kept in ask-budget.json next to the audit log: a restart does not hand the
    caller a fresh day; the next day (data.as_of, the server's today, one day on) does."""
    keys_file = tmp_path / "api_keys.toml"
    keys_file.write_text("# memberlake API keys (hashes only)\n")
    ai = ai_section(fake, max_retries=0, daily_tokens_per_caller=50)

    def start(as_of):
        return start_server(tmp_path, world, keys_file, ai, as_of)

    server = start(AS_OF)
    fake.script({"content": "first"})
    first = ask(server, UTRECHT, "Hoeveel leden?")  # a call of some 1,000 tokens: over the day's 50 after it
    assert first.status == 200, first.text
    used = first.json()["tokens"]["counted"]
    assert used > 50
    saved = json.loads((tmp_path / "audit" / "ask-budget.json").read_text())
    assert saved["used"] == {"user-Members_Read-Regio_Utrecht": {"day": AS_OF, "tokens": used}}
    assert server.stop() == 0

    server = start(AS_OF)  # the same day, a new process
    fake.script({"content": "second"})
    refused = ask(server, UTRECHT, "En nu?")
    assert refused.status == 429, refused.text
    error = refused.json()["error"]
    assert error["kind"] == "token_budget" and f"daily limit of 50 tokens" in error["message"]
    assert f"({used} used today" in error["message"]
    assert fake.requests == []  # refused before the model was asked
    entry = audit_entries(server)[-1]
    assert entry["outcome"] == "error" and entry["actor"] == "user-Members_Read-Regio_Utrecht"
    assert json.loads(entry["detail"])["error"]["kind"] == "token_budget"
    assert ask(server, ADMIN, "Hoeveel?").status == 200  # another caller has a budget of its own
    assert server.stop() == 0

    server = start("2026-01-08")  # the next day
    fake.script({"content": "a new day"})
    fresh = ask(server, UTRECHT, "Hoeveel leden?")
    assert fresh.status == 200 and fresh.json()["answer"] == "a new day", fresh.text
    assert json.loads(audit_entries(server)[-1]["detail"])["day"] == "2026-01-08"
    assert server.stop() == 0


def run_with_env(extra, *args):
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    env.update(extra)
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=120, env=env)


def test_no_request_body_of_any_test_holds_personal_data(api, fake, world):
    # Last in the module, so ALL_BODIES holds every body the tests above sent; it is checked
    # again when the module's server stops. One question of its own, so it never checks nothing.
    fake.script({"tool_calls": [("run_query", {"group_by": ["motortype"], "where": ["regio=Utrecht"]})]},
                {"content": "ok"})
    assert ask(api, ADMIN, "Which motorcycle types do our Utrecht members ride?").status == 200
    assert len(fake.requests) == 2 and tool_results(fake.requests[1]["json"])[0]["rows"]
    assert_no_personal_data(world, ALL_BODIES)
