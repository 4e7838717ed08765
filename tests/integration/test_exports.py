"""Exports: every format carries the same rows; CSV opens in Dutch Excel; no formula injection."""
import csv
import datetime as dt
import io
import json

import openpyxl
import pyarrow.parquet as pq
import pytest

from conftest import AS_OF, run, run_json

TRICKY = [
    {"voornaam": "=HYPERLINK(\"http://x\")", "achternaam": "Jansen"},
    {"voornaam": "+31 bellen", "achternaam": "-Smit"},
    {"voornaam": "@Piet", "achternaam": "\tTab"},
    {"voornaam": "Zoë", "tussenvoegsel": "van der", "achternaam": "Öztürk-IJsselmuiden"},
    {"voornaam": "René \"Bikkel\"", "achternaam": "Geneviève; de Vries"},
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    base = tmp_path_factory.mktemp("exports")
    store = f"sqlite:{base / 'm.db'}"
    run("seed", "--store", store, "--members", 300, "--seed", 5)
    for i, names in enumerate(TRICKY):
        member = {"email": f"t{i}@example.nl", "status": "Actief", "lidmaatschap": "Gewoon lid",
                  "regio": "Utrecht", "clubblad": "Papier", "straat": "Oudegracht 1", "postcode": "3511AB",
                  "woonplaats": "Utrecht", "geboortedatum": "1970-05-0%d" % (i + 1), **names}
        run("members", "add", "--store", store, "--json", json.dumps(member))
    run("generate", "--store", store, "--lake", base / "lake", "--as-of", AS_OF)
    return base / "lake"


def export(lake, fmt, out, *extra):
    run("report", "member-overview", "--lake", lake, "--region", "Utrecht", "--format", fmt, "--out", out, *extra)
    return out


def canonical(lake, tmp_path):
    path = export(lake, "json", tmp_path / "r.json")
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    assert len(rows) > 20
    return rows


def as_text(value):
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_csv_for_dutch_excel(lake, tmp_path):
    rows = canonical(lake, tmp_path)
    raw = export(lake, "csv", tmp_path / "r.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")
    parsed = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert parsed[0] == list(rows[0].keys())
    assert len(parsed) - 1 == len(rows)
    for cells, row in zip(parsed[1:], rows):
        for cell, (name, value) in zip(cells, row.items()):
            expected = as_text(value)
            if cell.startswith("'") and expected[:1] in ("=", "+", "-", "@", "\t"):
                cell = cell[1:]  # neutralised formula
            assert cell == expected, name


def test_csv_with_comma_separator(lake, tmp_path):
    rows = canonical(lake, tmp_path)
    raw = export(lake, "csv", tmp_path / "c.csv", "--csv-separator", ",").read_bytes()
    parsed = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    # members without a number (HdcnAccount, Club, Sponsor) have an empty cell
    assert [r["lidnummer"] for r in parsed] == ["" if r["lidnummer"] is None else str(r["lidnummer"]) for r in rows]


def test_formula_looking_names_are_neutralised(lake, tmp_path):
    raw = export(lake, "csv", tmp_path / "f.csv").read_bytes().decode("utf-8-sig")
    cells = {cell for line in csv.reader(io.StringIO(raw, newline=""), delimiter=";") for cell in line}
    assert "'=HYPERLINK(\"http://x\") Jansen" in cells
    assert "'+31 bellen -Smit" in cells
    assert "'@Piet Tab" in cells  # the store trimmed the tab off the surname
    assert not any(c[:1] in ("=", "+", "@") for c in cells)
    assert not any(c.startswith("-") and not c.lstrip("-").replace(",", "").isdigit() for c in cells)
    sheet = openpyxl.load_workbook(export(lake, "xlsx", tmp_path / "f.xlsx")).active
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f"  # no formulas, ever


def test_every_format_carries_the_same_rows(lake, tmp_path):
    rows = canonical(lake, tmp_path)
    expected = [[as_text(v) for v in r.values()] for r in rows]
    ndjson = [json.loads(line) for line in export(lake, "ndjson", tmp_path / "r.ndjson").read_text("utf-8").splitlines()]
    assert [[as_text(v) for v in r.values()] for r in ndjson] == expected
    table = pq.read_table(export(lake, "parquet", tmp_path / "r.parquet"))
    assert table.column_names == list(rows[0].keys())
    assert [[as_text(v) for v in r.values()] for r in table.to_pylist()] == expected
    sheet = openpyxl.load_workbook(export(lake, "xlsx", tmp_path / "r.xlsx")).active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == list(rows[0].keys())
    assert [[as_text(v) for v in r] for r in values[1:]] == expected


def test_unicode_names_survive_every_format(lake, tmp_path):
    name = "Zoë van der Öztürk-IJsselmuiden"
    for fmt in ("csv", "json", "ndjson", "xlsx", "parquet", "table"):
        out = export(lake, fmt, tmp_path / f"u.{fmt}")
        if fmt == "xlsx":
            text = " ".join(str(c) for r in openpyxl.load_workbook(out).active.iter_rows(values_only=True) for c in r)
        elif fmt == "parquet":
            text = " ".join(pq.read_table(out).column("korte_naam").to_pylist())
        else:
            text = out.read_bytes().decode("utf-8")
        assert name in text and "René" in text and "Geneviève; de Vries" in text, fmt


def test_binary_format_needs_a_file_and_failed_exports_leave_nothing(lake, tmp_path):
    target = tmp_path / "missing-dir" / "r.xlsx"
    proc = run("report", "member-overview", "--lake", lake, "--format", "xlsx", "--out", target, check=False)
    assert proc.returncode != 0 and "r.xlsx" in proc.stderr
    assert not target.parent.exists()
    proc = run("report", "member-overview", "--lake", lake, "--format", "csv", "--csv-separator", "|", check=False)
    assert proc.returncode == 2 and "--csv-separator" in proc.stderr


def test_address_labels_pdf(lake, tmp_path):
    import math

    import pypdf
    out = tmp_path / "labels.pdf"
    run("report", "address-stickers", "--lake", lake, "--region", "Utrecht", "--format", "pdf", "--out", out)
    rows = run_json("report", "address-stickers", "--lake", lake, "--region", "Utrecht", "--format", "json")["rows"]
    reader = pypdf.PdfReader(out)  # an independent reader
    assert len(reader.pages) == math.ceil(len(rows) / 24) >= 1
    page = reader.pages[0]
    assert [round(float(v)) for v in page.mediabox] == [0, 0, 595, 842]  # A4
    text = "\n".join(p.extract_text() for p in reader.pages)
    for row in rows:  # every label, in order, with its address
        assert row["korte_naam"][:30] in text and row["straat"] in text
        assert f"{row['postcode']}  {row['woonplaats']}" in text
    assert "Zoë van der Öztürk-IJsselmuiden" in text
    assert "René \"Bikkel\" Geneviève; de Vries" in text
    assert text.index(rows[0]["korte_naam"]) < text.index(rows[-1]["korte_naam"])
    # a result without addresses cannot be labels: a clear error, no file
    bad = run("report", "email-list", "--lake", lake, "--format", "pdf", "--out", tmp_path / "no.pdf", check=False)
    assert bad.returncode == 2 and "straat" in bad.stderr and not (tmp_path / "no.pdf").exists()
