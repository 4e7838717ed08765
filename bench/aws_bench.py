"""AWS backends benchmark: DynamoDB Local scan throughput with 1 and N segments, and
generation time to S3 (s3proxy on loopback) versus local disk. Prints figures only.

    .venv/bin/python bench/aws_bench.py [--members 100000] [--segments 4]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from peers import DynamoDbLocal, S3Server  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))


def timed(env, *args):
    start = time.perf_counter()
    out = subprocess.run([BIN, *map(str, args)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{args}: {out.stderr}")
    return time.perf_counter() - start, out.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=4)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="memberlake-aws-bench-"))
    ddb, s3 = DynamoDbLocal(base), S3Server(base)
    try:
        s3.create_bucket("bench")
        env = dict(ddb.env, AWS_ACCESS_KEY_ID=s3.env["AWS_ACCESS_KEY_ID"],
                   AWS_SECRET_ACCESS_KEY=s3.env["AWS_SECRET_ACCESS_KEY"])
        print(f"loading {args.members} members into DynamoDB Local ...", file=sys.stderr)
        seconds, _ = timed(env, "seed", "--store", ddb.uri("Bench"), "--members", args.members)
        print(f"\nDynamoDB Local, {args.members} members (2 cores shared with the Java server)")
        print(f"  import (BatchWriteItem, 25 per request)   {seconds:7.2f} s   {args.members / seconds:9.0f} items/s")
        sqlite = f"sqlite:{base / 'm.db'}"
        subprocess.run([BIN, "seed", "--store", sqlite, "--members", str(args.members)], check=True, capture_output=True)
        for segments in (1, args.segments):
            lake = base / f"scan-{segments}"
            seconds, out = timed(env, "generate", "--store", ddb.uri("Bench", segments=segments), "--lake", lake,
                                 "--json")
            scan = json.loads(out)["seconds"]["scan"]
            print(f"  scan, {segments} segment(s)                     {scan:7.2f} s   {args.members / scan:9.0f} items/s"
                  f"   (generation {seconds:.2f} s)")
        print(f"\nGeneration from SQLite, {args.members} members")
        local_s, _ = timed(env, "generate", "--store", sqlite, "--lake", base / "local")
        s3_s, _ = timed(env, "generate", "--store", sqlite, "--lake", s3.uri("bench", "lake"))
        print(f"  to local disk                 {local_s:7.2f} s")
        print(f"  to S3 (s3proxy, loopback)     {s3_s:7.2f} s   ratio {s3_s / local_s:.2f}x")
    finally:
        ddb.stop()
        s3.stop()


if __name__ == "__main__":
    main()
