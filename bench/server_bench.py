"""HTTP benchmark: wrk (Debian) on loopback against a real `memberlake serve`.

Measures cached regional-stats and a regional member list page (req/s, p99, errors), idle and
while generations run back to back. Prints figures; asserts nothing about speed.

    .venv/bin/python bench/server_bench.py [--members 200000] [--seconds 10] [--connections 16]
"""
import argparse
import os
import re
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="memberlake-server-bench-"))
    store, lake = f"sqlite:{base / 'members.db'}", base / "lake"
    print(f"seeding {args.members} members and generating ...", file=sys.stderr)
    subprocess.run([BIN, "seed", "--store", store, "--members", str(args.members)], check=True, capture_output=True)
    subprocess.run([BIN, "generate", "--store", store, "--lake", str(lake)], check=True, capture_output=True)
    config = base / "server.toml"
    config.write_text(f"""[server]
port = 0
threads = {args.connections + 4}
access_log = ""
[data]
store = "{store}"
lake = "{lake}"
[auth]
issuer = "bench"
audience = "bench"
hs256_secret = "{SECRET}"
[audit]
path = "{base / 'audit.log'}"
""")
    server = subprocess.Popen([BIN, "serve", "--config", str(config)], stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().split()[-1]
    regional = token(["Members_Read", "Regio_Utrecht"])
    admin = token(["Members_CRUD", "Regio_All"])
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

    print(f"\nwrk -t2 -c{args.connections} -d{args.seconds}s on loopback, {args.members} members, 2 cores shared "
          f"by wrk and the server\n")
    print(f"{'target':44} {'phase':22} {'req/s':>9} {'p99 ms':>8} {'errors':>7}")
    for phase in ("idle", "during generation"):
        thread = None
        if phase == "during generation":
            generating.set()
            thread = threading.Thread(target=generate_forever)
            thread.start()
            time.sleep(1)
        for name, target, auth in targets:
            rps, p99, errors, socket_errors = wrk(target, auth, args.seconds, args.connections)
            print(f"{name:44} {phase:22} {rps:9.0f} {p99:8.2f} {errors:7d} {socket_errors}")
        if thread:
            generating.clear()
            thread.join()
    print(f"\ngenerations completed while measuring: {generations[0]}")
    server.terminate()
    server.wait(timeout=120)


if __name__ == "__main__":
    main()
