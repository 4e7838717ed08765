"""The lake's Delta tables read by the engines a club would move to (issue 13, items 5 and 6):
DuckDB with the `delta` extension of the PyPI wheel `duckdb-extension-delta` (in a venv of its
own, .venv-duckdb-delta: the wheel is built for an older DuckDB than the main venv pins), and
Apache Spark (PyPI `pyspark` + `delta-spark`, its jars from Maven Central cached under
~/.cache/memberlake/ivy) in local mode. After two generations each sees exactly the current
snapshot (a folder scan sees both), time-travels to the first, follows an erasure's revision,
and computes the regional-stats report exactly as `memberlake report` does."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import AS_OF, BIN, ROOT, generate_versions, run, run_json

ENGINE_PYTHON = ROOT / ".venv-duckdb-delta" / "bin" / "python"
DUCKDB_SQL = Path(__file__).parent / "engines" / "duckdb_delta_sql.py"
CACHE = Path(os.environ.get("MEMBERLAKE_CACHE", Path.home() / ".cache" / "memberlake"))
REGION, REGION_SLUG = "Utrecht", "utrecht"
MEMBER = {"voornaam": "Engine", "achternaam": "Lid", "status": "Actief", "lidmaatschap": "Gewoon lid",
          "regio": REGION, "email": "engine@example.nl"}
# regional-stats in SQL, as config/reports.toml defines it (active members per regio and lidmaatschap).
REGIONAL_STATS = ("SELECT regio, lidmaatschap, count(*) AS n FROM {table} WHERE status = 'Actief' "
                  "GROUP BY regio, lidmaatschap ORDER BY regio, lidmaatschap")


def manifest_of(lake: Path, snapshot_id=None):
    snapshot_id = snapshot_id or (lake / "manifests" / "CURRENT").read_text().strip()
    return json.loads((lake / "manifests" / f"snapshot-{snapshot_id}.json").read_text())


def ids_of_file(lake: Path, manifest, kind="full", region=None):
    f = next(f for f in manifest["files"] if f["kind"] == kind and (region is None or f.get("region") == region))
    return sorted(pq.read_table(lake / f["path"], columns=["member_id"]).column("member_id").to_pylist())


def report_rows(lake: Path):
    rows = run_json("report", "regional-stats", "--lake", lake, "--snapshot-only", "--format", "json")["rows"]
    return [[r["regio"], r["lidmaatschap"], r["count"]] for r in rows]


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    """Two generations (the second with one member more), and a copy of that lake in which the
    first member of the current snapshot was erased (a revision of the current snapshot)."""
    base = tmp_path_factory.mktemp("engines")
    store = f"sqlite:{base / 'members.db'}"
    lake = base / "lake"
    run("seed", "--store", store, "--members", 500, "--seed", 13)
    first = run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    run("members", "add", "--store", store, "--json", json.dumps(MEMBER))
    run("generate", "--store", store, "--lake", lake, "--as-of", AS_OF)
    erased = base / "erased"
    shutil.copytree(lake, erased)
    victim = ids_of_file(erased, manifest_of(erased))[0]
    env = dict(os.environ, MEMBERLAKE_PSEUDONYM_KEY="k" * 32)
    proc = subprocess.run([BIN, "erase", "--member", victim, "--store", store, "--lake", str(erased),
                           "--audit-log", str(base / "audit.log"), "--yes"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert manifest_of(erased).get("revision", 0) >= 1
    return {"lake": lake, "erased": erased, "victim": victim, "first": manifest_of(lake, first["snapshot_id"]),
            "current": manifest_of(lake)}


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """Twelve versions, whose JSON commits 0..10 are then deleted: version 10 exists only as its
    checkpoint (lake/delta_checkpoint.h), so a reader that reaches it read the checkpoint."""
    lake = generate_versions(tmp_path_factory.mktemp("checkpointed"), 12)
    log = lake / "parquet" / "full-dataset" / "_delta_log"
    assert (log / "00000000000000000010.checkpoint.parquet").exists()
    for commit in range(11):
        (log / f"{commit:020d}.json").unlink()
    return {"lake": lake, "table": lake / "parquet" / "full-dataset", "members": manifest_of(lake)["members"]}


# --- DuckDB (delta extension) -------------------------------------------------------------


def duckdb(sql):
    """Rows of `sql` in DuckDB with the delta extension (its own venv, a subprocess)."""
    proc = subprocess.run([str(ENGINE_PYTHON), str(DUCKDB_SQL), sql], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def duckdb_delta():
    if not ENGINE_PYTHON.exists():
        pytest.fail(f"{ENGINE_PYTHON} is missing: run scripts/bootstrap.sh (it makes .venv-duckdb-delta)")


def test_duckdb_delta_scan_sees_exactly_the_current_snapshot(lakes, duckdb_delta):
    lake, current = lakes["lake"], lakes["current"]
    full = lake / "parquet" / "full-dataset"
    # The folder holds both snapshots; the table only the current one.
    (folder_rows,), = duckdb(f"SELECT count(*) FROM read_parquet('{full}/**/*.parquet')")
    assert folder_rows == current["members"] + lakes["first"]["members"]
    ids = [r[0] for r in duckdb(f"SELECT member_id FROM delta_scan('{full}') ORDER BY member_id")]
    assert ids == ids_of_file(lake, current)
    assert len(ids) == current["members"]
    regional = duckdb(f"SELECT regio, count(*) FROM delta_scan('{lake}/parquet/regional/{REGION_SLUG}') GROUP BY regio")
    rows = next(f["rows"] for f in current["files"] if f["kind"] == "regional" and f.get("region") == REGION)
    assert regional == [[REGION, rows]]


def test_duckdb_time_travel_reaches_the_first_snapshot(lakes, duckdb_delta):
    lake = lakes["lake"]
    full = lake / "parquet" / "full-dataset"
    ids = [r[0] for r in duckdb(f"SELECT member_id FROM delta_scan('{full}', version => 0) ORDER BY member_id")]
    assert ids == ids_of_file(lake, lakes["first"])
    assert len(ids) == lakes["current"]["members"] - 1


def test_duckdb_follows_an_erasure_and_matches_regional_stats(lakes, duckdb_delta):
    erased = lakes["erased"]
    full = erased / "parquet" / "full-dataset"
    ids = [r[0] for r in duckdb(f"SELECT member_id FROM delta_scan('{full}') ORDER BY member_id")]
    assert lakes["victim"] not in ids
    assert ids == ids_of_file(erased, manifest_of(erased))
    stats = duckdb(REGIONAL_STATS.format(table=f"delta_scan('{full}')"))
    assert stats == report_rows(erased)


def test_duckdb_reads_a_checkpoint(checkpointed, duckdb_delta):
    table = checkpointed["table"]
    assert duckdb(f"SELECT count(*) FROM delta_scan('{table}')") == [[checkpointed["members"]]]
    assert duckdb(f"SELECT count(*) FROM delta_scan('{table}', version => 10)") == [[checkpointed["members"] - 1]]


# --- Spark (delta-spark) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark():
    pyspark_sql = pytest.importorskip("pyspark.sql")
    delta = pytest.importorskip("delta")
    builder = (pyspark_sql.SparkSession.builder.master("local[1]").appName("memberlake-delta-test")
               .config("spark.driver.memory", "512m")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
               .config("spark.jars.ivy", str(CACHE / "ivy"))  # delta-spark's jars, fetched once
               .config("spark.jars.ivySettings", str(Path(__file__).parent / "engines" / "ivysettings.xml"))
               .config("spark.sql.session.timeZone", "UTC")
               # A few small tables: one partition for Delta's state reconstruction (default 50),
               # and a JVM tuned to start fast rather than to run long.
               .config("spark.databricks.delta.snapshotPartitions", "1")
               .config("spark.driver.extraJavaOptions", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1")
               .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
               .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"))
    try:
        session = delta.configure_spark_with_delta_pip(builder).getOrCreate()
    except Exception as error:  # no Java 17+, or the jars could not be fetched
        pytest.skip(f"Spark with delta-spark cannot start here: {error}")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def spark_ids(frame):
    return sorted(r.member_id for r in frame.select("member_id").collect())


def test_spark_reads_the_current_snapshot_and_an_older_version(lakes, spark):
    lake, current = lakes["lake"], lakes["current"]
    full = str(lake / "parquet" / "full-dataset")
    assert spark_ids(spark.read.format("delta").load(full)) == ids_of_file(lake, current)
    older = spark.sql(f"SELECT member_id FROM delta.`{full}` VERSION AS OF 0")
    assert spark_ids(older) == ids_of_file(lake, lakes["first"])
    regional = spark.read.format("delta").load(str(lake / "parquet" / "regional" / REGION_SLUG))
    assert spark_ids(regional) == ids_of_file(lake, current, "regional", REGION)
    # The folder read as plain Parquet counts both snapshots: the log is what makes the difference.
    assert spark.read.parquet(full).count() == current["members"] + lakes["first"]["members"]


def test_spark_follows_an_erasure_and_matches_regional_stats(lakes, spark):
    erased = lakes["erased"]
    full = str(erased / "parquet" / "full-dataset")
    table = spark.read.format("delta").load(full)
    assert spark_ids(table) == ids_of_file(erased, manifest_of(erased))
    assert lakes["victim"] not in spark_ids(table)
    latest = spark.sql(f"DESCRIBE HISTORY delta.`{full}` LIMIT 1").collect()[0]
    assert latest.userMetadata.endswith(f"revision {manifest_of(erased)['revision']}")
    stats = spark.sql(REGIONAL_STATS.format(table=f"delta.`{full}`")).collect()
    assert [[r.regio, r.lidmaatschap, r.n] for r in stats] == report_rows(erased)


def test_spark_reads_a_checkpoint(checkpointed, spark, tmp_path):
    """Spark wants a contiguous log from a checkpoint (or version 0): it reads the table whose
    commits 0..10 are gone from checkpoint 10 and commit 11, and refuses the same log without
    the checkpoint. (Its time travel also wants the commit file of the version, so VERSION AS OF
    10 is checked by DuckDB and delta-rs only.)"""
    table = checkpointed["table"]
    assert spark.read.format("delta").load(str(table)).count() == checkpointed["members"]
    bare = tmp_path / "no-checkpoint"
    shutil.copytree(table, bare)
    for name in ("00000000000000000010.checkpoint.parquet", "_last_checkpoint"):
        (bare / "_delta_log" / name).unlink()
    with pytest.raises(Exception):
        spark.read.format("delta").load(str(bare)).count()
