"""The HTTP API's access control, against a real server: a generated authorisation matrix
(every permission role x region role x endpoint, own / other / all regions), token attacks,
and the rule that no response reveals a member of another region."""
import io
import json
import re
import time

import duckdb
import pyarrow.parquet as pq
import pytest

from server_support import AUDIENCE, ISSUER, SECRET, Keys, start_server

OWN, OWN2, OTHER = "Utrecht", "Limburg", "Groningen/Drenthe"
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}")

# The test's own reading of domain.md's roles: the oracle the server is checked against.
PERMISSIONS = {
    "Members_CRUD": dict(actions={"read", "export", "download", "create", "update", "delete", "generate"},
                         restricted=True, reports="all"),
    "Members_Read": dict(actions={"read"}, reports="all"),
    "Members_Export": dict(actions={"read", "export", "download"}, reports="all"),
    "Members_Status_Approve": dict(actions={"read", "update_status"}, reports="all"),
    "Communication_Read": dict(actions={"read"}, reports="communication"),
    "Communication_Export": dict(actions={"read", "export"}, reports="communication"),
    "System_CRUD": dict(actions={"read", "export", "download", "create", "update", "delete", "generate", "audit"},
                        restricted=True, reports="all", all_regions=True),
    "System_Logs_Read": dict(actions={"audit"}, reports="none", needs_region=False),
}
REGION_ROLES = {"none": [], "all": ["Regio_All"], "own": [f"Regio_{OWN}"],
                "own2": [f"Regio_{OWN}", f"Regio_{OWN2}"]}


class Grant:
    def __init__(self, groups):
        all_role = "Regio_All" in groups
        regions = {g[len("Regio_"):] for g in groups if g.startswith("Regio_") and g != "Regio_All"}
        self.actions, self.restricted, self.reports, self.all = set(), False, "none", False
        any_role = False
        for g in groups:
            p = PERMISSIONS.get(g)
            if p is None:
                continue
            if p.get("needs_region", True) and not p.get("all_regions") and not (all_role or regions):
                continue  # a permission role without a region role grants nothing
            any_role = True
            self.actions |= p["actions"]
            self.restricted |= p.get("restricted", False)
            rank = ["none", "communication", "all"]
            self.reports = max(self.reports, p["reports"], key=rank.index)
            self.all |= p.get("all_regions", False)
        if not any_role:
            self.actions, self.restricted, self.reports, self.all = set(), False, "none", False
            self.regions = set()
            return
        self.all |= all_role
        self.regions = set() if self.all else regions
        if not self.all:
            self.actions.discard("generate")

    def can(self, action):
        return action in self.actions

    def in_scope(self, region):
        return self.all or region in self.regions

    @property
    def members_api(self):
        return self.can("read") and self.reports == "all"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = start_server(tmp_path_factory)
    lake = server.lake
    current = (lake / "manifests" / "CURRENT").read_text().strip()
    manifest = json.loads((lake / "manifests" / f"snapshot-{current}.json").read_text())
    full = next(f for f in manifest["files"] if f["kind"] == "full")
    table = pq.read_table(lake / full["path"], columns=["member_id", "email", "regio"]).to_pylist()
    server.manifest = manifest
    server.members = table
    server.by_region = {}
    for row in table:
        server.by_region.setdefault(row["regio"], []).append(row)
    yield server
    assert server.stop() == 0


def foreign_markers(api, grant):
    """Member ids and e-mail addresses of members outside the grant's scope."""
    ids, emails = set(), set()
    for row in api.members:
        if not grant.in_scope(row["regio"]):
            ids.add(row["member_id"].encode())
            if row["email"]:
                emails.add(row["email"].encode())
    return ids, emails


def assert_no_foreign_members(api, grant, response, what, asked=""):
    """`asked`: the request's own text; echoing what the caller sent reveals nothing."""
    if grant.all:
        return
    ids, emails = foreign_markers(api, grant)
    ids = {i for i in ids if i.decode() not in asked}
    body = response.body
    if body[:4] == b"PAR1":
        table = pq.read_table(io.BytesIO(body))
        if "regio" in table.column_names:
            assert set(table.column("regio").to_pylist()) <= grant.regions, what
        body = b" ".join(str(v).encode() for col in table.columns for v in col.to_pylist())
    leaked_ids = set(UUID.findall(body)) & ids
    leaked_emails = set(EMAIL.findall(body)) & emails
    assert not leaked_ids and not leaked_emails, f"{what}: leaked {list(leaked_ids)[:3]} {list(leaked_emails)[:3]}"


def endpoints(api):
    """(name, request kwargs, expected status for a grant)."""
    own_member = api.by_region[OWN][0]["member_id"]
    other_member = api.by_region[OTHER][0]["member_id"]
    files = api.manifest["files"]
    own_file = next(f["path"] for f in files if f["kind"] == "regional" and f["region"] == OWN)
    other_file = next(f["path"] for f in files if f["kind"] == "regional" and f["region"] == OTHER)
    full_file = next(f["path"] for f in files if f["kind"] == "full")
    snap = api.manifest["snapshot_id"]

    def members_list(region):
        def expect(g):
            if not g.members_api:
                return 403
            return 200 if region is None or g.in_scope(region) else 403
        return expect

    def member_get(region):
        return lambda g: 403 if not g.members_api else (200 if g.in_scope(region) else 404)

    def report(audience="members", export=False, restricted=False):
        def expect(g):
            if not g.can("read") or (export and not g.can("export")):
                return 403
            if not (g.reports == "all" or (g.reports == "communication" and audience == "communication")):
                return 403
            if restricted and not g.restricted:
                return 403
            return 200 if (g.all or g.regions) else 403
        return expect

    def download(region):
        def expect(g):
            if not g.can("download") or g.reports != "all":
                return 403
            return 200 if (g.all if region is None else g.in_scope(region)) else 404
        return expect

    return [
        ("me", dict(method="GET", path="/api/me"), lambda g: 200),
        ("members", dict(method="GET", path="/api/members", params={"limit": 50}), members_list(None)),
        ("members own", dict(method="GET", path="/api/members", params={"region": OWN}), members_list(OWN)),
        ("members other", dict(method="GET", path="/api/members", params={"region": OTHER}), members_list(OTHER)),
        ("member own", dict(method="GET", path=f"/api/members/{own_member}"), member_get(OWN)),
        ("member other", dict(method="GET", path=f"/api/members/{other_member}"), member_get(OTHER)),
        ("regional-stats", dict(method="GET", path="/api/reports/regional-stats"), report()),
        ("regional-stats other", dict(method="GET", path="/api/reports/regional-stats", params={"region": OTHER}),
         lambda g: report()(g) if report()(g) != 200 else (200 if g.in_scope(OTHER) else 403)),
        ("overview csv", dict(method="GET", path="/api/reports/member-overview", params={"format": "csv"}),
         report(export=True)),
        ("email-list", dict(method="GET", path="/api/reports/email-list"), report("communication")),
        ("email-list xlsx", dict(method="GET", path="/api/reports/email-list", params={"format": "xlsx"}),
         report("communication", export=True)),
        ("financial", dict(method="GET", path="/api/reports/financial-view"), report(restricted=True)),
        ("query count", dict(method="GET", path="/api/query", params={"group_by": "regio", "agg": "count"}),
         lambda g: 403 if not g.members_api else 200),
        ("query iban", dict(method="GET", path="/api/query", params={"select": "bankrekeningnummer,regio"}),
         lambda g: 403 if not g.members_api or not g.restricted else 200),
        ("snapshots", dict(method="GET", path="/api/snapshots"), lambda g: 200 if g.members_api else 403),
        ("download own", dict(method="GET", path=f"/api/snapshots/{snap}/files/{own_file}"), download(OWN)),
        ("download other", dict(method="GET", path=f"/api/snapshots/{snap}/files/{other_file}"), download(OTHER)),
        ("download full", dict(method="GET", path=f"/api/snapshots/{snap}/files/{full_file}"), download(None)),
        ("audit", dict(method="GET", path="/api/audit", params={"limit": 5}), lambda g: 200 if g.can("audit") else 403),
        ("generate denied", dict(method="POST", path="/api/generate", body=b""),
         lambda g: None if g.can("generate") else 403),
    ]


CALLERS = [([p] if p else []) + REGION_ROLES[r] for p in [*PERMISSIONS, None] for r in REGION_ROLES]


@pytest.mark.parametrize("groups", CALLERS, ids=lambda g: "+".join(g) or "no-roles")
def test_authorisation_matrix(api, groups):
    grant = Grant(groups)
    token = api.keys.hs256(groups)
    for name, kwargs, expect in endpoints(api):
        expected = expect(grant)
        if expected is None:
            continue  # allowed generation is tested on its own (it runs a job)
        kwargs = dict(kwargs)
        method, path = kwargs.pop("method"), kwargs.pop("path")
        response = api.request(method, path, token, **kwargs)
        assert response.status == expected, f"{groups} {name}: {response.status} {response.text[:300]}"
        if name != "audit":  # the audit trail is for auditors, whole by design (member ids, no rows)
            assert_no_foreign_members(api, grant, response, f"{groups} {name}", asked=path)
        if response.status != 200 or response.body[:4] == b"PAR1":
            if response.body[:4] == b"PAR1":
                columns = pq.read_schema(io.BytesIO(response.body)).names
                assert ("bankrekeningnummer" in columns) == grant.restricted, f"{groups} {name}: {columns}"
            continue
        if response.headers.get("Content-Type", "").startswith("application/json"):
            doc = response.json()
            for row in doc.get("rows", []):
                if "regio" in row:
                    assert grant.in_scope(row["regio"]), f"{groups} {name}: row of {row['regio']}"
                if not grant.restricted:
                    assert "bankrekeningnummer" not in row and "notities" not in row, f"{groups} {name}"
            if name == "snapshots":
                for snapshot in doc["snapshots"]:
                    assert ("members" in snapshot) == grant.all
                    for f in snapshot["files"]:
                        assert f["kind"] == "regional" and grant.in_scope(f["region"]) or grant.all, f


def test_regional_counts_equal_duckdb_for_the_callers_regions(api):
    token = api.keys.rs256(["Members_Read", f"Regio_{OWN}", f"Regio_{OWN2}"])
    doc = api.get("/api/reports/regional-stats", token).json()
    lake = api.lake
    full = next(f for f in api.manifest["files"] if f["kind"] == "full")
    expected = duckdb.sql(
        f"select regio, lidmaatschap, count(*) from read_parquet('{lake / full['path']}') "
        f"where status='Actief' and regio in ('{OWN}', '{OWN2}') group by all order by 1, 2").fetchall()
    got = [(r["regio"], r["lidmaatschap"], r["count"]) for r in doc["rows"]]
    assert got == expected
    assert doc["scope"] == ",".join(sorted([OWN, OWN2]))


def test_member_list_pages_and_totals(api):
    token = api.keys.hs256(["Members_Read", f"Regio_{OWN}"])
    first = api.get("/api/members", token, params={"limit": 7}).json()
    second = api.get("/api/members", token, params={"limit": 7, "offset": 7}).json()
    assert first["total"] == len(api.by_region[OWN])
    assert len(first["rows"]) == 7 and len(second["rows"]) == 7
    numbers = [r["lidnummer"] for r in first["rows"] + second["rows"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 14
    assert all(r["regio"] == OWN for r in first["rows"])


def test_api_key_authenticates_with_its_groups(api):
    me = api.request("GET", "/api/me", api_key=api.api_key).json()
    assert me["subject"] == "export-script" and me["regions"] == [OWN] and me["auth"] == "api_key"
    bad = api.request("GET", "/api/me", api_key=api.api_key[:-1] + ("A" if api.api_key[-1] != "A" else "B"))
    assert bad.status == 401
    csv = api.request("GET", "/api/reports/member-overview", api_key=api.api_key, params={"format": "csv"})
    assert csv.status == 200 and csv.body.startswith(b"\xef\xbb\xbf")


def token_attacks(keys: Keys):
    groups = ["Members_CRUD", "Regio_All"]
    claims = keys.claims(groups)
    now = int(time.time())
    yield "no credential", None
    yield "bad signature", Keys.raw({"alg": "HS256", "typ": "JWT"}, claims, b"not-the-secret")
    yield "alg none", Keys.raw({"alg": "none", "typ": "JWT"}, claims, None)
    yield "alg None with signature", Keys.raw({"alg": "None"}, claims, SECRET.encode())
    yield "HS/RS confusion (public key as HMAC secret)", Keys.raw({"alg": "HS256", "kid": "k1"}, claims, keys.public_pem)
    yield "RS256 with unknown kid", Keys.raw({"alg": "RS256", "kid": "other"}, claims, SECRET.encode())
    yield "expired", keys.hs256(groups, exp=now - 3600)
    yield "not yet valid", keys.hs256(groups, nbf=now + 3600)
    yield "wrong issuer", keys.hs256(groups, iss="https://evil.example/")
    yield "wrong audience", keys.rs256(groups, aud="someone-else")
    yield "missing groups", jwt_without_groups(keys)
    yield "groups not a list", keys.hs256(groups, **{"cognito:groups": "Members_CRUD"})
    yield "tampered payload", tamper(keys.rs256(["Members_Read", "Regio_Utrecht"]), groups)
    yield "garbage", "not.a.token"


def jwt_without_groups(keys):
    import jwt as pyjwt
    claims = keys.claims([])
    del claims["cognito:groups"]
    return pyjwt.encode(claims, SECRET, algorithm="HS256")


def tamper(token, groups):
    head, body, sig = token.split(".")
    claims = json.loads(__import__("base64").urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["cognito:groups"] = groups
    from server_support import b64url
    return f"{head}.{b64url(json.dumps(claims).encode())}.{sig}"


def test_token_attacks_are_refused(api):
    keys = api.keys
    assert api.get("/api/me", keys.hs256(["Members_Read", "Regio_Utrecht"])).status == 200
    assert api.get("/api/me", keys.rs256(["Members_Read", "Regio_Utrecht"])).status == 200
    assert api.get("/api/me", keys.hs256(["Members_Read", "Regio_Utrecht"], aud=[AUDIENCE, "x"])).status == 200
    for name, token in token_attacks(keys):
        for path in ["/api/me", "/api/members", f"/api/reports/regional-stats"]:
            response = api.get(path, token)
            assert response.status == 401, f"{name} on {path}: {response.status} {response.text[:200]}"
            assert response.headers.get("WWW-Authenticate") == "Bearer"
            assert b"rows" not in response.body


def test_health_and_ready_need_no_token(api):
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/ready").json() == {"status": "ready"}
    assert api.get("/api/nothing-here", api.keys.hs256(["Members_Read", "Regio_All"])).status == 404
