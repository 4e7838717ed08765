"""generate: the seed's layout, read back by pyarrow and DuckDB."""
import datetime as dt
import hashlib
import json
import sqlite3

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import AS_OF, SAMPLE_MEMBERS

REGIONS = ["Noord-Holland", "Zuid-Holland", "Friesland", "Utrecht", "Oost", "Limburg",
           "Groningen/Drenthe", "Brabant/Zeeland", "Duitsland", "Overig"]
ENUMS = ["geslacht", "status", "lidmaatschap", "regio", "clubblad", "nieuwsbrief", "privacy",
         "wiewatwaar", "motormerk", "betaalwijze", "welcome_pack_status"]


def files_of(manifest, kind):
    return [f for f in manifest["files"] if f["kind"] == kind]


def read(sample, entry):
    return pq.read_table(sample["lake"] / entry["path"])


def test_layout_follows_the_seed(sample):
    m = sample["manifest"]
    full = files_of(m, "full")
    assert len(full) == 1
    sid = m["snapshot_id"]
    assert full[0]["path"] == (f"parquet/full-dataset/year={sid[:4]}/month={sid[4:6]}/"
                               f"members-{sid}.parquet")
    regional = files_of(m, "regional")
    assert sorted(f["region"] for f in regional) == sorted(REGIONS)
    assert "parquet/regional/groningen-drenthe/members-" + sid + ".parquet" in [f["path"] for f in regional]
    assert "parquet/regional/noord-holland/members-" + sid + ".parquet" in [f["path"] for f in regional]
    views = {f["view"]: f for f in files_of(m, "view")}
    assert set(views) == {"active-members", "motor-members", "communication-list"}
    for f in m["files"]:
        path = sample["lake"] / f["path"]
        assert path.stat().st_size == f["bytes"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
        assert pq.ParquetFile(path).metadata.num_rows == f["rows"]


def test_rows_add_up_and_regions_are_pure(sample):
    m = sample["manifest"]
    full = read(sample, files_of(m, "full")[0])
    assert full.num_rows == m["members"]
    assert m["members"] + m["quarantined"] == SAMPLE_MEMBERS
    total = 0
    for entry in files_of(m, "regional"):
        table = read(sample, entry)
        total += table.num_rows
        assert set(table.column("regio").to_pylist()) <= {entry["region"]}
        expected = pc.sum(pc.equal(full.column("regio").cast(pa.string()), entry["region"])).as_py() or 0
        assert table.num_rows == expected
    assert total == full.num_rows
    # the same answer from an independent reader
    con = duckdb.connect()
    full_path = sample["lake"] / files_of(m, "full")[0]["path"]
    duck = dict(con.execute(f"select regio, count(*) from read_parquet('{full_path}') group by 1").fetchall())
    for entry in files_of(m, "regional"):
        assert duck.get(entry["region"], 0) == entry["rows"]


def test_schema_types_and_calculated_fields(sample):
    table = read(sample, files_of(sample["manifest"], "full")[0])
    schema = table.schema
    for name in ENUMS:
        assert pa.types.is_dictionary(schema.field(name).type), name
    assert schema.field("geboortedatum").type == pa.date32()
    assert schema.field("tijdstempel").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("lidnummer").type == pa.int64()
    for name in ["korte_naam", "leeftijd", "verjaardag", "jaren_lid", "aanmeldingsjaar"]:
        assert name in schema.names
    assert set(table.column("regio").to_pylist()) <= set(REGIONS)


def whole_years(born, ref):
    if born is None:
        return None
    years = ref.year - born.year
    if (ref.month, ref.day) < (born.month, born.day):
        years -= 1
    return max(years, 0)


def test_calculated_fields_match_an_independent_computation(sample):
    ref = dt.date.fromisoformat(AS_OF)
    months = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
              "september", "oktober", "november", "december"]
    rows = read(sample, files_of(sample["manifest"], "full")[0]).to_pylist()
    assert rows
    for r in rows:
        assert r["leeftijd"] == whole_years(r["geboortedatum"], ref)
        assert r["jaren_lid"] == whole_years(r["ingangsdatum"], ref)
        born = r["geboortedatum"]
        assert r["verjaardag"] == (f"{months[born.month - 1]} {born.day}" if born else "")
        parts = [p for p in (r["voornaam"], r["tussenvoegsel"], r["achternaam"]) if p]
        assert r["korte_naam"] == " ".join(parts)
        year = r["tijdstempel"].year if r["tijdstempel"] else (r["ingangsdatum"].year if r["ingangsdatum"] else None)
        assert r["aanmeldingsjaar"] == year


def test_sorted_with_sorting_columns_recorded(sample):
    path = sample["lake"] / files_of(sample["manifest"], "full")[0]["path"]
    pf = pq.ParquetFile(path)
    table = pf.read(columns=["regio", "status", "lidmaatschap"])
    keys = list(zip(*(table.column(c).cast(pa.string()).to_pylist() for c in ["regio", "status", "lidmaatschap"])))
    encoded = [tuple(k.encode() for k in key) for key in keys]
    assert encoded == sorted(encoded)
    names = pf.schema_arrow.names
    for i in range(pf.metadata.num_row_groups):
        sorting = pf.metadata.row_group(i).sorting_columns
        assert [names[s.column_index] for s in sorting] == ["regio", "status", "lidmaatschap"]
        regio_stats = pf.metadata.row_group(i).column(names.index("regio")).statistics
        assert regio_stats.min == regio_stats.max  # row groups never span regions


def test_rows_that_tie_on_the_sort_keys_follow_ingangsdatum_within_each_row_group(sample):
    path = sample["lake"] / files_of(sample["manifest"], "full")[0]["path"]
    pf = pq.ParquetFile(path)
    moved = 0
    for i in range(pf.metadata.num_row_groups):
        rows = pf.read_row_group(i, columns=["regio", "status", "lidmaatschap", "ingangsdatum"]).to_pylist()
        for a, b in zip(rows, rows[1:]):
            if (a["regio"], a["status"], a["lidmaatschap"]) != (b["regio"], b["status"], b["lidmaatschap"]):
                continue
            assert b["ingangsdatum"] is None or (a["ingangsdatum"] is not None and a["ingangsdatum"] <= b["ingangsdatum"])
            moved += 1
    assert moved > 0


def test_encodings_compression_statistics_page_index_bloom_filters(sample):
    path = sample["lake"] / files_of(sample["manifest"], "full")[0]["path"]
    md = pq.ParquetFile(path).metadata
    names = [md.schema.column(i).name for i in range(md.num_columns)]
    rg = md.row_group(0)
    for i, name in enumerate(names):
        col = rg.column(i)
        # Enum pages are RLE dictionary indices of sorted columns: stored uncompressed (no zstd
        # context per page for readers); everything else is zstd.
        assert col.compression == ("UNCOMPRESSED" if name in ENUMS else "ZSTD"), name
        assert col.is_stats_set, name
        assert col.has_column_index and col.has_offset_index, name
        if name in ENUMS:
            assert col.has_dictionary_page, name
            assert "RLE_DICTIONARY" in col.encodings, name
    # registry: dictionary = false; strings as DELTA_LENGTH_BYTE_ARRAY, integers as deltas
    for name in ["member_id", "email", "telefoon", "bankrekeningnummer"]:
        col = rg.column(names.index(name))
        assert not col.has_dictionary_page and "DELTA_LENGTH_BYTE_ARRAY" in col.encodings, (name, col.encodings)
    # dates, timestamps and lidnummer as deltas (docs/scale.md, "Smaller files")
    for name in ["lidnummer", "geboortedatum", "ingangsdatum", "created_at", "tijdstempel"]:
        col = rg.column(names.index(name))
        assert not col.has_dictionary_page and "DELTA_BINARY_PACKED" in col.encodings, (name, col.encodings)
    for name in ["straat", "korte_naam", "woonplaats", "leeftijd"]:
        assert rg.column(names.index(name)).has_dictionary_page, name
    for name in ["email", "lidnummer", "postcode", "achternaam", "member_id"]:
        col = rg.column(names.index(name))
        assert col.bloom_filter_offset is not None and col.bloom_filter_offset > 0, name
        assert col.bloom_filter_length > 0, name
    assert rg.column(names.index("voornaam")).bloom_filter_offset in (None, 0, -1)


def test_bloom_filter_answers_lookups_in_duckdb(sample):
    path = sample["lake"] / files_of(sample["manifest"], "full")[0]["path"]
    con = duckdb.connect()
    email = con.execute(f"select email from read_parquet('{path}') limit 1").fetchone()[0]
    present = con.execute(f"select bool_and(bloom_filter_excludes) from parquet_bloom_probe('{path}', 'email', ?)",
                          [email]).fetchone()[0]
    absent = con.execute(f"select bool_and(bloom_filter_excludes) from parquet_bloom_probe('{path}', 'email', ?)",
                         ["nobody-at-all@example.invalid"]).fetchone()[0]
    assert present is False  # the row group holding it cannot be excluded
    assert absent is True    # every row group's filter rules it out


def test_key_value_metadata(sample):
    m = sample["manifest"]
    for entry in m["files"]:
        meta = pq.ParquetFile(sample["lake"] / entry["path"]).schema_arrow.metadata
        assert meta[b"data_version"].decode() == str(m["data_version"])
        assert meta[b"schema_version"].decode() == "1"
        assert meta[b"as_of"].decode() == AS_OF
        assert meta[b"generated_at"].decode() == m["generated_at"]


def test_views(sample):
    m = sample["manifest"]
    full = read(sample, files_of(m, "full")[0]).to_pylist()
    views = {f["view"]: read(sample, f) for f in files_of(m, "view")}
    active = [r for r in full if r["status"] == "Actief"]
    assert views["active-members"].num_rows == len(active)
    assert set(views["active-members"].column("status").to_pylist()) == {"Actief"}
    motor = [r for r in active if r["lidmaatschap"] in ("Gewoon lid", "Gezins lid") and r["motormerk"]]
    assert views["motor-members"].num_rows == len(motor) > 0
    assert "bankrekeningnummer" not in views["communication-list"].schema.names
    assert "email" in views["communication-list"].schema.names
    assert views["communication-list"].num_rows == len(active)


def test_quarantine_report(sample):
    m = sample["manifest"]
    report = json.loads((sample["lake"] / m["quarantine_path"]).read_text())
    assert m["quarantined"] > 0
    assert report["quarantined_records"] == m["quarantined"]
    bad_ids = {p["member_id"] for p in report["problems"]}
    assert len(bad_ids) == m["quarantined"] or "" in bad_ids
    for p in report["problems"]:
        assert p["field"] and p["problem"]
    full = read(sample, files_of(m, "full")[0])
    assert not bad_ids & set(full.column("member_id").to_pylist())
    # every stored member is either in the lake or in the report
    con = sqlite3.connect(sample["db"])
    stored = {row[0] for row in con.execute("select member_id from members")}
    assert stored == set(full.column("member_id").to_pylist()) | (bad_ids - {""})


def test_summary_json(sample):
    s = sample["summary"]
    assert s["members"] == sample["manifest"]["members"]
    assert s["data_version"] == sample["manifest"]["data_version"] >= SAMPLE_MEMBERS
    assert {"scan", "transform", "write", "publish", "total"} <= set(s["seconds"])
    assert all(f["rows"] >= 0 and f["bytes"] > 0 for f in s["files"])
