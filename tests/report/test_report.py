"""The report folder: self-contained index.html, CSV tables, atomic writes, escaping."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from sourcegrid.report import REPORT_CSV, build_report
from sourcegrid.store import Workspace


def test_index_is_self_contained(run):
    html = run.report.read_text(encoding="utf-8")
    # nothing loaded from elsewhere: no external script, style, image or frame
    assert not re.search(r"<(script|img|iframe|link)[^>]*\s(src|href)=", html)
    assert "@import" not in html
    assert not re.search(r"url\((?!data:|#)", html)  # data URIs and SVG references only
    # Leaflet inlined (from xstatic-leaflet), the map data as JSON
    assert "Leaflet 1.9" in html or "L.version" in html or "leaflet" in html.lower()
    assert 'id="map-data"' in html
    assert "default-src 'none'" in html  # the CSP forbids any network use


def test_sections_show_the_pipeline_results(run):
    html = run.report.read_text(encoding="utf-8")
    for heading in ("热点网格", "溯源", "风玫瑰", "优良天数", "排放清单"):
        assert heading in html
    top = run.result.hotspots["cell_id"].iloc[0]
    assert top in html
    assert html.count("<svg") >= 4  # AQI, good days, inventory or wind figures


def test_csv_tables_beside_the_page_are_utf8_with_bom(run):
    folder = run.report.parent
    for name in ("hotspots.csv", "cell_grades.csv", "aqi_daily.csv", "good_days.csv",
                 "inventory_by_industry.csv", "pipeline_steps.csv"):
        assert name in REPORT_CSV
        raw = (folder / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), name
    hotspots = pd.read_csv(folder / "hotspots.csv", encoding="utf-8-sig")
    assert hotspots["cell_id"].tolist() == run.result.hotspots["cell_id"].tolist()
    good = pd.read_csv(folder / "good_days.csv", encoding="utf-8-sig")
    assert "优" in good.columns


def _tiny_workspace(path, name="S1"):
    from sourcegrid.grid.spec import GridSpec, write_spec

    workspace = Workspace(path, create=True)
    write_spec(workspace, GridSpec.from_bbox((116.8, 38.2, 116.9, 38.3), 3000.0))
    workspace.write("sources", pd.DataFrame({
        "source_id": ["S1"], "name": [name], "kind": ["point"], "lon": [116.85],
        "lat": [38.25], "geometry": [""], "sector": ["industry"], "industry_code": ["4411"]}))
    return workspace


def test_rebuilding_replaces_the_folder_atomically(tmp_path):
    workspace = _tiny_workspace(tmp_path / "ws")
    reports = tmp_path / "reports"
    reports.mkdir()
    folder = reports / "report"
    first = build_report(workspace, folder)
    (folder / "stale.txt").write_text("old", encoding="utf-8")
    second = build_report(workspace, folder)
    assert first == second == folder / "index.html"
    assert not (folder / "stale.txt").exists()  # the folder was replaced whole
    assert [p.name for p in reports.iterdir()] == ["report"]  # no temp folders left
    workspace.close()


def test_a_folder_that_is_not_a_report_is_refused(tmp_path):
    from sourcegrid.errors import SourcegridError

    workspace = _tiny_workspace(tmp_path / "ws")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(SourcegridError, match="holds other files and no report"):
        build_report(workspace, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text(encoding="utf-8") == "x"
    workspace.close()


def test_a_nearly_empty_workspace_gives_a_page_with_notes_and_escapes_names(tmp_path):
    evil = "</script><script>alert('x')</script>"
    workspace = _tiny_workspace(tmp_path / "ws", name=evil)
    page = build_report(workspace, tmp_path / "out").read_text(encoding="utf-8")
    assert evil not in page
    data = page.split('id="map-data">')[1].split("</script>")[0]
    assert "\\u003c/script\\u003e" in data  # the name travels escaped inside the JSON
    assert "No trace results in the workspace" in page
    workspace.close()
