"""A large run from files accounted in parts of whole enterprises.

Two ways (engine.account): when each input's enterprises stand in consecutive rows in one
order (a census file sorted by enterprise), each part reads a range of rows and writes its
emissions straight after the previous part's (engine._account_in_ranges); otherwise the
inputs are split by a hash of the enterprise id and the parts merged (_account_in_parts).

The hand-checked cases (tests/accounting/cases.py), good and bad rows in one file, with a
treatment row of an enterprise that has no activity, a repeated treatment row and padded
enterprise ids: accounted in parts of at most a few rows (so that some buckets of
enterprise ids hold only treatment rows, or nothing), they give the hand-worked emissions
and the expected rejects, each once, and the same file, row for row, as one pass, both
ways: with the treatment rows as given (E2's rows come last: split and merged) and
ordered as the activity's enterprises (in row ranges).
"""

from __future__ import annotations

import warnings

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sourcegrid.accounting.engine import ClippedOperatingRate, account
from sourcegrid.accounting.inputs import engine_input

from . import cases

#: spreadsheet rows of the bad activity rows once the good ones stand above them
SHIFT = len(cases.GOOD_ACTIVITY)
EXTRA_TREATMENT = pd.DataFrame([
    # the same enterprise as the activity's E2, padded: the same bucket, E2 is treated
    dict(enterprise_id=" E2 ", section="燃烧", pollutant="NOx", treatment="SCR", k=0.5,
         run_hours=None, production_hours=None),
    # an enterprise without activity, and a k out of range: rejected once
    dict(enterprise_id="T9", section="燃烧", pollutant="SO2", treatment="石灰石-石膏法", k=250,
         run_hours=None, production_hours=None),
    # a repeat of the row above but one (same enterprise, section and pollutant)
    dict(enterprise_id="E2", section="燃烧", pollutant="NOx", treatment="SCR", k=0.6,
         run_hours=None, production_hours=None),
])
#: spreadsheet row of the last treatment row before the extra ones (the header is row 1)
TREATMENT_ROWS = len(cases.GOOD_TREATMENT) + len(cases.BAD_TREATMENT) + 1


def _files(tmp_path, suffix, by_enterprise=False):
    activity = pd.concat([cases.GOOD_ACTIVITY, cases.BAD_ACTIVITY], ignore_index=True)
    treatment = pd.DataFrame([*cases.GOOD_TREATMENT.to_dict("records"),
                              *cases.BAD_TREATMENT.to_dict("records"),
                              *EXTRA_TREATMENT.to_dict("records")])
    if by_enterprise:  # E1 E1 " E2 " E2 E3 E4 B8 B9 T9: rows 2-10
        treatment = treatment.iloc[[0, 1, 6, 8, 2, 3, 4, 5, 7]].reset_index(drop=True)
        assert list(treatment["enterprise_id"].str.strip()) == [
            "E1", "E1", "E2", "E2", "E3", "E4", "B8", "B9", "T9"]
    paths = tmp_path / f"activity{suffix}", tmp_path / f"treatment{suffix}"
    for frame, path in zip((activity, treatment), paths, strict=True):
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object}
                         ).to_parquet(path, index=False)
    return paths


def _run(con, paths, out, part_rows, explain=False, into=None):
    activity, treatment = paths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClippedOperatingRate)
        return account(engine_input(con, activity), cases.LIBRARY,
                       engine_input(con, treatment, kind="treatment"), con=con, out=out,
                       into=into, explain=explain, part_rows=part_rows)


def _expected_rejects(by_enterprise=False):
    # as given, the extra treatment rows follow the others: " E2 ", T9 (k 250), the
    # repeat of E2; by enterprise, the repeat of E2 is row 5 and T9 the last, row 10
    treatment = ({(10, "bad_k", "k"), (5, "duplicate_row", "enterprise_id")} if by_enterprise
                 else {(TREATMENT_ROWS + 2, "bad_k", "k"),
                       (TREATMENT_ROWS + 3, "duplicate_row", "enterprise_id")})
    return {(row + SHIFT, reason, column)
            for row, reason, column in cases.EXPECTED_REJECTS} | treatment


@pytest.fixture(params=["split", "treatment split", "ranges"])
def way(request, monkeypatch):
    """Which way the parts are made, and a check that they were made that way: 'split'
    (inputs split by hash and merged: _row_ranges made to find no cuts, as for
    interleaved enterprises), 'treatment split' (the activity in row ranges, the treatment
    rows as given, E2's last, split by the part of each enterprise's activity), 'ranges'
    (both in row ranges: the treatment in the activity's order of enterprises)."""
    import sourcegrid.accounting.engine as engine

    taken, found = [], []
    for name in ("_account_in_parts", "_account_in_ranges"):
        original = getattr(engine, name)
        monkeypatch.setattr(engine, name, lambda *a, _f=original, _n=name, **k:
                            taken.append(_n) or _f(*a, **k))
    ranges = engine._row_ranges
    monkeypatch.setattr(engine, "_row_ranges", lambda *a: found.append(ranges(*a)) or (
        None if request.param == "split" else found[-1]))
    yield request.param
    if taken:  # a test that ran in parts ran them the way its data asks for
        assert set(taken) == {"_account_in_parts" if request.param == "split"
                              else "_account_in_ranges"}
        if request.param != "split":
            assert {r[0].treatment is None for r in found} == {request.param != "ranges"}


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_parts_give_the_hand_worked_results_and_the_one_pass_file(suffix, way, tmp_path,
                                                                  duckdb_backend):
    paths = _files(tmp_path, suffix, by_enterprise=way == "ranges")
    one = _run(duckdb_backend, paths, tmp_path / f"one{suffix}", part_rows=None)
    parts = _run(duckdb_backend, paths, tmp_path / f"parts{suffix}", part_rows=2)

    read = pq.read_table if suffix == ".parquet" else pd.read_csv
    whole, split = read(tmp_path / f"one{suffix}"), read(tmp_path / f"parts{suffix}")
    if suffix == ".parquet":
        assert split.schema == whole.schema
        whole, split = whole.to_pandas(), split.to_pandas()
    pd.testing.assert_frame_equal(split, whole)  # the same rows in the same order
    assert list(split["pollutant"]) == list(whole["pollutant"])

    got = {(e, p): (g, r, x) for e, p, g, r, x in split[
        ["enterprise_id", "pollutant", "generation", "removal", "emission"]].itertuples(
        index=False)}
    for key, expected in cases.EXPECTED.items():
        if key[0] != "E2":
            assert got[key] == pytest.approx(expected, rel=1e-12), key
    # E2 is treated now: NOx by SCR (η 0.8 in the library) with k 0.5 (its first row;
    # the repeat is rejected): G = 37 500, R = 37 500 × 0.8 × 0.5 = 15 000
    assert got[("E2", "NOx")] == pytest.approx((37_500.0, 15_000.0, 22_500.0), rel=1e-12)

    rejects = parts.rejects
    assert set(zip(rejects["row"], rejects["reason"], rejects["column"], strict=True)) == (
        _expected_rejects(by_enterprise=way == "ranges"))
    assert not rejects.duplicated().any()
    pd.testing.assert_frame_equal(
        rejects.sort_values(list(rejects.columns), ignore_index=True),
        one.rejects.sort_values(list(one.rejects.columns), ignore_index=True))
    assert list(rejects["row"]) == sorted(rejects["row"])
    for name in ("activity_rows", "accounted_rows", "clipped", "emission_rows"):
        assert getattr(parts, name) == getattr(one, name), name
    # 2 rows a part of rows 2-15: by hash, 7 buckets; in ranges, a cut at the first
    # enterprise starting in each range of 2 rows from row 4: rows 4, 6, 8, 10, 12 and
    # 15 (B9: B8 holds rows 13-14), so 7 parts again
    assert one.parts == 1 and parts.parts == 7
    assert ("accounted in parts of whole enterprises", parts.parts) in list(
        parts.summary().itertuples(index=False, name=None))
    assert parts.activity_rows == len(cases.GOOD_ACTIVITY) + len(cases.BAD_ACTIVITY)


@pytest.mark.parametrize("explain", [True, False])
def test_parts_into_a_table(explain, way, tmp_path, duckdb_backend):
    paths = _files(tmp_path, ".parquet", by_enterprise=way == "ranges")
    one = _run(duckdb_backend, paths, None, part_rows=None, explain=explain, into="one_run")
    before = set(duckdb_backend.list_tables())
    activity, treatment = (engine_input(duckdb_backend, path, kind=kind)
                           for path, kind in zip(paths, ("activity", "treatment"), strict=True))
    inputs = set(duckdb_backend.list_tables())
    parts = account(activity, cases.LIBRARY, treatment, con=duckdb_backend, into="parts_run",
                    part_rows=3, explain=explain)
    whole = duckdb_backend.to_pandas(one.emissions_table)
    split = duckdb_backend.to_pandas(parts.emissions_table)
    pd.testing.assert_frame_equal(split, whole)
    # the table has every column (the CLI's run), the whole derivation only when asked
    assert list(split.columns) == list(whole.columns) and "source_row" in split.columns
    assert split["note"].str.startswith("G = c × A = ").all() == explain
    assert list(split["source_row"]) == sorted(split["source_row"])
    # nothing of the parts is left in the backend: the inputs' views and the new table
    # (and the small in-memory tables Ibis keeps for any run)
    def kept(names):
        return {n for n in names if not n.startswith("ibis_pandas_memtable_")}

    assert kept(duckdb_backend.list_tables()) == kept(inputs) | {"parts_run"}
    assert "parts_run" not in before


def test_a_run_is_split_only_when_it_does_not_fit(tmp_path, duckdb_backend, monkeypatch):
    import sourcegrid.accounting.engine as engine

    calls = []
    monkeypatch.setattr(engine, "_split", lambda *args: calls.append(args) or
                        pytest.fail("split although the rows fit"))
    paths = _files(tmp_path, ".parquet")
    _run(duckdb_backend, paths, tmp_path / "one.parquet", part_rows=10_000)
    assert not calls
    # the memory limit sets the rows of a part: 1 GiB → ROWS_PER_GIB rows
    duckdb_backend.raw_sql("SET memory_limit = '1GiB'")
    assert engine._rows_per_part(duckdb_backend) == engine.ROWS_PER_GIB


def test_a_killed_runs_parts_are_removed_by_the_next_run(tmp_path, duckdb_backend):
    import os

    paths = _files(tmp_path, ".parquet")
    out = tmp_path / "out"
    out.mkdir()
    stale = out / "sourcegrid-parts-999999999-x1"  # no such process: a killed run's
    (stale / "activity").mkdir(parents=True)
    live = out / f"sourcegrid-parts-{os.getpid()}-x2"  # a run still going (this process)
    live.mkdir()
    _run(duckdb_backend, paths, out / "emissions.parquet", part_rows=4)
    assert sorted(p.name for p in out.iterdir()) == sorted(["emissions.parquet", live.name])


def test_the_account_command_runs_in_parts_in_its_workspace(tmp_path, monkeypatch, way,
                                                           wide_console):
    """The CLI's run (``into`` the workspace, inside its transaction, then --out) in parts
    under a tiny part size gives the file of a run in one pass, and says it used parts:
    in row ranges when the treatment rows follow the activity's enterprises (P1, P4),
    split and merged when they do not (P4 first)."""
    from typer.testing import CliRunner

    import sourcegrid.accounting.engine as engine
    from sourcegrid.cli.main import app

    header = ("企业编号,企业名称,行业代码,行政区划代码,工段名称,原料名称,工艺名称,生产规模,"
              "规模单位,活动水平,活动水平单位,年份,S,A")
    rows = [f"P{i},电厂{i},4411,130902,锅炉,燃煤,煤粉炉,600,MW,{i},万吨,2017,0.8,20"
            for i in range(1, 7)] + ["P9,电厂9,4411,130902,锅炉,燃煤,煤粉炉,600,MW,-3,万吨,2017,0.8,20"]
    activity, treatment = tmp_path / "activity.csv", tmp_path / "treatment.csv"
    activity.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    p1, p4 = "P1,锅炉,SO2,石灰石-石膏法,0.9\n", "P4,锅炉,SO2,石灰石-石膏法,0.5\n"
    treatment.write_text("enterprise_id,section,pollutant,treatment,k\n"
                         + (p1 + p4 if way == "ranges" else p4 + p1), encoding="utf-8")
    runner = CliRunner()
    command = ["account", str(activity), "--treatment", str(treatment), "--workspace",
               str(tmp_path / "ws")]
    one = runner.invoke(app, [*command, "--out", str(tmp_path / "one.parquet")])
    assert one.exit_code == 0, one.output
    assert "accounted in parts" not in one.output
    monkeypatch.setattr(engine, "ROWS_PER_GIB", 0.01)  # any memory limit: 2 rows a part
    monkeypatch.setattr(engine, "MIN_PART_ROWS", 2)
    folders = []
    make_folder = engine._parts_folder
    monkeypatch.setattr(engine, "_parts_folder",
                        lambda parent: folders.append(make_folder(parent)) or folders[-1])
    parts = runner.invoke(app, [*command, "--out", str(tmp_path / "parts.parquet")])
    assert parts.exit_code == 0, parts.output
    if way != "ranges":  # the parts went beside DuckDB's spill folder, in the workspace
        assert [f.parent for f in folders] == [(tmp_path / "ws").resolve()]
        assert not folders[0].exists()  # and are gone
    else:
        assert not folders  # ranges of rows need no folder
    assert "accounted in parts of whole enterprises" in parts.output
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "parts.parquet"),
                                  pd.read_parquet(tmp_path / "one.parquet"))
    assert "negative_amount" in parts.output  # P9's reject, reported as in one pass


def _table(con, ids, first_row=2):
    return con.create_table(f"t{abs(hash(tuple(ids))) % 10**8}", pd.DataFrame(
        {"enterprise_id": ids, "_row": range(first_row, first_row + len(ids))}),
        overwrite=True)


@pytest.mark.parametrize(("activity", "parts", "cuts"), [
    # rows 2-9, 2 parts of 4 rows: enterprises start at rows 2, 4, 5, 7, 8; the first
    # to start in rows 6-9 is D at 7
    (["A", "A", "B", "C", "C", "D", "E", "E"], 2, [7]),
    # blank ids (rows 3 and 5) are no enterprise: A 2, B 4, C 6; parts of 3 rows (2-4,
    # 5-7): C starts the second
    (["A", "", "B", "  ", "C"], 2, [6]),
    # every enterprise starts in the first range of rows: no cut
    (["A", "B", "C", "C", "C", "C"], 2, None),
    # A's rows 2 and 4 enclose B's: interleaved
    (["A", "B", "A"], 2, None),
])
def test_row_ranges_cut_only_between_enterprises(activity, parts, cuts, duckdb_backend):
    import sourcegrid.accounting.engine as engine

    ranges = engine._row_ranges(duckdb_backend, _table(duckdb_backend, activity), None, parts)
    if cuts is None:
        assert ranges is None
        return
    edges = [None, *cuts, None]
    assert [(r.activity, r.treatment, r.first) for r in ranges] == [
        ((edges[k], edges[k + 1]), None, k == 0) for k in range(len(edges) - 1)]


@pytest.mark.parametrize(("treatment", "cut"), [
    # activity A 2, B 3, C 4, D 5 in 2 parts (cut at C, row 4). Treatment: X and Y have
    # no activity and stay in the part their rows stand in; C (row 5) starts part 2
    (["A", "X", "B", " C ", "Y", "D"], 5),
    # D's treatment (row 2) before A's: not in D's part (None: split by part)
    (["D", "A", "B", "C"], None),
    # X, without activity, has rows 3 and 5, on both sides of C's first row (4)
    (["A", "X", "C", "X", "D"], None),
    # no treatment for the second part: it starts past every row
    (["A", "B", "B"], 2**62),
])
def test_row_ranges_follow_the_activity_in_the_treatment(treatment, cut, duckdb_backend):
    import sourcegrid.accounting.engine as engine

    con = duckdb_backend
    ranges = engine._row_ranges(con, _table(con, ["A", "B", "C", "D"]),
                                _table(con, treatment), 2)
    # the activity's ranges stand; a treatment out of their order is split instead
    assert [(r.activity, r.treatment) for r in ranges] == (
        [((None, 4), None), ((4, None), None)] if cut is None
        else [((None, 4), (None, cut)), ((4, None), (cut, None))])


@pytest.mark.parametrize("way", ["ranges"], indirect=True)
def test_rows_with_a_blank_enterprise_id_are_checked_together_in_ranges(tmp_path, way,
                                                                       duckdb_backend):
    """Blank enterprise ids anywhere in sorted files: the parts still go by row ranges,
    the blank rows all in the first part, and the result is the one pass's."""
    activity_path, treatment_path = _files(tmp_path, ".parquet", by_enterprise=True)
    activity = pd.read_parquet(activity_path)
    blank = activity.iloc[[0]].assign(enterprise_id="")
    padded = activity.iloc[[0]].assign(enterprise_id="  ")
    # rows 4 and 12 (of 2-17) have no enterprise id; the second repeats the first's keys
    activity = pd.concat([activity.iloc[:2], blank, activity.iloc[2:9], padded,
                          activity.iloc[9:]], ignore_index=True)
    activity.to_parquet(activity_path, index=False)
    treatment = pd.read_parquet(treatment_path)
    treatment = pd.concat([treatment.iloc[:4], treatment.iloc[[0]].assign(enterprise_id=""),
                           treatment.iloc[4:]], ignore_index=True)
    treatment.to_parquet(treatment_path, index=False)
    paths = activity_path, treatment_path
    one = _run(duckdb_backend, paths, tmp_path / "one.parquet", part_rows=None)
    parts = _run(duckdb_backend, paths, tmp_path / "parts.parquet", part_rows=2)
    assert parts.parts > 2
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "parts.parquet"),
                                  pd.read_parquet(tmp_path / "one.parquet"))
    def in_order(rejects):
        return rejects.sort_values(list(rejects.columns), ignore_index=True)

    pd.testing.assert_frame_equal(in_order(parts.rejects), in_order(one.rejects))
    blanks = parts.rejects[parts.rejects["column"] == "enterprise_id"]
    assert {4, 12} <= set(blanks["row"])  # both blank activity rows are rejected


def _part_of(row, edges):
    """Index of the range [edges[k], edges[k + 1]) holding ``row`` (None: no bound)."""
    return next(k for k in range(len(edges) - 1)
                if (edges[k] is None or row >= edges[k])
                and (edges[k + 1] is None or row < edges[k + 1]))


def test_row_ranges_never_split_an_enterprise(duckdb_backend):
    """Any activity and treatment (ids from a few letters, blanks, padding, sorted or
    not): when ranges come back, every enterprise has all its activity rows in one part
    and all its treatment rows in that same part (or, without activity, in one part)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    import sourcegrid.accounting.engine as engine

    ids = st.sampled_from(["A", "B", "C", "D", "E", "F", " B", "", "  "])

    @settings(max_examples=200, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(ids, min_size=1, max_size=14), st.lists(ids, max_size=14),
           st.integers(2, 5), st.booleans())
    def check(activity, treatment, parts, sort):
        if sort:  # the common case: both files in one order of enterprises
            activity, treatment = sorted(activity), sorted(treatment)
        con = duckdb_backend
        ranges = engine._row_ranges(con, _table(con, activity, 2), _table(con, treatment, 2)
                                    if treatment else None, parts)
        if ranges is None:
            return
        assert ranges[0].first and not any(r.first for r in ranges[1:])
        a_edges = [ranges[0].activity[0], *(r.activity[1] for r in ranges)]
        if ranges[0].treatment is None:  # split by the part of each enterprise's activity
            treatment = []
        else:
            t_edges = [ranges[0].treatment[0], *(r.treatment[1] for r in ranges)]
        part = {}
        for row, name in enumerate(activity, start=2):
            if name.strip():
                assert part.setdefault(name.strip(), _part_of(row, a_edges)) == (
                    _part_of(row, a_edges)), (name, row)
        for row, name in enumerate(treatment, start=2):
            if name.strip():
                assert part.setdefault("t" + name.strip(), _part_of(row, t_edges)) == (
                    _part_of(row, t_edges)), (name, row)
                if name.strip() in part:
                    assert part[name.strip()] == _part_of(row, t_edges), (name, row)

    check()
