"""Erasure against an S3 server with bucket versioning (issue 17): moto's standalone server
(PyPI moto[server]) on loopback, since s3proxy's filesystem backend has no versions. After an
erasure no version of any object in the bucket may still hold the member: every version is
fetched by its version id, Parquet versions are decoded by pyarrow, every other version is
searched as bytes (and after zstd decompression)."""
import io
import json

import pyarrow.parquet as pq

from conftest import AS_OF, run, run_json
from test_privacy import KEY, SUBJECT, decoded_hits, erase_args, ml, raw_hits, secrets_of

BUCKET = "club-lake-versioned"


def version_hits(moto, secrets):
    """(key, version id, what was found) for every stored version that holds a secret."""
    client = moto.client()
    hits, parquet = [], 0
    for key, version, marker in moto.all_versions(BUCKET):
        if marker:
            continue
        data = client.get_object(Bucket=BUCKET, Key=key, VersionId=version)["Body"].read()
        found, _ = raw_hits(data, secrets)
        if key.endswith(".parquet"):
            parquet += 1
            found |= decoded_hits(pq.read_table(io.BytesIO(data)), secrets)
        if found:
            hits.append((key, version, found))
    return hits, parquet


def test_erasure_deletes_every_version_on_a_versioned_bucket(tmp_path):
    from peers import MotoS3
    moto = MotoS3(tmp_path / "moto")
    try:
        moto.create_bucket(BUCKET, versioning=True)
        env = dict(moto.env, MEMBERLAKE_PSEUDONYM_KEY=KEY)
        store = f"sqlite:{tmp_path / 'members.db'}"
        run("seed", "--store", store, "--members", 300, "--seed", 4)
        subject = run_json("members", "add", "--store", store, "--json", json.dumps(SUBJECT))
        member = run_json("members", "get", "--store", store, subject["member_id"])
        other = run_json("members", "list", "--store", store, "--limit", 1)[0]
        uri = moto.uri(BUCKET, "lake")
        for i in range(3):
            ml("generate", "--store", store, "--lake", uri, "--as-of", AS_OF, env=env)
            other = run_json("members", "update", "--store", store, other["member_id"], "--expected-version",
                             other["_version"], "--json", json.dumps({"woonplaats": f"Plaats{i}"}))
        secrets = secrets_of(member)
        versions_before = moto.all_versions(BUCKET)
        # Overwritten objects (CURRENT, the Delta logs' checkpoints...) have several versions.
        assert len(versions_before) > len({key for key, _, _ in versions_before})
        hits, parquet = version_hits(moto, secrets)
        assert parquet > 0 and any(key.endswith(".parquet") for key, _, _ in hits)  # the member is there

        report = json.loads(ml(*erase_args(store, uri, tmp_path / "audit.log", member["member_id"]),
                               env=env).stdout)["erasure"]
        assert len(report["revised_snapshots"]) == 3 and report["versioning_api"] is True
        assert report["versions_deleted"] >= report["files_replaced"] > 0

        hits, parquet = version_hits(moto, secrets)
        assert parquet > 0
        assert hits == [], hits
        # No version of the erasure journal (it held the member id) is left behind a delete marker
        # (only the empty folder markers of the S3 file system stay).
        journals = {key for key, _, marker in moto.all_versions(BUCKET)
                    if key.startswith("lake/privacy/") and not key.endswith("/")}
        assert journals == set()
        for sid in report["revised_snapshots"]:
            ml("snapshots", "verify", "--lake", uri, "--snapshot", sid, env=env)
    finally:
        moto.stop()
