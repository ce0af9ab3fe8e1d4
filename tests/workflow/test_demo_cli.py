"""The demo organisation and the workflow CLI (run in-process with typer's runner)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.store import Workspace
from sourcegrid.workflow import tables as store
from sourcegrid.workflow.alerts import alert_events, alert_states
from sourcegrid.workflow.demo import setup_demo_workflow
from sourcegrid.workflow.org import Organisation
from tests.workflow.world import T0, TOWN_A, TOWN_B

runner = CliRunner()


def _hotspots(workspace):
    workspace.write("hotspots", pd.DataFrame({
        "rank": [1, 2, 3, 4, 5], "cell_id": ["R0000C0000", "R0001C0000", "R0002C0000",
                                              "R0001C0001", "R0002C0002"],
        "mean": [90.0, 85, 80, 75, 70], "ratio_to_city_mean": [1.8, 1.7, 1.6, 1.5, 1.4],
        "method": "rank", "pollutant": "PM2.5", "period_start": T0 - pd.Timedelta(days=7),
        "period_end": T0}))
    workspace.write("hotspot_monthly", pd.DataFrame({
        "list": ["highest", "year_on_year"], "city_code": "130900", "rank": [1, 1],
        "cell_id": ["R0000C0000", "R0001C0001"], "mean": [90.0, 75.0],
        "month": "2024-02", "pollutant": "PM2.5"}))


def test_demo_workflow(world):
    workspace, _ = world
    _hotspots(workspace)
    result = setup_demo_workflow(workspace, now=T0)
    # 1 admin + city + county + 2 townships x 5 roles
    assert result["units"] == 4 and result["people"] == 13
    assert result["alerts"] == 5          # the 5 ranked cells (no trace_results here)
    organisation = Organisation.load(workspace)
    assert {"admin", "city-130900", "county-130902", f"head-{TOWN_A}", f"viewer-{TOWN_B}"} <= set(
        organisation.people)
    assert organisation.unit("130902").name == "新华区"            # GB/T 2260
    assert organisation.unit(TOWN_A).name == "新华区示范乡镇1"
    states = alert_states(workspace)["state"].value_counts().to_dict()
    assert states == {"dispatched": 2, "resolved": 1, "acknowledged": 1, "false_alarm": 1}
    assert alert_states(workspace)["escalations"].sum() == 1
    events = len(alert_events(workspace))
    again = setup_demo_workflow(workspace, now=T0 + pd.Timedelta(hours=1))
    assert again["alerts"] == 0 and again["events"] == 0 and again["alerts_known"] == 5
    assert len(alert_events(workspace)) == events


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_cli_round_trip(file_world, tmp_path):
    workspace, _ = file_world
    folder = workspace.path
    _hotspots(workspace)
    workspace.close()
    w = ["--workspace", folder]
    code, out = _run("alerts", "raise", "--now", "2024-03-01T09:00", *w)
    assert code == 0, out
    assert "7 new alert(s), 0 already known; 7 dispatched" in out  # 5 ranked + 2 monthly
    code, out = _run("alerts", "raise", "--now", "2024-03-01T09:30", *w)
    assert "0 new alert(s), 7 already known; 0 dispatched" in out
    alerts = tmp_path / "alerts.csv"
    code, out = _run("alerts", "list", "--as", "headB", "--out", alerts, *w)
    assert code == 0, out
    listed = pd.read_csv(alerts)
    assert set(listed["cell_id"]) == {"R0001C0001", "R0002C0002"}   # township B only
    alert = listed.loc[(listed["cell_id"] == "R0001C0001") & (listed["grade"] != "x"),
                       "alert_id"].iloc[0]
    code, out = _run("alerts", "act", alert, "resolve", "--as", "headB", *w)
    assert code == 2 and "cannot resolve an alert that is dispatched" in out
    code, out = _run("alerts", "act", alert, "acknowledge", "--as", "headA", *w)
    assert code == 2 and "outside the scope of headA" in out
    code, out = _run("alerts", "act", alert, "acknowledge", "--as", "headB", "--now",
                     "2024-03-01T10:00", *w)
    assert code == 0 and "dispatched → acknowledged" in out
    evidence = tmp_path / "evidence.json"
    evidence.write_text(json.dumps({"problems": ["锅炉冒黑烟"]}), encoding="utf-8")
    code, out = _run("alerts", "act", alert, "inspect", "--as", "supB", "--evidence",
                     f"@{evidence}", "--now", "2024-03-01T11:00", *w)
    assert code == 0, out
    code, out = _run("alerts", "escalate", "--now", "2024-03-02T12:00", *w)
    assert code == 0 and "alert(s) escalated" in out
    code, out = _run("dossier", "R0001C0001", "--out", tmp_path / "d.html", "--as", "headB", *w)
    assert code == 0, out
    assert "一格一档" in (tmp_path / "d.html").read_text(encoding="utf-8")
    code, out = _run("dossier", "R0001C0001", "--out", tmp_path / "d.pdf", "--as", "headA", *w)
    assert code == 2 and not (tmp_path / "d.pdf").exists()
    code, out = _run("assess", "--from", "2024-03-01", "--to", "2024-03-08", "--out",
                     tmp_path / "a.xlsx", *w)
    assert code == 0 and (tmp_path / "a.xlsx").exists(), out
    code, out = _run("alerts", "list", "--now", "yesterday-ish", *w)
    assert code == 2 and "--now" in out and "ISO 8601" in out
    with Workspace(folder) as reopened:
        events = alert_events(reopened, alert)
        assert events["action"].tolist()[:4] == ["raise", "dispatch", "acknowledge", "inspect"]
        assert events["evidence"].iloc[3] == {"problems": ["锅炉冒黑烟"]}
        assert store.has_table(reopened, "alerts_registry")


def test_cli_org_import_reports_every_row(file_world, tmp_path):
    workspace, _ = file_world
    folder = workspace.path
    workspace.close()
    path = tmp_path / "people.csv"
    path.write_text("人员编号,姓名,角色,单位\nx1,,网格长,130902001\nx2,B,chief,999\n",
                    encoding="utf-8")
    code, out = _run("org", "import", path, "--workspace", folder)
    assert code == 2
    for text in ("missing_value", "bad_role", "unknown_unit", "nothing was loaded"):
        assert text in out
    path.write_text("人员编号,姓名,角色,单位\nx1,甲,网格长,130902001\n", encoding="utf-8")
    code, out = _run("org", "import", path, "--workspace", folder)
    assert code == 0 and "people: 1 added" in out
    code, out = _run("org", "log", "--workspace", folder)
    assert code == 0 and "add_person" in out and "x1" in out


@pytest.mark.parametrize("args", [["dossier", "R0000C0000", "--out", "d.docx"],
                                  ["assess", "--from", "2024-03-01", "--to", "2024-03-02",
                                   "--out", "a.csv"]])
def test_cli_bad_output_types(file_world, args):
    workspace, _ = file_world
    folder = workspace.path
    workspace.close()
    code, out = _run(*args, "--workspace", folder)
    assert code == 2 and "expected a" in out


@pytest.mark.parametrize(("args", "words"), [
    (["alerts", "add", "R0000C0000", "--title", "x", "--start", "2024-13-45"],
     ["--start", "2024-13-45"]),
    (["alerts", "add", "R9999C9999", "--title", "x"], ["R9999C9999", "unknown_cell"]),
    (["alerts", "add", "garbage", "--title", "x"], ["garbage"]),
    (["alerts", "add", "R0000C0000", "--title", "x", "-p", "XYZ"], ["XYZ", "PM2.5"]),
    (["assess", "--from", "2024-13-45", "--to", "2024-03-08"], ["--from", "2024-13-45"]),
    (["assess", "--from", "2024-03-01", "--to", "2024-03-08", "--base-from", "2024-02-25",
      "--base-to", "2024-02-20"], ["--base-from", "--base-to", "after"]),
    (["assess", "--from", "2024-03-08", "--to", "2024-03-01"], ["--from", "--to", "after"]),
    (["dossier", "R0000C0000", "--out", "{tmp}/d.html", "--from", "2024-13-45"],
     ["--from", "2024-13-45"]),
    (["dossier", "R0000C0000", "--out", "{tmp}/d.html", "--from", "2024-03-08", "--to",
      "2024-03-01"], ["--to", "after"]),
    (["dossier", "R0000C0000", "--out", "{file}/d.html"], ["is a file"]),
    (["org", "log", "--last", "-5"], ["--last"]),
])
def test_cli_names_the_option_at_fault(file_world, tmp_path, args, words):
    """Each bad time names its own option (not --now); a reversed period is refused; an
    output under a file is refused before the work; nothing is recorded."""
    from sourcegrid.workflow.alerts import alert_events

    workspace, _ = file_world
    folder = workspace.path
    workspace.close()
    (tmp_path / "a_file").write_text("x")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = [a.replace("{tmp}", str(out_dir)).replace("{file}", str(tmp_path / "a_file"))
            for a in args]
    code, out = _run(*args, "--workspace", folder)
    flat = " ".join(out.split())
    assert code == 2, out
    for word in words:
        assert word in flat, (word, out)
    assert not any(out_dir.iterdir())
    with Workspace(folder) as reopened:
        assert alert_events(reopened).empty
