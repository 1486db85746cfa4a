"""The shipped default agency directory (src/lapor_es/data/agencies.csv) and its generator."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from collections import Counter
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import ModuleType

import pytest

HEADER = ["code", "name", "kind", "parent", "region"]
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9.-]{1,63}$")
KINDS = {"national_desk", "ministry", "institution", "province", "regency", "city", "unit"}
LOCAL_KINDS = {"province", "regency", "city"}
SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "make_agency_directory.py"


def _resource() -> Traversable:
    return files("lapor_es.data") / "agencies.csv"


@cache
def _table() -> tuple[list[str], tuple[dict[str, str], ...]]:
    text = _resource().read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    rows = tuple(dict(zip(header, values, strict=True)) for values in reader)
    return header, rows


@pytest.fixture(scope="module")
def rows() -> tuple[dict[str, str], ...]:
    return _table()[1]


@pytest.fixture(scope="module")
def by_code(rows: tuple[dict[str, str], ...]) -> dict[str, dict[str, str]]:
    return {row["code"]: row for row in rows}


def test_header_is_exact() -> None:
    assert _table()[0] == HEADER


def test_kinds_are_known(rows: tuple[dict[str, str], ...]) -> None:
    assert {row["kind"] for row in rows} <= KINDS


def test_exact_counts_per_kind(rows: tuple[dict[str, str], ...]) -> None:
    counts = Counter(row["kind"] for row in rows)
    assert counts["national_desk"] == 1
    assert counts["ministry"] == 34
    assert counts["institution"] == 101
    assert counts["province"] == 34
    assert counts["province"] + counts["regency"] + counts["city"] == 544
    agencies = sum(n for kind, n in counts.items() if kind not in {"national_desk", "unit"})
    assert agencies == 679
    assert counts["unit"] == 3 * 679


def test_codes_are_unique_and_well_formed(rows: tuple[dict[str, str], ...]) -> None:
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes))
    bad = [code for code in codes if not CODE_RE.match(code)]
    assert bad == []


def test_national_desk_is_the_single_root(rows: tuple[dict[str, str], ...]) -> None:
    roots = [row for row in rows if row["parent"] == ""]
    assert len(roots) == 1
    desk = roots[0]
    assert desk is rows[0]
    assert desk["code"] == "LAPOR"
    assert desk["kind"] == "national_desk"
    assert desk["name"] == "Admin Nasional SP4N-LAPOR! (KemenPANRB)"


def test_every_parent_exists_and_precedes_its_child(rows: tuple[dict[str, str], ...]) -> None:
    seen: set[str] = set()
    for row in rows:
        if row["parent"]:
            assert row["parent"] in seen, row["code"]
        seen.add(row["code"])


def test_top_level_agencies_hang_off_the_desk(rows: tuple[dict[str, str], ...]) -> None:
    for row in rows:
        if row["kind"] not in {"national_desk", "unit"}:
            assert row["parent"] == "LAPOR", row["code"]


def test_units_sit_only_under_agencies(
    rows: tuple[dict[str, str], ...], by_code: dict[str, dict[str, str]]
) -> None:
    per_parent: Counter[str] = Counter()
    for row in rows:
        if row["kind"] == "unit":
            parent = by_code[row["parent"]]
            assert parent["kind"] not in {"unit", "national_desk"}, row["code"]
            assert row["code"].startswith(parent["code"] + "."), row["code"]
            per_parent[parent["code"]] += 1
        elif row["parent"]:
            assert by_code[row["parent"]]["kind"] == "national_desk", row["code"]
    agencies = [r["code"] for r in rows if r["kind"] not in {"national_desk", "unit"}]
    assert set(per_parent) == set(agencies)
    assert set(per_parent.values()) == {3}


def test_regions(rows: tuple[dict[str, str], ...], by_code: dict[str, dict[str, str]]) -> None:
    for row in rows:
        if row["kind"] == "province":
            assert row["region"] == row["code"]
        elif row["kind"] in {"regency", "city"}:
            assert by_code[row["region"]]["kind"] == "province", row["code"]
        else:
            assert row["region"] == "", row["code"]


def test_every_province_has_local_governments(rows: tuple[dict[str, str], ...]) -> None:
    regions = Counter(row["region"] for row in rows if row["kind"] in {"regency", "city"})
    provinces = {row["code"] for row in rows if row["kind"] == "province"}
    assert set(regions) == provinces


def test_names_non_empty_and_unique_per_parent(rows: tuple[dict[str, str], ...]) -> None:
    seen: set[tuple[str, str]] = set()
    for row in rows:
        assert row["name"].strip() == row["name"] != "", row["code"]
        key = (row["parent"], row["name"])
        assert key not in seen, key
        seen.add(key)


def test_known_real_entries(by_code: dict[str, dict[str, str]]) -> None:
    assert by_code["KEMENKES"]["name"] == "Kementerian Kesehatan"
    assert by_code["KEMENSOS"]["name"] == "Kementerian Sosial"
    assert (
        by_code["KEMENDIKBUDRISTEK"]["name"]
        == "Kementerian Pendidikan, Kebudayaan, Riset, dan Teknologi"
    )
    assert by_code["KEMENKES.ITJEN"]["parent"] == "KEMENKES"
    assert by_code["PROV-JABAR"]["name"] == "Pemerintah Provinsi Jawa Barat"
    assert by_code["KAB-BANDUNG"]["name"] == "Pemerintah Kabupaten Bandung"
    assert by_code["KAB-BANDUNG"]["region"] == "PROV-JABAR"
    assert by_code["KOTA-BANDUNG"]["region"] == "PROV-JABAR"
    assert by_code["KOTA-SURABAYA"]["region"] == "PROV-JATIM"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_agency_directory", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_regenerates_identical_file(tmp_path: Path) -> None:
    script = _load_script()
    out = tmp_path / "agencies.csv"
    assert script.main([str(out)]) == 0
    assert out.read_bytes() == _resource().read_bytes()
