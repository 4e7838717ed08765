"""Member numbers (lidnummer) are unique in both live stores, SQLite and DynamoDB Local: an insert
or update that would give a second member the same number is refused (exit 4), names the
number but not the member holding it, and changes nothing; numbers freed by an update or a
delete can be taken again."""
import json
import os
import subprocess

import pytest

from conftest import BIN
MEMBER = {"voornaam": "Nina", "achternaam": "Nummer", "email": "nina@example.nl", "status": "Actief",
          "lidmaatschap": "Gewoon lid", "regio": "Oost"}


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'm.db'}", dict(os.environ)
    server = request.getfixturevalue("ddb")
    return server.uri(f"Numbers{os.getpid()}{tmp_path.name[-6:].replace('_', '')}"), server.env


def ml(store, *args, check=True):
    uri, env = store
    proc = subprocess.run([BIN, args[0], args[1], "--store", uri, *map(str, args[2:])], capture_output=True, text=True,
                          env=env, timeout=300)
    if check:
        assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc


def add(store, **fields):
    return ml(store, "members", "add", "--json", json.dumps(dict(MEMBER, **fields)), check=False)


def members(store):
    return json.loads(ml(store, "members", "list", "--limit", 1000).stdout)


def test_lidnummers_are_unique(store):
    uri, env = store
    subprocess.run([BIN, "seed", "--store", uri, "--members", "40", "--seed", "3"], env=env, check=True,
                   capture_output=True, timeout=300)
    before = members(store)
    taken = next(m for m in before if isinstance(m.get("lidnummer"), int))
    # a second member with a number in use: refused, named, nothing written
    duplicate = add(store, lidnummer=taken["lidnummer"])
    assert duplicate.returncode == 4, duplicate.stderr
    assert f"lidnummer: {taken['lidnummer']} is already another member's number" in duplicate.stderr
    assert taken["member_id"] not in duplicate.stderr
    assert len(members(store)) == len(before)

    first = json.loads(add(store, lidnummer=9000, email="first@example.nl").stdout)
    second = json.loads(add(store, email="second@example.nl").stdout)  # numbered by the store
    assert second["lidnummer"] not in {m.get("lidnummer") for m in before} | {9000}
    # renumbering onto a number in use is refused and changes nothing
    clash = ml(store, "members", "update", second["member_id"], "--expected-version", second["_version"],
               "--json", json.dumps({"lidnummer": 9000}), check=False)
    assert clash.returncode == 4 and "lidnummer: 9000" in clash.stderr
    assert json.loads(ml(store, "members", "get", second["member_id"]).stdout)["lidnummer"] == second["lidnummer"]
    # a renumbered member frees its old number; a deleted one frees its number
    moved = json.loads(ml(store, "members", "update", first["member_id"], "--expected-version", first["_version"],
                          "--json", json.dumps({"lidnummer": 9100})).stdout)
    assert moved["lidnummer"] == 9100
    again = add(store, lidnummer=9000, email="again@example.nl")
    assert again.returncode == 0, again.stderr
    ml(store, "members", "delete", moved["member_id"], "--expected-version", moved["_version"])
    assert add(store, lidnummer=9100, email="after.delete@example.nl").returncode == 0
    # an update that keeps the number is not a clash with itself
    kept = ml(store, "members", "update", second["member_id"], "--expected-version", second["_version"],
              "--json", json.dumps({"woonplaats": "Zwolle", "lidnummer": second["lidnummer"]}))
    assert json.loads(kept.stdout)["woonplaats"] == "Zwolle"
    numbers = [m["lidnummer"] for m in members(store) if isinstance(m.get("lidnummer"), int)]
    assert len(numbers) == len(set(numbers))
