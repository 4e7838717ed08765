"""DynamoDB stream benchmark on DynamoDB Local: how fast memberlake's change log catches up
with a table's stream (records/s), and hybrid read latency with 0, 100 and 10,000 stream
records not yet in a snapshot. Items are written with boto3, as the club's other programs do.
Prints figures only.

    .venv/bin/python bench/stream_bench.py [--members 2000] [--pending 0,100,10000]

Per pending count: the first query catches the log up with the stream and reads the changed
members (catch-up + hybrid); the second finds the log caught up (hybrid only); the catch-up
rate is pending / (first - second).
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from aws_bench import timed  # noqa: E402  (bench/ is this script's directory)
from peers import DynamoDbLocal  # noqa: E402

AS_OF = "2026-01-07"
REGIONS = ["Utrecht", "Limburg", "Oost", "Friesland", "Noord-Holland"]


def member(i, regio):
    return {"member_id": {"S": f"club-{i:06d}"}, "lidnummer": {"N": str(1000 + i)}, "voornaam": {"S": "Lid"},
            "achternaam": {"S": f"Nummer {i}"}, "email": {"S": f"lid{i}@example.nl"}, "status": {"S": "Actief"},
            "lidmaatschap": {"S": "Gewoon lid"}, "regio": {"S": regio}, "bouwjaar": {"S": "1985"},
            "status_history": {"L": [{"M": {"to": {"S": "Actief"}, "at": {"S": "2025-03-01T10:15:30"}}}]}}


def write(dynamo, table, members, count, offset):
    """`count` puts spread over the members (each a stream record: INSERT, then MODIFY)."""
    for start in range(0, count, 25):
        # the regio shifts with every pass over the members, so each put changes the item
        batch = [{"PutRequest": {"Item": member(a % members, REGIONS[(a + a // members) % len(REGIONS)])}}
                 for a in range(offset + start, offset + min(count, start + 25))]
        # one key once per batch: puts of the same member go to separate batches
        unique = {b["PutRequest"]["Item"]["member_id"]["S"]: b for b in batch}
        pending = {table: list(unique.values())}
        while pending:
            pending = dynamo.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--pending", default="0,100,10000")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="memberlake-stream-bench-"))
    ddb = DynamoDbLocal(base)
    try:
        env = ddb.env
        dynamo = boto3.client("dynamodb", endpoint_url=ddb.endpoint, region_name="eu-west-1",
                              aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        table = "Members"
        dynamo.create_table(TableName=table, KeySchema=[{"AttributeName": "member_id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "member_id", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST",
                            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
        store, lake = ddb.uri(table), base / "lake"
        write(dynamo, table, args.members, args.members, 0)
        seconds, _ = timed(env, "generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
        print(f"first generation ({args.members} members, {args.members} stream records to catch up): {seconds:.2f} s")
        query = ["query", "--store", store, "--lake", lake, "--where", "regio=Limburg", "--select", "member_id",
                 "--format", "json"]
        offset = args.members
        print(f"{'pending records':>16} {'catch-up + hybrid (s)':>22} {'hybrid only (s)':>16} {'catch-up rate (rec/s)':>22}")
        for pending in [int(p) for p in args.pending.split(",")]:
            write(dynamo, table, args.members, pending, offset)
            offset += pending
            before = json.loads(timed(env, "query", "--store", store, "--snapshot-only", "--lake", lake, "--select",
                                      "member_id", "--limit", "1", "--format", "json")[1])["data_version"]
            first, out = timed(env, *query)
            second, _ = timed(env, *query)
            answer = json.loads(out)
            logged = answer["live_data_version"] - before
            rate = f"{logged / (first - second):.0f}" if logged and first > second else "-"
            print(f"{pending:>16} {first:>22.3f} {second:>16.3f} {rate:>22}   "
                  f"({answer['source']}, {logged} records logged)")
            timed(env, "generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    finally:
        ddb.stop()


if __name__ == "__main__":
    main()
