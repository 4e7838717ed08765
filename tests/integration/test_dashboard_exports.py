"""Exports through the dashboard in real Chromium (fetch with the credential, then a blob),
downloaded and opened with independent readers: csv, openpyxl, pyarrow, pypdf. A regional
exporter's files hold exactly the members of their region (counted in the seeded lake)."""
import csv
import io

import openpyxl
import pyarrow.parquet as pq
import pypdf

from dashboard_support import Leaks, browser, dashboard, go, new_page, seeded_members  # noqa: F401

REGION = "Zuid-Holland"


def download(page, label, folder, suffix):
    """Clicks the button and saves the file under the name the dashboard gave it."""
    with page.expect_download() as info:
        page.get_by_role("button", name=label, exact=True).click()
    name = info.value.suggested_filename
    assert name.endswith(suffix), name
    path = folder / name
    info.value.save_as(path)
    return path


def test_regional_exports_open_and_hold_only_the_region(browser, dashboard, tmp_path):
    members = seeded_members(dashboard.lake)
    in_region = [m for m in members if m["regio"] == REGION]
    leaks = Leaks(members, REGION)
    context, page = new_page(browser, dashboard, "export_zh")
    go(page, "Exporteren")
    title = "Alle leden met lidmaatschapsgegevens"

    csv_file = download(page, f"{title} als CSV", tmp_path, ".csv")
    text = open(csv_file, encoding="utf-8-sig").read()
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert len(rows) == len(in_region)
    assert {r["regio"] for r in rows} == {REGION}
    assert not leaks.find(text)

    xlsx = download(page, f"{title} als Excel (XLSX)", tmp_path, ".xlsx")
    sheet = openpyxl.load_workbook(xlsx, read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    header, data = values[0], values[1:]
    regio = header.index("regio")
    assert len(data) == len(in_region) and {r[regio] for r in data} == {REGION}
    assert not leaks.find("\n".join(" ".join(str(c) for c in r if c is not None) for r in data))

    parquet = download(page, f"{title} als Parquet", tmp_path, ".parquet")
    table = pq.read_table(parquet)
    assert table.num_rows == len(in_region)
    assert set(table.column("regio").to_pylist()) == {REGION}
    assert not leaks.find(str(table.to_pylist()))

    pdf = download(page, "Adresetiketten clubblad (papier) als PDF-etiketten", tmp_path, ".pdf")
    reader = pypdf.PdfReader(pdf)
    pdf_text = "\n".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) >= 1 and pdf_text.strip()
    assert not leaks.find(pdf_text)
    assert any(m["korte_naam"] in pdf_text for m in in_region)

    # the member list's own export: the current selection, every page of it
    go(page, "Leden")
    page.get_by_label("Status", exact=True).select_option("Actief")
    page.get_by_role("button", name="Zoeken").click()
    page.get_by_test_id("member-count").wait_for()
    listed = download(page, "CSV", tmp_path, ".csv")
    rows = list(csv.DictReader(io.StringIO(open(listed, encoding="utf-8-sig").read()), delimiter=";"))
    assert rows and {r["regio"] for r in rows} == {REGION} and {r["status"] for r in rows} == {"Actief"}
    context.close()


def test_no_export_controls_without_the_export_role(browser, dashboard):
    context, page = new_page(browser, dashboard, "read_utrecht")
    go(page, "Verjaardagen")
    assert page.get_by_role("button", name="CSV").count() == 0
    assert page.get_by_role("button", name="Adresetiketten (PDF)").count() == 0
    go(page, "Leden")
    assert page.get_by_role("button", name="CSV").count() == 0
    context.close()
