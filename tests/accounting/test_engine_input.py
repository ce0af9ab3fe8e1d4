"""Activity and treatment files read by the engine itself (inputs.engine_input).

The same hand-checked cases (tests/accounting/cases.py) written to CSV and Parquet files:
read by the engine, they give the emissions and the rejects (rows, values, reasons) that
the Arrow reader gives, and the hand-worked numbers. Files the engine does not take as
they are come back as None, for read_arrow.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.accounting.engine import account
from sourcegrid.accounting.inputs import engine_input
from sourcegrid.io.tables import read_arrow

from .cases import (
    BAD_ACTIVITY,
    BAD_TREATMENT,
    EXPECTED,
    EXPECTED_REJECTS,
    GOOD_ACTIVITY,
    GOOD_TREATMENT,
    LIBRARY,
)

CHINESE = {"enterprise_id": "企业编号", "industry_code": "行业代码", "section": "工段名称",
           "raw_material": "原料名称", "process": "工艺名称", "capacity": "生产规模",
           "activity": "活动水平", "activity_unit": "活动水平单位"}


def _sorted(result):
    emissions = result.emissions.sort_values(["enterprise_id", "pollutant"], ignore_index=True)
    rejects = result.rejects.sort_values(["row", "reason", "column"], ignore_index=True)
    return emissions, rejects


def _both(con, path, activity_path_treatment):
    by_arrow = _sorted(account(read_arrow(path), LIBRARY, activity_path_treatment, con=con,
                               activity_source=path.name))
    table = engine_input(con, path)
    assert table is not None
    by_engine = _sorted(account(table, LIBRARY, activity_path_treatment, con=con))
    return by_arrow, by_engine


@pytest.mark.parametrize("case", ["good", "bad"])
def test_csv_read_by_the_engine_equals_the_arrow_reader(case, tmp_path, duckdb_backend):
    activity, treatment = ((GOOD_ACTIVITY, GOOD_TREATMENT) if case == "good"
                           else (BAD_ACTIVITY, BAD_TREATMENT))
    path = tmp_path / f"{case}.csv"
    activity.to_csv(path, index=False)
    (arrow_emissions, arrow_rejects), (emissions, rejects) = _both(duckdb_backend, path,
                                                                  treatment)
    pd.testing.assert_frame_equal(emissions, arrow_emissions)
    pd.testing.assert_frame_equal(rejects, arrow_rejects)
    if case == "good":
        got = {(e, p): (g, r, x) for e, p, g, r, x in emissions[
            ["enterprise_id", "pollutant", "generation", "removal", "emission"]].itertuples(
            index=False)}
        for key, expected in EXPECTED.items():
            assert got[key] == pytest.approx(expected, rel=1e-12), key
    else:
        assert set(zip(rejects["row"], rejects["reason"], rejects["column"],
                       strict=True)) == EXPECTED_REJECTS
        assert set(rejects["source"]) == {"bad.csv"}


def test_chinese_headers_byte_order_mark_and_padded_texts(tmp_path, duckdb_backend):
    # Excel's CSV: a BOM, Chinese headers, texts with spaces around them; the rows as
    # GOOD_ACTIVITY, so the hand-worked numbers hold
    padded = GOOD_ACTIVITY.copy()
    for column in ("enterprise_id", "section", "activity_unit"):
        padded[column] = "  " + padded[column].astype(str) + "\t"
    path = tmp_path / "企业活动水平.csv"
    padded.rename(columns=CHINESE).to_csv(path, index=False, encoding="utf-8-sig")
    (arrow_emissions, arrow_rejects), (emissions, rejects) = _both(duckdb_backend, path,
                                                                  GOOD_TREATMENT)
    pd.testing.assert_frame_equal(emissions, arrow_emissions)
    assert rejects.empty and arrow_rejects.empty
    got = emissions.set_index(["enterprise_id", "pollutant"])["emission"]
    assert got[("E1", "SO2")] == pytest.approx(EXPECTED[("E1", "SO2")][2], rel=1e-12)


def test_a_csv_read_inside_a_transaction_has_its_spreadsheet_rows(tmp_path):
    # rows a transaction adds are numbered from 2^55 on: the copy counts from its first
    # rowid (the CLI reads the files inside the workspace's transaction)
    import ibis

    con = ibis.duckdb.connect(str(tmp_path / "ws.duckdb"))
    path = tmp_path / "bad.csv"
    BAD_ACTIVITY.to_csv(path, index=False)
    con.raw_sql("BEGIN TRANSACTION")
    table = engine_input(con, path)
    rows = con.to_pyarrow(table.select("_row")).to_pandas()["_row"]
    assert sorted(rows) == list(range(2, len(BAD_ACTIVITY) + 2))
    result = account(table, LIBRARY, BAD_TREATMENT, con=con)
    con.raw_sql("COMMIT")
    assert set(zip(result.rejects["row"], result.rejects["reason"], result.rejects["column"],
                   strict=True)) == EXPECTED_REJECTS
    con.disconnect()


def test_a_csv_copy_is_numbered_in_file_order_and_dropped_after_the_run(tmp_path,
                                                                       duckdb_backend):
    # DuckDB numbers a CSV by the rowid of a copy made in file order (insertion order is
    # kept for the copy whatever the connection's setting, which is restored after);
    # the run drops the copy
    from sourcegrid.io.engine_files import COPY_PREFIX

    path = tmp_path / "bad.csv"
    BAD_ACTIVITY.to_csv(path, index=False)
    duckdb_backend.raw_sql("SET preserve_insertion_order = false")
    try:
        table = engine_input(duckdb_backend, path)
        assert duckdb_backend.list_tables(like=COPY_PREFIX)
        setting = "SELECT current_setting('preserve_insertion_order')"
        assert duckdb_backend.raw_sql(setting).fetchone()[0] is False
        rows = duckdb_backend.to_pyarrow(table.select("_row", "enterprise_id")).to_pandas()
        # spreadsheet rows: the header is row 1, BAD_ACTIVITY's i-th row is row i + 2
        assert dict(zip(rows["_row"], rows["enterprise_id"], strict=True)) == {
            i + 2: e for i, e in enumerate(BAD_ACTIVITY["enterprise_id"])}
        result = account(table, LIBRARY, BAD_TREATMENT, con=duckdb_backend)
    finally:
        duckdb_backend.raw_sql("SET preserve_insertion_order = true")
    assert set(zip(result.rejects["row"], result.rejects["reason"], result.rejects["column"],
                   strict=True)) == EXPECTED_REJECTS
    assert not duckdb_backend.list_tables(like=COPY_PREFIX)


@pytest.mark.parametrize("word", ["*", " 所有工艺 ", "all", "/\t"])
def test_a_key_that_means_any_is_blank(word, tmp_path, duckdb_backend):
    # E4's welding row has no process; '*', '所有工艺', 'all', '/' say the same (padded or
    # not): stored as blank, and a duplicate of the same row written with a blank process
    activity = GOOD_ACTIVITY.copy()
    activity.loc[activity["enterprise_id"] == "E4", "process"] = word
    activity = pd.concat([activity, GOOD_ACTIVITY.iloc[[3]]], ignore_index=True)  # row 6
    path = tmp_path / "activity.csv"
    activity.to_csv(path, index=False)
    for table in (engine_input(duckdb_backend, path), read_arrow(path)):
        result = account(table, LIBRARY, GOOD_TREATMENT, con=duckdb_backend,
                         activity_source=path.name)
        assert list(zip(result.rejects["row"], result.rejects["reason"], strict=True)) == [
            (6, "duplicate_row")]
        got = result.emissions.set_index(["enterprise_id", "pollutant"])
        assert got.loc[("E4", "PM"), "process"] == ""
        # G = 9.19 × 20 = 183.8 (cases.EXPECTED)
        assert tuple(got.loc[("E4", "PM"), ["generation", "removal", "emission"]]) == \
            pytest.approx(EXPECTED[("E4", "PM")], rel=1e-12)


def test_parquet_trims_exactly_the_padded_texts(tmp_path, duckdb_backend):
    # only the text columns with padding are trimmed by the engine (engine_input checks
    # each column first); padded or not, the rows are GOOD_ACTIVITY's and GOOD_TREATMENT's
    padded = GOOD_ACTIVITY.copy()
    padded["section"] = padded["section"].astype(str) + " "  # trailing only
    padded.loc[0, "enterprise_id"] = "\t" + padded.loc[0, "enterprise_id"]  # one row only
    path = tmp_path / "activity.parquet"
    padded.to_parquet(path, index=False)
    treatment = GOOD_TREATMENT.copy()
    treatment["pollutant"] = " " + treatment["pollutant"].astype(str)
    treatment_path = tmp_path / "treatment.parquet"
    treatment.to_parquet(treatment_path, index=False)
    expected = _sorted(account(GOOD_ACTIVITY, LIBRARY, GOOD_TREATMENT, con=duckdb_backend))
    got = _sorted(account(engine_input(duckdb_backend, path), LIBRARY,
                          engine_input(duckdb_backend, treatment_path, kind="treatment"),
                          con=duckdb_backend))
    assert got[1].empty and expected[1].empty
    columns = ["enterprise_id", "section", "pollutant", "generation", "removal", "emission",
               "treatment"]
    pd.testing.assert_frame_equal(got[0][columns], expected[0][columns])
    emissions = got[0].set_index(["enterprise_id", "pollutant"])["emission"]
    assert emissions[("E1", "SO2")] == pytest.approx(EXPECTED[("E1", "SO2")][2], rel=1e-12)


def test_typed_parquet_read_by_the_engine(tmp_path, duckdb_backend):
    typed = BAD_ACTIVITY.copy()
    typed["activity"] = pd.to_numeric(typed["activity"], errors="coerce")  # 'abc' → null
    path = tmp_path / "activity.parquet"
    typed.to_parquet(path, index=False)
    (arrow_emissions, arrow_rejects), (emissions, rejects) = _both(duckdb_backend, path,
                                                                  BAD_TREATMENT)
    pd.testing.assert_frame_equal(emissions, arrow_emissions)
    pd.testing.assert_frame_equal(rejects, arrow_rejects)
    # the null activity of row 5 is a missing value now, not 'abc'
    assert (5, "missing_value", "activity") in set(
        zip(rejects["row"], rejects["reason"], rejects["column"], strict=True))


def test_files_the_engine_does_not_take_as_they_are(tmp_path, duckdb_backend):
    gb = tmp_path / "gb18030.csv"
    GOOD_ACTIVITY.to_csv(gb, index=False, encoding="gb18030")
    xlsx = tmp_path / "activity.xlsx"
    GOOD_ACTIVITY.to_excel(xlsx, index=False)
    floats = tmp_path / "floats.parquet"  # a region code stored as a float: text for read_arrow
    GOOD_ACTIVITY.assign(region_code=130900.0).to_parquet(floats, index=False)
    twice = tmp_path / "twice.csv"  # 企业编号 and enterprise_id both mean enterprise_id
    GOOD_ACTIVITY.assign(企业编号=GOOD_ACTIVITY["enterprise_id"]).to_csv(twice, index=False)
    ragged = tmp_path / "ragged.csv"  # row 40 has a field more than the header: bad_csv
    GOOD_ACTIVITY.loc[[0] * 50].to_csv(ragged, index=False)
    lines = ragged.read_text(encoding="utf-8").splitlines()
    lines[39] += ",extra"
    ragged.write_text("\n".join(lines) + "\n", encoding="utf-8")
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(GOOD_ACTIVITY.columns) + "\n", encoding="utf-8")
    short = tmp_path / "short.csv"  # row 30 lost a field: its values stand in wrong columns
    GOOD_ACTIVITY.loc[[0] * 50].to_csv(short, index=False)
    lines = short.read_text(encoding="utf-8").splitlines()
    lines[29] = lines[29].rsplit(",", 1)[0]
    short.write_text("\n".join(lines) + "\n", encoding="utf-8")
    blank = tmp_path / "blank.csv"
    blank.write_bytes(b"\n\n\n")
    kept = tmp_path / "kept.csv"
    GOOD_ACTIVITY.to_csv(kept, index=False)
    assert engine_input(duckdb_backend, kept) is not None  # its numbered copy is in use
    copies = set(duckdb_backend.list_tables(like="_sgcopy_"))
    assert copies
    for path in (gb, xlsx, floats, twice, ragged, short, header_only, blank):
        assert engine_input(duckdb_backend, path) is None, path.name
    # the numbered copy of a file read_arrow reads instead (twice.csv) is dropped, not kept
    # until the connection closes; the copy still in use stays
    assert set(duckdb_backend.list_tables(like="_sgcopy_")) == copies


def test_a_missing_file_is_the_error_read_arrow_gives(tmp_path, duckdb_backend):
    from sourcegrid.errors import InputError

    with pytest.raises(InputError) as by_engine:
        engine_input(duckdb_backend, tmp_path / "missing.csv")
    with pytest.raises(InputError) as by_arrow:
        read_arrow(tmp_path / "missing.csv")
    assert str(by_engine.value) == str(by_arrow.value)
    assert [p.reason for p in by_engine.value.problems] == ["file_not_found"]


@pytest.mark.spark
@pytest.mark.slow
def test_spark_reads_the_same_rows(tmp_path, duckdb_backend, spark_backend):
    path = tmp_path / "bad.parquet"
    BAD_ACTIVITY.astype({"activity": "string", "capacity": "float64"}).to_parquet(path,
                                                                               index=False)
    _, rejects = _sorted(account(engine_input(duckdb_backend, path), LIBRARY, BAD_TREATMENT,
                                 con=duckdb_backend))
    assert set(zip(rejects["row"], rejects["reason"], rejects["column"],
                   strict=True)) == EXPECTED_REJECTS
    csv = tmp_path / "bad.csv"
    BAD_ACTIVITY.to_csv(csv, index=False)
    assert engine_input(spark_backend, csv) is None  # Spark pads short rows: read_arrow
    table = engine_input(spark_backend, path)
    assert table is not None
    _, spark_rejects = _sorted(account(table, LIBRARY, BAD_TREATMENT, con=spark_backend))
    columns = ["row", "reason", "column", "value"]
    pd.testing.assert_frame_equal(spark_rejects[columns].astype(str),
                                  rejects[columns].astype(str))


def test_an_unknown_kind_names_the_valid_ones(tmp_path, duckdb_backend):
    from sourcegrid.errors import NotFoundError

    path = tmp_path / "good.csv"
    GOOD_ACTIVITY.to_csv(path, index=False)
    with pytest.raises(NotFoundError, match="valid: activity, treatment"):
        engine_input(duckdb_backend, path, kind="sources")
