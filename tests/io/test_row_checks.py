"""RowChecks: every problem of every row, one reject per failed check and row."""

from __future__ import annotations

import pandas as pd

from sourcegrid.io.tables import ROW, SOURCE, RowChecks


def test_a_row_breaking_two_checks_is_reported_under_both():
    frame = pd.DataFrame({SOURCE: "f.csv", ROW: [2, 3, 4], "site": ["a", "", None],
                          "value": ["1", "-5", "x"]})
    checks = RowChecks(frame)
    site = frame["site"].astype("string")
    checks.check(site.isna() | (site == ""), "site", frame["site"], "missing_site",
                 "expected a site id")
    number = pd.to_numeric(frame["value"], errors="coerce")
    checks.check(number < 0, "value", frame["value"], "negative_value", "expected >= 0")
    checks.check(number.isna(), "value", frame["value"], "bad_number",
                 pd.Series(["", "", "'x' is not a number"], index=frame.index))
    checks.check(pd.Series([None, None, None], dtype="boolean"), "value", frame["value"],
                 "never", "NA is no problem")
    # row 2 is fine; row 3: missing site and negative; row 4: missing site and not a number
    assert checks.bad.tolist() == [False, True, True]
    rejects = pd.concat(checks.rejects, ignore_index=True)
    assert list(zip(rejects["row"], rejects["reason"], rejects["value"], strict=True)) == [
        (3, "missing_site", ""), (4, "missing_site", ""), (3, "negative_value", "-5"),
        (4, "bad_number", "x")]
    assert rejects["message"].iloc[-1] == "'x' is not a number"
    assert set(rejects["source"]) == {"f.csv"}
