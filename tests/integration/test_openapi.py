"""The API contract (issue 11 item 6): /api/openapi.json is a valid OpenAPI 3.1 document that
covers every route of the service, and every documented operation answers on a real server
with a status code the document lists for it."""
import re

import pytest
from openapi_spec_validator import validate

from server_support import serve

# The service's routes (server/api_service.h); a new route must be documented to pass.
ROUTES = {
    ("get", "/health"), ("get", "/ready"), ("get", "/metrics"), ("get", "/api/openapi.json"), ("get", "/api/me"),
    ("get", "/api/members"), ("post", "/api/members"), ("get", "/api/members/{id}"), ("patch", "/api/members/{id}"),
    ("put", "/api/members/{id}"), ("delete", "/api/members/{id}"), ("get", "/api/reports"),
    ("get", "/api/reports/{name}"), ("get", "/api/query"), ("get", "/api/snapshots"),
    ("get", "/api/snapshots/{id}/files/{path}"), ("post", "/api/generate"), ("get", "/api/jobs/{id}"),
    ("get", "/api/audit"), ("get", "/api/auth/config"), ("get", "/api/health/data"), ("post", "/api/ask"),
    ("get", "/api/anonymised"),
    ("post", "/api/members/{id}/erase"), ("get", "/api/members/{id}/export"),
}
METHODS = {"get", "post", "put", "patch", "delete", "options"}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    yield from serve(tmp_path_factory, members=300, seed=41)


@pytest.fixture(scope="module")
def doc(api):
    response = api.get("/api/openapi.json")
    assert response.status == 200 and response.headers["Content-Type"].startswith("application/json")
    return response.json()


def operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


def test_every_route_is_documented_with_its_roles_and_errors(doc):
    documented = {(m, p) for m, p, _ in operations(doc) if m != "options"}
    assert documented == ROUTES
    for method, path, operation in operations(doc):
        assert operation.get("x-memberlake-roles"), (method, path)
        if operation["security"]:  # authenticated: a missing or bad credential is documented
            assert "401" in operation["responses"], (method, path)
    for path, item in doc["paths"].items():  # the frontend's preflight, on every authenticated path
        if path.startswith("/api/") and path != "/api/openapi.json":
            assert item["options"]["security"] == [] and "204" in item["options"]["responses"], path


def concrete(api, admin, path, started):
    """The path with real ids: a member, a report, a snapshot file, a job (`started` holds the
    job a documented POST /api/generate already started)."""
    values = {}
    if "{id}" in path and path.startswith("/api/members"):
        values["id"] = api.get("/api/members", admin, params={"limit": 1}).json()["rows"][0]["member_id"]
    if "{name}" in path:
        values["name"] = api.get("/api/reports", admin).json()["reports"][0]["name"]
    if path.startswith("/api/snapshots/"):
        listing = api.get("/api/snapshots", admin).json()
        first = listing["snapshots"][0]
        values["id"], values["path"] = first["snapshot_id"], first["files"][0]["path"]
    if path.startswith("/api/jobs/"):
        if not started:
            job = api.request("POST", "/api/generate", admin)
            assert job.status == 202, job.text
            started.append(job.json()["job_id"])
        values["id"] = started[0]
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_every_documented_operation_answers_with_a_documented_status(api, doc):
    admin = api.keys.hs256(["System_CRUD", "Regio_All", "System_Logs_Read"])
    started = []
    for method, path, operation in operations(doc):
        if method == "options":
            continue  # the HTTP edge does not pass OPTIONS through yet (tests/unit/api_cors_test.cc)
        url = concrete(api, admin, path, started)
        body = {} if method in ("post", "patch", "put") and path != "/api/generate" else None
        headers = {"If-Match": '"1"'} if method in ("patch", "put", "delete") else None
        response = api.request(method.upper(), url, admin if operation["security"] else None, body=body,
                               headers=headers)
        assert str(response.status) in operation["responses"], (method, path, response.status, response.text)
        if path == "/api/generate" and response.status == 202:
            started.append(response.json()["job_id"])
        assert "no such endpoint:" not in response.text, (method, path)
        if operation["security"]:
            anonymous = api.request(method.upper(), url, None, body=body, headers=headers)
            assert anonymous.status == 401, (method, path, anonymous.status)
