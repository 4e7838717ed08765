"""The club's live table as other programs write it (domain.md, "The live table as it really
is"), on DynamoDB Local: items written with boto3, not memberlake, in odd types and without
_version; memberlake reads them without dying, edits them without damage, and keeps member
numbers unique against them."""
import json
import subprocess

import boto3
import pytest

from conftest import AS_OF, BIN

CLUB_MEMBER = {
    "member_id": {"S": "club-0001"}, "lidnummer": {"N": "4321"}, "voornaam": {"S": "Anneke"},
    "achternaam": {"S": "Jansen"}, "email": {"S": "anneke@example.nl"}, "status": {"S": "Actief"},
    "lidmaatschap": {"S": "Gewoon lid"}, "regio": {"S": "Utrecht"}, "bouwjaar": {"S": "1985"},
    "geboortedatum": {"S": "1971-11-29"}, "name": {"S": "Anneke Jansen"},
    "preferred_language": {"S": "nl"}, "nationaliteit": {"S": "Nederlandse"},
    "status_history": {"L": [{"M": {"from": {"S": "Aangemeld"}, "to": {"S": "Actief"}, "event": {"S": "approve"},
                                    "at": {"S": "2025-03-01T10:15:30.123456"}, "by": {"S": "secretaris@h-dcn.nl"}}}]},
    "lastModified": {"N": "1740823530"},
}

NEW = {"voornaam": "Dirk", "achternaam": "de Vries", "email": "dirk.live@example.nl", "status": "Actief",
       "lidmaatschap": "Gewoon lid", "regio": "Limburg"}


def ml(env, *args, check=True):
    proc = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def dynamo(ddb):
    # DynamoDB Local keeps tables per access key id and region: the same as memberlake's.
    return boto3.client("dynamodb", endpoint_url=ddb.endpoint, region_name="eu-west-1",
                        aws_access_key_id=ddb.env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=ddb.env["AWS_SECRET_ACCESS_KEY"])


def raw(dynamo, table, member_id):
    return dynamo.get_item(TableName=table, Key={"member_id": {"S": member_id}}, ConsistentRead=True)["Item"]


ODD_VALUES = [{"L": [{"S": "a"}, {"N": "1"}]}, {"M": {"x": {"S": "y"}}}, {"N": "12"}, {"S": "text"},
              {"BOOL": True}, {"NULL": True}, {"SS": ["a", "b"]}, {"NS": ["1", "2"]}, {"B": b"\x00\xff"},
              {"BS": [b"\x01"]}, {"L": []}, {"M": {}}]


def test_items_of_every_type_in_registry_attributes_never_kill_the_process(ddb, dynamo, tmp_path):
    env, table = ddb.env, "OddTypes"
    store = ddb.uri(table, segments=2)
    ml(env, "seed", "--store", store, "--members", 20, "--seed", 3)
    attributes = ["voornaam", "lidnummer", "email", "geboortedatum", "regio", "status", "bouwjaar", "tijdstempel",
                  "postcode", "nieuwsbrief", "created_at"]
    odd_ids = []
    for i, attribute in enumerate(attributes):
        for j, value in enumerate(ODD_VALUES):
            item = {k: v for k, v in CLUB_MEMBER.items()}
            item["member_id"] = {"S": f"odd-{i}-{j}"}
            item["lidnummer"] = {"N": str(7000 + i * 100 + j)}
            item[attribute] = value
            dynamo.put_item(TableName=table, Item=item)
            odd_ids.append(item["member_id"]["S"])
    listed = ml(env, "members", "list", "--store", store, "--limit", 1000)
    assert len(json.loads(listed.stdout)) == 20 + len(odd_ids)
    for member_id in ["odd-0-0", "odd-1-4", "odd-3-8", "odd-6-9"]:
        got = ml(env, "members", "get", "--store", store, member_id, check=False)
        assert got.returncode in (0, 2), got.stderr  # a value or a clear error, never a signal
    summary = json.loads(ml(env, "generate", "--store", store, "--lake", tmp_path / "lake", "--as-of", AS_OF,
                            "--json").stdout)
    manifest = json.loads((tmp_path / "lake" / summary["manifest"]).read_text())
    assert manifest["members"] + manifest["quarantined"] == 20 + len(odd_ids)
    assert manifest["quarantined"] > 0  # a list in lidnummer or a map in a date cannot be repaired
    assert summary["data_version"] >= 20
    # _version as another program might write it: S "2" is version 2; a list is a clear error
    # naming the member and the attribute, not a dead process.
    dynamo.put_item(TableName=table, Item=dict(CLUB_MEMBER, member_id={"S": "v-text"}, _version={"S": "2"}))
    assert json.loads(ml(env, "members", "get", "--store", store, "v-text").stdout)["_version"] == 2
    for odd in ({"L": [{"N": "1"}]}, {"BOOL": True}, {"N": "1.5"}, {"M": {}}):
        dynamo.put_item(TableName=table, Item=dict(CLUB_MEMBER, member_id={"S": "v-odd"}, _version=odd))
        for command in (["members", "get", "--store", store, "v-odd"], ["members", "list", "--store", store]):
            failed = ml(env, *command, check=False)
            assert failed.returncode == 2 and "v-odd" in failed.stderr and "_version" in failed.stderr, failed


def test_an_item_without_version_is_edited_keeping_every_other_attribute(ddb, dynamo):
    env, table = ddb.env, "ClubShape"
    store = ddb.uri(table)
    ml(env, "seed", "--store", store, "--members", 5, "--seed", 3)
    dynamo.put_item(TableName=table, Item=CLUB_MEMBER)
    before = raw(dynamo, table, "club-0001")
    got = json.loads(ml(env, "members", "get", "--store", store, "club-0001").stdout)
    assert got["_version"] == 0 and got["bouwjaar"] == 1985
    stale = ml(env, "members", "update", "--store", store, "club-0001", "--expected-version", 3,
               "--json", '{"regio": "Limburg"}', check=False)
    assert stale.returncode == 4
    edited = json.loads(ml(env, "members", "update", "--store", store, "club-0001", "--expected-version", 0,
                           "--json", '{"regio": "Limburg"}').stdout)
    assert edited["regio"] == "Limburg" and edited["_version"] > 0
    after = raw(dynamo, table, "club-0001")
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {"regio", "_version", "updated_at"}, changed
    assert after["regio"] == {"S": "Limburg"} and after["bouwjaar"] == {"S": "1985"}
    assert after["status_history"] == CLUB_MEMBER["status_history"] and after["name"] == CLUB_MEMBER["name"]
    # Editing bouwjaar itself writes the registry's type; clearing a field removes it.
    again = json.loads(ml(env, "members", "update", "--store", store, "club-0001", "--expected-version",
                          edited["_version"], "--json", '{"bouwjaar": "1986", "geboortedatum": null}').stdout)
    after2 = raw(dynamo, table, "club-0001")
    assert after2["bouwjaar"] == {"N": "1986"} and "geboortedatum" not in after2
    assert after2["status_history"] == CLUB_MEMBER["status_history"]
    # A second versionless item can be deleted with expected version 0.
    other = dict(CLUB_MEMBER, member_id={"S": "club-0002"}, lidnummer={"S": "4322"})
    dynamo.put_item(TableName=table, Item=other)
    ml(env, "members", "delete", "--store", store, "club-0002", "--expected-version", 0)
    assert "Item" not in dynamo.get_item(TableName=table, Key={"member_id": {"S": "club-0002"}}, ConsistentRead=True)
    stale_delete = ml(env, "members", "delete", "--store", store, "club-0001", "--expected-version", 0, check=False)
    assert stale_delete.returncode == 4 and again["_version"] > 0


def test_member_numbers_are_unique_against_every_writer_and_come_from_counters(ddb, dynamo):
    env, table = ddb.env, "ClubNumbers"
    ml(env, "seed", "--store", ddb.uri(table), "--members", 5, "--seed", 3)
    dynamo.create_table(TableName="Counters", KeySchema=[{"AttributeName": "counter_id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "counter_id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    dynamo.put_item(TableName="Counters", Item={"counter_id": {"S": "member_number"}, "member_number": {"N": "6545"}})
    dynamo.put_item(TableName=table, Item=CLUB_MEMBER)  # holds 4321 as N
    dynamo.put_item(TableName=table, Item=dict(CLUB_MEMBER, member_id={"S": "club-s"}, lidnummer={"S": "4400"}))
    dynamo.put_item(TableName=table, Item=dict(CLUB_MEMBER, member_id={"S": "club-d"},
                                               lidnummer={"S": "6546 Donateur"}))
    store = ddb.uri(table, counters="Counters")
    for taken in (4321, 4400, 6546):
        refused = ml(env, "members", "add", "--store", store, "--json", json.dumps(dict(NEW, lidnummer=taken)),
                     check=False)
        assert refused.returncode == 4 and str(taken) in refused.stderr, refused.stderr
    member = json.loads(ml(env, "members", "add", "--store", store, "--json", json.dumps(NEW)).stdout)
    assert member["lidnummer"] == 6547  # 6546 is held by the donateur: skipped
    counter = dynamo.get_item(TableName="Counters", Key={"counter_id": {"S": "member_number"}}, ConsistentRead=True)
    assert counter["Item"]["member_number"] == {"N": "6547"}
    moved = ml(env, "members", "update", "--store", store, member["member_id"], "--expected-version",
               member["_version"], "--json", '{"lidnummer": 4400}', check=False)
    assert moved.returncode == 4 and "4400" in moved.stderr
    # Without a counters table the store's own counter skips numbers the table holds: its next
    # number is another program's, so it moves past the highest number in the table.
    own_counter = dynamo.get_item(TableName=f"{table}-changes", Key={"p": {"S": "counter"}, "v": {"N": "0"}},
                                  ConsistentRead=True)["Item"]["lidnummer"]
    own_next = int(own_counter["N"]) + 1
    dynamo.put_item(TableName=table, Item=dict(CLUB_MEMBER, member_id={"S": "club-next"},
                                               lidnummer={"N": str(own_next)}))
    listed = json.loads(ml(env, "members", "list", "--store", ddb.uri(table), "--limit", 100).stdout)
    highest = max([m["lidnummer"] for m in listed if isinstance(m.get("lidnummer"), int)] + [own_next])
    own = json.loads(ml(env, "members", "add", "--store", ddb.uri(table), "--json",
                        json.dumps(dict(NEW, email="own@example.nl"))).stdout)
    assert own["lidnummer"] == highest + 1
    missing = ml(env, "members", "list", "--store", ddb.uri(table, counters="NoCounters"), check=False)
    assert missing.returncode != 0 and "NoCounters" in missing.stderr


def create_club_table(dynamo, table):
    """The club's members table as it exists: made by the club, with a keys-only stream."""
    dynamo.create_table(TableName=table, KeySchema=[{"AttributeName": "member_id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "member_id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST",
                        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})


def club_member(i, **changes):
    item = dict(CLUB_MEMBER, member_id={"S": f"club-{i:04d}"}, lidnummer={"N": str(100 + i)},
                email={"S": f"lid{i}@example.nl"})
    item.update(changes)
    return item


def test_changes_by_other_writers_reach_hybrid_reads_through_the_stream(ddb, dynamo, tmp_path):
    env, table = ddb.env, "StreamedClub"
    create_club_table(dynamo, table)
    for i in range(40):
        dynamo.put_item(TableName=table, Item=club_member(i))
    store, lake = ddb.uri(table), tmp_path / "lake"
    # Nothing created by hand but the club's table: the change log table is memberlake's own.
    summary = json.loads(ml(env, "generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json").stdout)
    assert json.loads((lake / summary["manifest"]).read_text())["members"] == 40

    def query(*where):
        args = ["query", "--store", store, "--lake", lake, "--select", "member_id,regio", "--format", "json"]
        for clause in where:
            args += ["--where", clause]
        return json.loads(ml(env, *args).stdout)

    assert query()["source"] == "snapshot"
    dynamo.update_item(TableName=table, Key={"member_id": {"S": "club-0003"}},
                       UpdateExpression="SET regio = :r", ExpressionAttributeValues={":r": {"S": "Limburg"}})
    dynamo.delete_item(TableName=table, Key={"member_id": {"S": "club-0004"}})
    dynamo.put_item(TableName=table, Item=club_member(77, regio={"S": "Limburg"}))
    limburg = query("regio=Limburg")
    assert limburg["source"] == "hybrid"
    assert limburg["live_data_version"] == 1 + 40 + 3  # the first follow's gap, 40 puts, 3 changes
    assert sorted(r["member_id"] for r in limburg["rows"]) == ["club-0003", "club-0077"]
    everyone = query()
    ids = {r["member_id"] for r in everyone["rows"]}
    assert len(ids) == 40 and "club-0004" not in ids and "club-0077" in ids
    # Each stream record was logged once, even with several readers catching up.
    again = query("regio=Limburg")
    assert again["rows"] == limburg["rows"] and again["live_data_version"] == limburg["live_data_version"]
    # A checkpoint whose shard is gone before it was read to its end (trimmed after 24 hours):
    # the log cannot be complete, so answers come from a full scan and say why.
    state_key = {"p": {"S": "stream"}, "v": {"N": "0"}}
    dynamo.update_item(TableName=f"{table}-changes", Key=state_key, UpdateExpression="SET shards.#s = :c",
                       ExpressionAttributeNames={"#s": "shardId-00000000000000000000-trimmed0"},
                       ExpressionAttributeValues={":c": {"M": {"seq": {"S": "1"}, "done": {"BOOL": False}}}})
    dynamo.update_item(TableName=table, Key={"member_id": {"S": "club-0005"}},
                       UpdateExpression="SET regio = :r", ExpressionAttributeValues={":r": {"S": "Limburg"}})
    after_gap = query("regio=Limburg")
    assert after_gap["source"] == "live" and "incomplete" in after_gap["fallback_reason"], after_gap
    assert sorted(r["member_id"] for r in after_gap["rows"]) == ["club-0003", "club-0005", "club-0077"]
    # A snapshot generated after the gap is trusted again.
    ml(env, "generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    dynamo.update_item(TableName=table, Key={"member_id": {"S": "club-0006"}},
                       UpdateExpression="SET regio = :r", ExpressionAttributeValues={":r": {"S": "Limburg"}})
    healed = query("regio=Limburg")
    assert healed["source"] == "hybrid" and len(healed["rows"]) == 4
    # Nobody caught up for 25 hours: records of shards never checkpointed may have been trimmed.
    import time
    dynamo.update_item(TableName=f"{table}-changes", Key=state_key, UpdateExpression="SET #at = :at",
                       ExpressionAttributeNames={"#at": "at"},
                       ExpressionAttributeValues={":at": {"N": str(int(time.time()) - 25 * 3600)}})
    stale = query("regio=Limburg")
    assert stale["source"] == "live" and "incomplete" in stale["fallback_reason"] and len(stale["rows"]) == 4


def test_stream_faults_split_closed_shards_trimmed_horizon_and_throttling(ddb, dynamo, tmp_path):
    """The stream scripted by a proxy in front of DynamoDB Local (the table itself is real):
    a shard split (parent read to its end before its children, closed shards marked done),
    a throttled GetRecords (retried), and a checkpoint past the trim horizon (answered live)."""
    from peers import ScriptedStream
    env, table = ddb.env, "FaultyStream"
    create_club_table(dynamo, table)
    for i in range(20):
        dynamo.put_item(TableName=table, Item=club_member(i))
    stream = ScriptedStream(ddb.endpoint)
    try:
        stream.add_shard("shardId-0002-parent")
        # The table over DynamoDB Local directly, its stream over the proxy (streams_endpoint=).
        store, lake = ddb.uri(table, streams_endpoint=stream.endpoint), tmp_path / "lake"
        ml(env, "generate", "--store", store, "--lake", lake, "--as-of", AS_OF)

        def query():
            return json.loads(ml(env, "query", "--store", store, "--lake", lake, "--where", "regio=Limburg",
                                 "--select", "member_id", "--format", "json").stdout)

        def logged():
            items = dynamo.query(TableName=f"{table}-changes", KeyConditionExpression="p = :p",
                                 ExpressionAttributeValues={":p": {"S": "changes"}}, ConsistentRead=True)["Items"]
            return [(int(i["v"]["N"]), i["member_id"]["S"], i["op"]["S"]) for i in items]

        def limburg(i):
            dynamo.update_item(TableName=table, Key={"member_id": {"S": f"club-{i:04d}"}},
                               UpdateExpression="SET regio = :r", ExpressionAttributeValues={":r": {"S": "Limburg"}})

        # Edits by another program; then the parent shard closes and splits in two children.
        for i in (1, 2):
            limburg(i)
            stream.record("shardId-0002-parent", "MODIFY", f"club-{i:04d}")
        stream.close("shardId-0002-parent")
        stream.add_shard("shardId-0001-child", parent="shardId-0002-parent")  # sorts before its parent
        stream.add_shard("shardId-0003-child", parent="shardId-0002-parent")
        limburg(3)
        stream.record("shardId-0001-child", "MODIFY", "club-0003")
        dynamo.delete_item(TableName=table, Key={"member_id": {"S": "club-0001"}})
        stream.record("shardId-0003-child", "REMOVE", "club-0001")
        stream.throttle_every = 2
        answer = query()
        assert answer["source"] == "hybrid"
        assert sorted(r["member_id"] for r in answer["rows"]) == ["club-0002", "club-0003"]
        assert stream.throttled > 0 and {"DescribeStream", "GetShardIterator", "GetRecords"} <= set(stream.calls)
        entries = logged()
        order = [member for _, member, _ in sorted(entries)]
        assert order.index("club-0002") < order.index("club-0003")  # the parent's records first
        assert [e for e in entries if e[1] == "club-0001"][-1][2] == "delete"
        state = dynamo.get_item(TableName=f"{table}-changes", Key={"p": {"S": "stream"}, "v": {"N": "0"}},
                                ConsistentRead=True)["Item"]["shards"]["M"]
        assert state["shardId-0002-parent"]["M"]["done"] == {"BOOL": True}
        assert state["shardId-0001-child"]["M"]["done"] == {"BOOL": False}
        # The checkpoints are durable: another process logs nothing twice.
        count = len(entries)
        assert query()["rows"] == answer["rows"] and len(logged()) == count
        # The closed parent disappears from the stream (trimmed after 24 hours, done): forgotten.
        del stream.shards["shardId-0002-parent"]
        limburg(4)
        stream.record("shardId-0003-child", "MODIFY", "club-0004")
        answer = query()
        assert answer["source"] == "hybrid" and len(answer["rows"]) == 3 and len(logged()) == count + 1
        # The next checkpoint lies beyond the trim horizon: changes may be lost, answered live.
        stream.trim_next = True
        limburg(5)  # in the table, its stream record trimmed away unread
        answer = query()
        assert answer["source"] == "live" and "incomplete" in answer["fallback_reason"]
        assert sorted(r["member_id"] for r in answer["rows"]) == ["club-0002", "club-0003", "club-0004", "club-0005"]
    finally:
        stream.stop()


def test_api_members_and_the_on_change_trigger_follow_the_stream(ddb, dynamo, tmp_path_factory, monkeypatch):
    """`memberlake serve` on the club's table: /api/members shows boto3's edits and deletes, and
    the on-change trigger generates after them (it polls the data_version the stream moves)."""
    import time

    from server_support import Keys, Server
    table = "ServedClub"
    create_club_table(dynamo, table)
    for i in range(30):
        dynamo.put_item(TableName=table, Item=club_member(i))
    base = tmp_path_factory.mktemp("served")
    store, lake = ddb.uri(table), base / "lake"
    ml(ddb.env, "generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    keys_file = base / "api_keys.toml"
    keys_file.write_text("# memberlake API keys (hashes only)\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"):
        monkeypatch.setenv(name, ddb.env[name])
    server = Server(base, store, lake, Keys(), keys_file,
                    "[triggers]\non_change_min_changes = 2\non_change_quiet_seconds = 1")
    try:
        token = server.keys.hs256(["Members_CRUD", "Regio_All"])
        first = server.get("/api/snapshots", token).json()["current"]
        dynamo.update_item(TableName=table, Key={"member_id": {"S": "club-0003"}},
                           UpdateExpression="SET regio = :r", ExpressionAttributeValues={":r": {"S": "Limburg"}})
        dynamo.delete_item(TableName=table, Key={"member_id": {"S": "club-0004"}})
        listed = server.get("/api/members", token, params={"where": "member_id in club-0003|club-0004|club-0005"})
        assert listed.status == 200, listed.text
        rows = {r["member_id"]: r for r in listed.json()["rows"]}
        assert sorted(rows) == ["club-0003", "club-0005"] and rows["club-0003"]["regio"] == "Limburg"
        deadline, current = time.time() + 60, first
        while time.time() < deadline and current == first:
            time.sleep(0.3)
            current = server.get("/api/snapshots", token).json()["current"]
        assert current != first, "no generation after two changes by another program"
        manifest = json.loads((lake / "manifests" / f"snapshot-{current}.json").read_text())
        assert manifest["members"] == 29
        # An edit through the API of an item without _version keeps every other attribute.
        before = raw(dynamo, table, "club-0007")
        patched = server.request("PATCH", "/api/members/club-0007", token, body={"woonplaats": "Venlo"},
                                 headers={"If-Match": '"0"'})
        assert patched.status == 200, patched.text
        after = raw(dynamo, table, "club-0007")
        assert {k for k in set(before) | set(after) if before.get(k) != after.get(k)} == \
            {"woonplaats", "_version", "updated_at"}
        assert after["bouwjaar"] == {"S": "1985"} and after["status_history"] == before["status_history"]
    finally:
        server.stop()


def test_racing_followers_log_each_stream_record_once(ddb, dynamo, tmp_path):
    env, table = ddb.env, "RacedStream"
    create_club_table(dynamo, table)
    store, lake = ddb.uri(table), tmp_path / "lake"
    ml(env, "generate", "--store", store, "--lake", lake, "--as-of", AS_OF)  # follows from here (one gap)
    for i in range(150):
        dynamo.put_item(TableName=table, Item=club_member(i))
    query = [BIN, "query", "--store", store, "--lake", lake, "--select", "member_id", "--format", "json"]
    readers = [subprocess.Popen(query, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(4)]
    for reader in readers:
        out, err = reader.communicate(timeout=300)
        assert reader.returncode == 0, err
        assert len(json.loads(out)["rows"]) == 150
    entries = dynamo.query(TableName=f"{table}-changes", KeyConditionExpression="p = :p",
                           ExpressionAttributeValues={":p": {"S": "changes"}}, ConsistentRead=True)["Items"]
    members = [e["member_id"]["S"] for e in entries]
    assert len(members) == 150 and len(set(members)) == 150  # each record once, none skipped


def test_malformed_answers_from_a_peer_are_errors_not_crashes(ddb, dynamo):
    """A proxy answering with odd JSON where DynamoDB's answers have structure: each command
    ends with an error naming the problem (no exception escapes, nothing is taken for data)."""
    from peers import ForwardingProxy
    env, table = ddb.env, "OddAnswers"
    ml(env, "seed", "--store", ddb.uri(table), "--members", 5, "--seed", 3)
    dynamo.put_item(TableName=table, Item=CLUB_MEMBER)

    class Odd(ForwardingProxy):
        answers = {}

        def intercept(self, target, request):
            operation = target.split(".", 1)[1]
            return self.answers.get(operation)

    proxy = Odd(ddb.endpoint)
    try:
        store = ddb.uri(table, endpoint=proxy.endpoint, max_attempts=1)
        cases = [
            ("GetItem", (200, {"Item": {"member_id": {"S": 5}}}), ["members", "get", "--store", store, "club-0001"]),
            ("GetItem", (200, {"Item": 5}), ["members", "get", "--store", store, "club-0001"]),
            ("GetItem", (200, {"Item": {"_version": {"N": ["1"]}}}), ["members", "get", "--store", store, "club-0001"]),
            ("Scan", (200, {"Items": 5}), ["members", "list", "--store", store]),
            ("Scan", (200, {"Items": [5]}), ["members", "list", "--store", store]),
            ("Scan", (200, [1, 2]), ["members", "list", "--store", store]),
            ("GetItem", (400, {"__type": 5, "message": ["x"]}), ["members", "get", "--store", store, "club-0001"]),
            ("TransactWriteItems", (400, {"__type": "x#TransactionCanceledException", "message": 7,
                                          "CancellationReasons": [5, {"Code": 7}, None]}),
             ["members", "update", "--store", store, "club-0001", "--expected-version", 0, "--json",
              '{"regio": "Limburg"}']),
        ]
        for operation, answer, command in cases:
            Odd.answers = {operation: answer}
            failed = ml(env, *command, check=False)
            assert failed.returncode > 0 and "unexpected error" not in failed.stderr, (operation, answer, failed)
            assert failed.stderr.strip(), (operation, answer)
        Odd.answers = {}
        assert json.loads(ml(env, "members", "get", "--store", store, "club-0001").stdout)["member_id"] == "club-0001"
    finally:
        proxy.stop()
