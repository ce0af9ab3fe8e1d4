"""``sourcegrid coefficients ...`` through typer's CliRunner."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.sample.library import sample_library_path

from .helpers import row, write_library

runner = CliRunner()


#: wide tables, so that asserted texts are not cut (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("wide_console")


def run(*args: str):
    return runner.invoke(app, ["coefficients", *args])


def test_import_list_show(tmp_path):
    workspace = str(tmp_path / "ws")
    result = run("import", str(sample_library_path()), "--name", "sample", "--source", "demo",
                 "--workspace", workspace)
    assert result.exit_code == 0, result.output
    assert "imported library sample from sample_library.csv: 122 file rows" in result.output
    assert "discrete" in result.output and "VOCs" in result.output  # the summary table

    result = run("list", "-w", workspace)
    assert result.exit_code == 0
    assert "sample" in result.output and "demo" in result.output

    out = tmp_path / "so2.csv"
    result = run("show", "sample", "--industry", "4411", "--pollutant", "二氧化硫",
                 "--out", str(out), "-w", workspace)
    assert result.exit_code == 0, result.output
    assert "17*S" in result.output and "石灰石-石膏法" in result.output
    shown = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert set(shown["pollutant"]) == {"SO2"} and set(shown["industry_code"]) == {"4411"}
    assert "12 row(s)" in result.output and len(shown) == 12


def test_import_twice_needs_replace(tmp_path):
    workspace = str(tmp_path / "ws")
    path = write_library(tmp_path / "lib.csv", [row()])
    assert run("import", str(path), "--name", "v1", "-w", workspace).exit_code == 0
    again = run("import", str(path), "--name", "v1", "-w", workspace)
    assert again.exit_code == 2
    assert "library 'v1' is already in the workspace" in again.stderr
    assert run("import", str(path), "--name", "v1", "--replace", "-w", workspace).exit_code == 0


def test_validate_bad_file_exit_2(tmp_path):
    path = write_library(tmp_path / "bad.csv", [
        row(industry_code="441", process="a"), row(unit="千克/吨", process="b"), row(process="c")])
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert "2 problem(s); nothing was loaded" in result.stderr
    assert "bad_industry_code" in result.stderr and "bad_unit" in result.stderr
    assert "names no basis" in result.stderr
    assert not (tmp_path / "sourcegrid-workspace").exists()


def test_validate_good_file(tmp_path):
    result = run("validate", str(write_library(tmp_path / "ok.xlsx", [row()])))
    assert result.exit_code == 0, result.output
    assert "ok: ok.xlsx is a valid coefficient library (1 rows, 1 by industry code)" in result.output


def test_import_bad_file_stores_nothing(tmp_path):
    workspace = tmp_path / "ws"
    path = write_library(tmp_path / "bad.csv", [row(removal_efficiency="120")])
    result = run("import", str(path), "--name", "bad", "-w", str(workspace))
    assert result.exit_code == 2
    assert "removal_efficiency_out_of_range" in result.stderr
    assert not workspace.exists()


def test_compare_and_unknown_name(tmp_path):
    workspace = str(tmp_path / "ws")
    old = write_library(tmp_path / "old.csv", [row(generation_coefficient="16", treatment="",
                                                   removal_efficiency="")])
    new = write_library(tmp_path / "new.csv", [row(generation_coefficient="18", treatment="",
                                                   removal_efficiency="")])
    run("import", str(old), "--name", "old", "-w", workspace)
    run("import", str(new), "--name", "new", "-w", workspace)
    out = tmp_path / "diff.xlsx"
    result = run("compare", "old", "new", "--out", str(out), "-w", workspace)
    assert result.exit_code == 0, result.output
    assert "changed: 1, added: 0, removed: 0, unchanged: 0" in result.output
    assert "12.5" in result.output  # (18 - 16) / 16 = +12.5 %
    assert pd.read_excel(out)["change_percent"].tolist() == [12.5]

    missing = run("show", "nope", "-w", workspace)
    assert missing.exit_code == 2
    assert "unknown coefficient library 'nope'; valid: new, old" in missing.stderr


def test_missing_workspace_is_reported(tmp_path):
    result = run("list", "-w", str(tmp_path / "none"))
    assert result.exit_code == 2
    assert "no workspace at" in result.stderr


def test_export_edit_reimport_compare(tmp_path):
    workspace = str(tmp_path / "ws")
    run("import", str(sample_library_path()), "--name", "sample", "-w", workspace)
    exported = tmp_path / "sample_zh.csv"
    result = run("export", "sample", "--out", str(exported), "--chinese", "-w", workspace)
    assert result.exit_code == 0, result.output
    text = exported.read_text(encoding="utf-8-sig")
    assert text.startswith("行业代码,行业类型,工段名称")
    assert "3311;3670;3951;3952,离散型,下料" in text
    # a new version: pulverized-coal NOx of ≥300MW units from 4.6 to 4.14 kg/t (-10 %)
    edited = tmp_path / "manual.csv"
    edited.write_text(text.replace("≥300MW,废气,NOx,千克/吨-原料,4.6,",
                                   "≥300MW,废气,NOx,千克/吨-原料,4.14,"), encoding="utf-8")
    assert run("import", str(edited), "--name", "manual", "-w", workspace).exit_code == 0
    result = run("compare", "sample", "manual", "-w", workspace)
    assert result.exit_code == 0, result.output
    # SCR, SNCR and untreated rows; rows are compared per industry code (203 in all)
    assert "changed: 3, added: 0, removed: 0, unchanged: 200" in result.output
    assert "-10" in result.output


def test_overlapping_tiers_warned(tmp_path):
    path = write_library(tmp_path / "tiers.csv", [
        row(scale="10万吨/年以上"), row(scale="10万吨/年以下")])
    result = run("validate", str(path))
    assert result.exit_code == 0
    assert "warning: 1 pair(s) of overlapping scale tiers" in result.stderr
    assert "capacities in [10, 10] 万吨/年 fall in both" in result.stderr


def test_remove(tmp_path):
    workspace = str(tmp_path / "ws")
    run("import", str(write_library(tmp_path / "a.csv", [row()])), "--name", "a", "-w", workspace)
    result = run("remove", "a", "-w", workspace)
    assert result.exit_code == 0 and "removed library a" in result.output
    assert "no coefficient libraries yet" in run("list", "-w", workspace).output
    again = run("remove", "a", "-w", workspace)
    assert again.exit_code == 2
    assert "unknown coefficient library 'a'; valid: (none)" in again.stderr
