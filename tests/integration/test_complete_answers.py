"""Complete answers (issue 11 item 3): a list or an export either holds every row or says it
does not. A query larger than any page limit (10,000 rows) is counted in every format."""
import csv
import io
import json

import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest

from server_support import serve

MEMBERS = 10_600  # more than the largest JSON page (10,000)
FORMATS = ("json", "ndjson", "csv", "xlsx", "parquet")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    yield from serve(tmp_path_factory, members=MEMBERS, seed=31)


def admin(api):
    return api.keys.hs256(["Members_CRUD", "Regio_All"])


def lake_count(api):
    current = (api.lake / "manifests" / "CURRENT").read_text().strip()
    manifest = json.loads((api.lake / "manifests" / f"snapshot-{current}.json").read_text())
    full = next(f["path"] for f in manifest["files"] if f["kind"] == "full")
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{api.lake / full}')").fetchall()[0][0]


def rows_in(fmt, body: bytes):
    if fmt == "json":
        return len(json.loads(body)["rows"])
    if fmt == "ndjson":
        return sum(1 for line in body.decode().splitlines() if line.strip())
    if fmt == "csv":
        return len(list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))) - 1
    if fmt == "xlsx":
        return openpyxl.load_workbook(io.BytesIO(body), read_only=True).active.max_row - 1
    return pq.read_table(io.BytesIO(body)).num_rows


@pytest.mark.parametrize("path", ["/api/query", "/api/members"])
def test_json_pages_say_total_truncated_and_next_and_add_up(api, path):
    expected = lake_count(api)
    assert expected > 10_000
    token, seen, offset, pages = admin(api), set(), 0, 0
    while offset is not None:
        page = api.get(path, token, params={"select": "member_id", "offset": offset, "limit": 10_000})
        assert page.status == 200, page.text
        doc = page.json()
        assert doc["total"] == expected and doc["offset"] == offset
        assert doc["returned"] == len(doc["rows"])
        assert doc["truncated"] == (doc["next"] is not None)
        seen.update(r["member_id"] for r in doc["rows"])
        offset, pages = doc["next"], pages + 1
    assert pages == 2 and len(seen) == expected
    # The default page of /api/query is the largest one: it says it is not everything.
    first = api.get(path, token, params={"select": "member_id"}).json()
    assert first["truncated"] is True and first["next"] == len(first["rows"]) < expected


@pytest.mark.parametrize("fmt", FORMATS[1:])
@pytest.mark.parametrize("path", ["/api/query", "/api/members"])
def test_exports_of_any_size_hold_every_row(api, path, fmt):
    expected = lake_count(api)
    export = api.get(path, admin(api), params={"select": "member_id,lidnummer,regio", "format": fmt})
    assert export.status == 200, export.text
    assert rows_in(fmt, export.body) == expected
    assert export.headers["X-Total-Count"] == str(expected)
    assert export.headers["X-Memberlake-Truncated"] == "false"


def test_an_export_with_a_limit_says_it_is_truncated(api):
    expected = lake_count(api)
    export = api.get("/api/query", admin(api), params={"select": "member_id", "format": "csv", "limit": 50})
    assert rows_in("csv", export.body) == 50
    assert export.headers["X-Total-Count"] == str(expected)
    assert export.headers["X-Memberlake-Truncated"] == "true"
    assert export.headers["X-Memberlake-Next-Offset"] == "50"
