"""HTTP benchmark: wrk (Debian) on loopback against a real `memberlake serve`.

Measures cached regional-stats and a regional member list page (req/s, p99, errors), idle and
while generations run back to back; then the latency (p50/p99, a new connection per request) of
/health and of an authorised member read with 0, 1,000 idle and 100 slow-header connections open
(the slow ones send a header byte every 0.5 s). With --baseline BIN the same runs for a second
binary (e.g. main's build) for a before/after table. Prints figures; asserts nothing about speed.

    .venv/bin/python bench/server_bench.py [--members 200000] [--seconds 10] [--connections 16]
                                           [--baseline /work/main/build/memberlake] [--part latency]
                                           [--without-quick]
"""
import argparse
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"


def token(groups):
    now = int(time.time())
    return jwt.encode({"sub": "bench", "iss": "bench", "aud": "bench", "iat": now, "exp": now + 3600,
                       "cognito:groups": groups}, SECRET, algorithm="HS256")


def wrk(url, auth, seconds, connections):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H",
                          f"Authorization: Bearer {auth}", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return rps, float(p99.group(1)) * scale, int(errors.group(1)) if errors else 0, \
        socket_errors.group(1) if socket_errors else ""


# Settings of the event-driven edge, so the flood stays open while it is measured (the header
# deadline would otherwise close idle and slow connections after 10 s). Older binaries refuse
# unknown keys and run without them.
FLOOD_SETTINGS = """header_timeout_seconds = 120
max_connections_per_client = 5000
max_connections = 5000
"""


def start(bin_path, base, store, lake, threads, extra, data_extra=""):
    config = base / "server.toml"
    config.write_text(f"""[server]
port = 0
threads = {threads}
access_log = ""
{extra}
[data]
store = "{store}"
lake = "{lake}"
{data_extra}
[auth]
issuer = "bench"
audience = "bench"
hs256_secret = "{SECRET}"
[audit]
path = "{base / 'audit.log'}"
""")
    server = subprocess.Popen([bin_path, "serve", "--config", str(config)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if "listening on" not in line:
        server.wait()
        return None, None
    return server, line.split()[-1]


def latency(url, path, auth, samples, timeout=5.0, budget=40.0):
    """p50/p99 in ms of `samples` GETs, each on a new connection; requests slower than `timeout`
    count as failures (and as `timeout` in the percentiles); stops early after `budget` s."""
    host, port = url.split("//")[1].split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {auth}\r\nConnection: close\r\n\r\n"
    times, failures, began = [], 0, time.monotonic()
    for _ in range(samples):
        start = time.monotonic()
        try:
            with socket.create_connection((host, int(port)), timeout=timeout) as sock:
                sock.sendall(request.encode())
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                if not data.startswith(b"HTTP/1.1 200"):
                    failures += 1
        except OSError:
            failures += 1
        times.append(min(time.monotonic() - start, timeout) * 1000)
        if time.monotonic() - began > budget:
            break
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))], len(times), failures


class Flood:
    """`idle` connections that send nothing and `slow` ones trickling a header a byte every 0.5 s."""
    HEADER = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000 + b"\r\n\r\n"

    def __init__(self, url, idle, slow):
        host, port = url.split("//")[1].split(":")
        self.idle = [socket.create_connection((host, int(port))) for _ in range(idle)]
        self.slow = [socket.create_connection((host, int(port))) for _ in range(slow)]
        self.running = True
        self.thread = threading.Thread(target=self.trickle)
        self.thread.start()
        time.sleep(1)

    def trickle(self):
        position = 0
        while self.running and position < len(self.HEADER):
            for sock in self.slow:
                try:
                    sock.send(self.HEADER[position:position + 1])
                except OSError:
                    pass
            position += 1
            time.sleep(0.5)

    def close(self):
        self.running = False
        self.thread.join()
        for sock in self.idle + self.slow:
            sock.close()


def flood_latencies(label, bin_path, base, store, lake, url_member, regional, samples):
    server, url = start(bin_path, base, store, lake, 20, FLOOD_SETTINGS)
    note = ""
    if server is None:
        server, url = start(bin_path, base, store, lake, 20, "")
        note = " (no flood settings)"
    for phase, idle, slow in (("no other connections", 0, 0), ("1,000 idle", 1000, 0), ("100 slow-header", 0, 100),
                              ("1,000 idle + 100 slow", 1000, 100)):
        flood = Flood(url, idle, slow) if idle or slow else None
        for name, path in (("/health", "/health"), ("member read", url_member)):
            p50, p99, n, failures = latency(url, path, regional, samples)
            print(f"{label + note:38} {phase:24} {name:12} {p50:8.2f} {p99:9.2f} {n:6d} {failures:8d}")
        if flood:
            flood.close()
            time.sleep(1)
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--baseline", help="a second binary to measure the same way (before/after)")
    parser.add_argument("--samples", type=int, default=300, help="requests per latency figure")
    parser.add_argument("--part", choices=["all", "throughput", "latency"], default="all")
    parser.add_argument("--without-quick", action="store_true",
                        help="also measure this build with server.quick_answers = false (every answer via a worker)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    base = Path(tempfile.mkdtemp(prefix="memberlake-server-bench-"))
    store, lake = f"sqlite:{base / 'members.db'}", base / "lake"
    print(f"seeding {args.members} members and generating ...", file=sys.stderr)
    subprocess.run([BIN, "seed", "--store", store, "--members", str(args.members)], check=True, capture_output=True)
    subprocess.run([BIN, "generate", "--store", store, "--lake", str(lake)], check=True, capture_output=True)
    binaries = [("after (this build)", BIN, "")]
    if args.without_quick:
        binaries.append(("after, no quick", BIN, "quick_answers = false"))
    if args.baseline:
        binaries.append(("before (baseline)", args.baseline, ""))
    regional = token(["Members_Read", "Regio_Utrecht"])
    admin = token(["Members_CRUD", "Regio_All"])
    if args.part != "latency":
        print(f"\nwrk -t2 -c{args.connections} -d{args.seconds}s on loopback, {args.members} members, 2 cores shared "
              f"by wrk and the server\n")
        print(f"{'binary':20} {'target':44} {'phase':22} {'req/s':>9} {'p99 ms':>8} {'errors':>7}")
    for label, bin_path, extra in binaries if args.part != "latency" else []:
        throughput(label, bin_path, extra, base, store, lake, args, regional, admin)
    if args.part == "throughput":
        return

    server, url = start(BIN, base, store, lake, 4, "")
    member_id = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"{url}/api/members?limit=1", headers={"Authorization": f"Bearer {regional}"})).read())["rows"][0]["member_id"]
    server.terminate()
    server.wait(timeout=60)
    print(f"\nlatency of one request on a new connection while other connections are open "
          f"({args.samples} requests per row, 5 s client timeout)\n")
    print(f"{'binary':38} {'open connections':24} {'request':12} {'p50 ms':>8} {'p99 ms':>9} {'n':>6} {'failures':>8}")
    for label, bin_path, _ in binaries:
        flood_latencies(label, bin_path, base, store, lake, f"/api/members/{member_id}", regional, args.samples)


def throughput(label, bin_path, extra, base, store, lake, args, regional, admin):
    server, url = start(bin_path, base, store, lake, args.connections + 4, extra)
    targets = [("cached regional-stats (all regions)", f"{url}/api/reports/regional-stats", admin),
               ("regional member list (Utrecht, 50 rows)", f"{url}/api/members?limit=50", regional)]
    for _, target, auth in targets:  # warm the result cache
        urllib.request.urlopen(urllib.request.Request(target, headers={"Authorization": f"Bearer {auth}"})).read()

    generating = threading.Event()
    generations = [0]

    def generate_forever():
        while generating.is_set():
            req = urllib.request.Request(f"{url}/api/generate", data=b"", method="POST",
                                         headers={"Authorization": f"Bearer {admin}"})
            try:
                job = urllib.request.urlopen(req).read()
            except urllib.error.HTTPError:
                time.sleep(0.2)
                continue
            job_id = re.search(rb'"job_id":"([^"]+)"', job).group(1).decode()
            while True:
                status = urllib.request.urlopen(urllib.request.Request(
                    f"{url}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {admin}"})).read()
                if b'"state":"succeeded"' in status or b'"state":"failed"' in status:
                    generations[0] += 1
                    break
                time.sleep(0.1)

    for phase in ("idle", "during generation"):
        thread = None
        if phase == "during generation":
            generating.set()
            thread = threading.Thread(target=generate_forever)
            thread.start()
            time.sleep(1)
        for name, target, auth in targets:
            rps, p99, errors, socket_errors = wrk(target, auth, args.seconds, args.connections)
            print(f"{label:20} {name:44} {phase:22} {rps:9.0f} {p99:8.2f} {errors:7d} {socket_errors}")
        if thread:
            generating.clear()
            thread.join()
    print(f"{label:20} generations completed while measuring: {generations[0]}")
    server.terminate()
    server.wait(timeout=120)


if __name__ == "__main__":
    main()
