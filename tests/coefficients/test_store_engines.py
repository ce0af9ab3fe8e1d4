"""Library versions on other engines: the same store code on PySpark."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.coefficients import (
    compare_libraries,
    list_libraries,
    sample_library,
    store_library,
    stored_library,
)
from sourcegrid.coefficients.versions import LIBRARIES_TABLE, ROWS_TABLE
from sourcegrid.store import Workspace


@pytest.mark.spark
def test_store_round_trip_on_spark(spark_backend):
    workspace = Workspace.from_backend(spark_backend)
    library = sample_library()
    try:
        store_library(workspace, library, replace=True)
        assert "sample" in list_libraries(workspace)["name"].tolist()
        back = stored_library(workspace, "sample")
        pd.testing.assert_frame_equal(back.rows, library.rows)
        assert (compare_libraries(library, back)["status"] == "unchanged").all()
    finally:
        workspace.drop(ROWS_TABLE)
        workspace.drop(LIBRARIES_TABLE)


@pytest.mark.pg
def test_store_round_trip_on_postgres(postgres_backend):
    workspace = Workspace.from_backend(postgres_backend)
    library = sample_library()
    store_library(workspace, library, replace=True)
    assert "sample" in list_libraries(workspace)["name"].tolist()
    back = stored_library(workspace, "sample")
    pd.testing.assert_frame_equal(back.rows, library.rows)
    assert (compare_libraries(library, back)["status"] == "unchanged").all()
