"""Downloads streamed, never held whole (issue 11 item 2): a large snapshot file goes out in
chunks as it is read from the lake, so the server's memory does not grow with the file, not even
for a client that stops reading."""
import csv
import http.client
import io
import json
import socket
import time
import urllib.parse

import pyarrow.parquet as pq
import pytest

from server_support import serve

MEMBERS = 100_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve(tmp_path_factory, members=MEMBERS, seed=57)


def memory_kib(server, field):
    """VmRSS (now) or VmHWM (peak) of the server process, in KiB."""
    for line in open(f"/proc/{server.proc.pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{server.proc.pid}/status")


def full_file(server):
    snapshot = (server.lake / "manifests" / "CURRENT").read_text().strip()
    manifest = json.loads((server.lake / "manifests" / f"snapshot-{snapshot}.json").read_text())
    full = max((f for f in manifest["files"] if f["kind"] == "full"), key=lambda f: f["bytes"])
    return snapshot, full


def download_path(snapshot, file):
    return urllib.parse.quote(f"/api/snapshots/{snapshot}/files/{file['path']}", safe="/")


def open_download(server, snapshot, file, close):
    """A raw connection with a small receive buffer (a slow client) that asked for `file` and read
    the start of the answer: (socket, bytes read so far)."""
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    client = socket.create_connection((host, int(port)), timeout=60)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    client.sendall((f"GET {download_path(snapshot, file)} HTTP/1.1\r\nHost: {host}\r\n"
                    f"Authorization: Bearer {server.keys.hs256(['System_CRUD'])}\r\n"
                    + ("Connection: close\r\n" if close else "") + "\r\n").encode())
    received = client.recv(65536)
    assert received.startswith(b"HTTP/1.1 200")
    return client, received


def last_logged(server, file):
    lines = [json.loads(line) for line in (server.base / "access.log").read_text().splitlines()]
    return [line for line in lines if line["path"].endswith(file["path"])][-1]


def test_a_large_download_is_chunked_identical_and_does_not_grow_the_server(server):
    snapshot, file = full_file(server)
    on_disk = (server.lake / file["path"]).read_bytes()
    assert len(on_disk) > 4 << 20, f"the file should be large: {len(on_disk)} bytes"
    token = server.keys.hs256(["System_CRUD"])  # sees restricted fields: the file as it is
    server.get("/health")
    before = memory_kib(server, "VmHWM")
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    connection.request("GET", download_path(snapshot, file), headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    assert response.status == 200
    body = response.read()
    connection.close()
    growth = (memory_kib(server, "VmHWM") - before) * 1024
    assert body == on_disk
    assert growth < len(on_disk) / 4, f"peak memory grew by {growth} bytes for a {len(on_disk)}-byte file"
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Length") is None
    assert response.getheader("ETag") == '"' + file["sha256"][:32] + '"'
    # The access log counts the streamed bytes.
    logged = last_logged(server, file)
    assert logged["bytes"] == len(on_disk) and logged["status"] == 200


def test_a_client_that_stops_reading_does_not_grow_the_server(server):
    snapshot, file = full_file(server)
    size = (server.lake / file["path"]).stat().st_size
    before = memory_kib(server, "VmRSS")
    client, received = open_download(server, snapshot, file, close=True)
    with client:
        time.sleep(3)  # the client stops reading; the server must wait, not buffer the rest
        stalled = memory_kib(server, "VmRSS")
        assert (stalled - before) * 1024 < size / 4, f"memory grew by {(stalled - before) * 1024} bytes while stalled"
        while chunk := client.recv(1 << 20):
            received += chunk
    head, _, chunked = received.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert chunked.endswith(b"0\r\n\r\n")  # ended cleanly after the stall
    assert len(chunked) > size


def test_head_of_a_download_has_no_body(server):
    snapshot, file = full_file(server)
    token = server.keys.hs256(["System_CRUD"])
    response = server.request("HEAD", f"/api/snapshots/{snapshot}/files/{file['path']}", token)
    assert response.status == 200 and response.body == b""
    assert response.headers.get("ETag") == '"' + file["sha256"][:32] + '"'


def test_a_read_error_after_the_headers_ends_the_connection_without_a_clean_end(server):
    snapshot, file = full_file(server)
    path = server.lake / file["path"]
    original = path.read_bytes()
    try:
        client, received = open_download(server, snapshot, file, close=False)
        with client:
            time.sleep(1)
            with open(path, "r+b") as shrink:  # the file shrinks under the open download
                shrink.truncate(0)
            while chunk := client.recv(1 << 20):  # keep-alive was asked: only a close ends this
                received += chunk
    finally:
        path.write_bytes(original)
    assert len(received) < len(original)
    assert not received.endswith(b"0\r\n\r\n")
    assert 0 < last_logged(server, file)["bytes"] < len(original)


@pytest.mark.parametrize("path", ["/api/query", "/api/members"])
def test_csv_and_ndjson_exports_are_streamed_with_every_row(server, path):
    token = server.keys.hs256(["Members_CRUD", "Regio_All"])
    params = {"select": "member_id,lidnummer,regio", "order_by": "member_id"}
    reference = server.get(path, token, params={**params, "format": "parquet"})
    assert reference.status == 200, reference.text
    expected = pq.read_table(io.BytesIO(reference.body)).column("member_id").to_pylist()
    assert len(expected) > 50_000
    csv_export = server.get(path, token, params={**params, "format": "csv"})
    assert csv_export.status == 200 and csv_export.headers.get("Transfer-Encoding") == "chunked"
    rows = list(csv.reader(io.StringIO(csv_export.body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == ["member_id", "lidnummer", "regio"] and [row[0] for row in rows[1:]] == expected
    ndjson_export = server.get(path, token, params={**params, "format": "ndjson"})
    assert ndjson_export.status == 200 and ndjson_export.headers.get("Transfer-Encoding") == "chunked"
    assert [json.loads(line)["member_id"] for line in ndjson_export.body.decode().splitlines()] == expected
