"""memberlake report: every named report equals DuckDB's answer, whole and per region."""
import duckdb
import pytest

from conftest import run, run_json
from test_query import duck, normalise

REPORTS = {
    "regional-stats": ("select regio, lidmaatschap, count(*) from m where status = 'Actief' {and_region} "
                       "group by all order by 1, 2"),
    "address-stickers": ("select korte_naam, straat, postcode, woonplaats, land, regio from m where status = 'Actief' "
                         "and clubblad = 'Papier' {and_region} order by postcode, korte_naam"),
    "email-list": ("select korte_naam, email, regio from m where status = 'Actief' and clubblad = 'Digitaal' "
                   "and email is not null {and_region} order by email"),
    "member-overview": ("select lidnummer, korte_naam, regio, status, lidmaatschap, ingangsdatum, jaren_lid, leeftijd, "
                        "email, telefoon, woonplaats from m where true {and_region} order by lidnummer, korte_naam, telefoon"),
    "motor-view": ("select lidnummer, korte_naam, regio, motormerk, motortype, bouwjaar, kenteken from m "
                   "where status = 'Actief' and lidmaatschap in ('Gewoon lid', 'Gezins lid') and motormerk is not null "
                   "{and_region} order by motormerk, motortype, lidnummer, korte_naam, kenteken"),
    "financial-view": ("select lidnummer, korte_naam, regio, status, lidmaatschap, bankrekeningnummer, betaalwijze, "
                       "datum_ondertekening from m where true {and_region} order by lidnummer, korte_naam, regio, status, lidmaatschap, bankrekeningnummer, betaalwijze, "
                       "datum_ondertekening"),
}


def compare(sample, name, sql, *args):
    ours = run_json("report", name, "--lake", sample["lake"], "--format", "json", *args)["rows"]
    theirs = duck(sample, sql)
    assert len(ours) == len(theirs) > 0, name
    for mine, row in zip(ours, theirs):
        assert [normalise(v) for v in mine.values()] == [normalise(v) for v in row], name


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_report_equals_duckdb(sample, name):
    compare(sample, name, REPORTS[name].format(and_region=""))


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_regional_variant_equals_duckdb_and_stays_in_region(sample, name):
    sql = REPORTS[name].format(and_region="and regio = 'Groningen/Drenthe'")
    compare(sample, name, sql, "--region", "Groningen/Drenthe")


def test_birthdays_for_a_month(sample):
    sql = ("select korte_naam, verjaardag, leeftijd, straat, postcode, woonplaats, regio, lidnummer from m "
           "where status = 'Actief' and month(geboortedatum) = 9 and regio = 'Utrecht' "
           "order by regio, lidnummer, korte_naam, straat, postcode")
    compare(sample, "birthdays", sql, "--param", "month=9", "--region", "Utrecht")


@pytest.mark.parametrize("args, code, message", [
    (["birthdays"], 2, "needs the parameter 'month'"),
    (["birthdays", "--param", "month=13"], 2, "month 13 is out of range"),
    (["birthdays", "--param", "maand=9"], 2, "has no parameter 'maand'"),
    (["jubilee"], 3, "unknown report 'jubilee'"),
    (["regional-stats", "--region", "Atlantis"], 2, "unknown region 'Atlantis'"),
])
def test_report_errors(sample, args, code, message):
    proc = run("report", "--lake", sample["lake"], *args, check=False)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr


def test_list_names_every_report():
    listing = run("report", "--list").stdout
    for name in list(REPORTS) + ["birthdays"]:
        assert name in listing
