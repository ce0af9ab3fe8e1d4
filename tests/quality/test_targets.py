"""Binding targets: storage in the workspace and progress, worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.errors import InputError
from sourcegrid.quality.targets import Target, add_target, list_targets, progress
from sourcegrid.store import Workspace

PM25 = Target("PM2.5", "石家庄", 2020, 58.0, 45.0, 2025, unit="µg/m³")
GOOD = Target("good_ratio", "石家庄", 2020, 70.0, 80.0, 2025, unit="%")


@pytest.fixture
def workspace():
    store = Workspace.in_memory()
    yield store
    store.close()


def test_targets_are_stored_and_replaced(workspace):
    assert list_targets(workspace).empty
    add_target(workspace, PM25)
    stored = add_target(workspace, GOOD)
    assert len(stored) == 2
    assert stored.set_index("indicator").loc["PM2.5", "direction"] == "decrease"  # inferred
    assert stored.set_index("indicator").loc["good_ratio", "direction"] == "increase"
    # same indicator, region and deadline: replaced, not duplicated
    stored = add_target(workspace, Target("PM2.5", "石家庄", 2020, 58.0, 44.0, 2025))
    assert len(stored) == 2
    assert stored.set_index("indicator").loc["PM2.5", "target_value"] == 44.0
    assert workspace.has("targets")


def test_progress_of_a_decrease_by_hand():
    targets = pd.DataFrame([PM25.checked().__dict__])
    current = pd.DataFrame({"indicator": ["PM2.5"], "region": ["石家庄"], "year": [2023],
                            "value": [50.0]})
    row = progress(targets, current).iloc[0]
    # required 45 - 58 = -13; achieved 50 - 58 = -8; share -8 / -13 = 61.54 %
    assert row["required_change"] == pytest.approx(-13.0)
    assert row["achieved_change"] == pytest.approx(-8.0)
    assert row["achieved_share"] == pytest.approx(100 * 8 / 13)
    # linear trajectory in 2023: 58 + (-13) * (2023 - 2020) / (2025 - 2020) = 58 - 7.8 = 50.2
    assert row["expected_value"] == pytest.approx(50.2)
    assert bool(row["on_track"]) is True  # 50 <= 50.2
    assert bool(row["met"]) is False  # 50 > 45
    assert row["remaining_change"] == pytest.approx(-5.0)


def test_progress_of_an_increase_by_hand():
    targets = pd.DataFrame([GOOD.checked().__dict__])
    current = pd.DataFrame({"indicator": ["good_ratio"], "region": ["石家庄"], "year": [2022],
                            "value": [73.0]})
    row = progress(targets, current).iloc[0]
    # required +10; achieved +3 -> 30 %; expected 70 + 10 * 2/5 = 74; 73 < 74: behind
    assert row["achieved_share"] == pytest.approx(30.0)
    assert row["expected_value"] == pytest.approx(74.0)
    assert bool(row["on_track"]) is False


def test_target_without_a_current_value_is_kept():
    targets = pd.DataFrame([PM25.checked().__dict__, GOOD.checked().__dict__])
    current = pd.DataFrame({"indicator": ["PM2.5"], "region": ["石家庄"], "year": [2025],
                            "value": [44.0]})
    out = progress(targets, current).set_index("indicator")
    assert bool(out.loc["PM2.5", "met"]) is True
    assert pd.isna(out.loc["good_ratio", "on_track"])
    assert pd.isna(out.loc["good_ratio", "current_value"])


def test_inconsistent_targets_report_every_problem():
    with pytest.raises(InputError, match="invalid target") as error:
        Target("PM2.5", "", 2025, 58.0, 65.0, 2020, direction="decrease").checked()
    reasons = {p.reason for p in error.value.problems}
    assert reasons == {"missing_value", "bad_deadline", "direction_mismatch"}
    messages = " ".join(p.message for p in error.value.problems)
    assert "a decrease target needs a target value below the base value 58.0" in messages
    with pytest.raises(InputError) as error:
        Target("PM2.5", "x", 2020, 58.0, 45.0, 2025, direction="down").checked()
    assert error.value.problems[0].message == "expected one of decrease, increase"


def test_progress_needs_the_current_columns():
    targets = pd.DataFrame([PM25.checked().__dict__])
    with pytest.raises(InputError, match="cannot report target progress") as error:
        progress(targets, pd.DataFrame({"indicator": ["PM2.5"]}))
    assert {p.column for p in error.value.problems} == {"region", "year", "value"}
