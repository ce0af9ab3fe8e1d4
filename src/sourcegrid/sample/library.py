"""The illustrative sample coefficient library shipped with sourcegrid.

The official 二污普 tables are not bundled. ``data/sample_library.csv`` has the
canonical format with the Chinese headers the official tables use, and values
that are illustrative (示意值): plausible magnitudes, each row's ``来源`` column
saying where its magnitude comes from. Use it for demos and tests, never for
real accounting.

Covered: cotton printing and dyeing (1713, 流程型; sections 前处理, 染色, 印花,
整理; COD, NH3-N, TN, TP), thermal power (4411, 流程型; section 锅炉; coal and
natural gas; tiers ≥300MW, 100-300MW, <100MW; SO2, NOx, PM), and the common
sections of discrete-type industries (3311;3951;3952;3670, 离散型; 下料, 焊接,
涂装, 表面处理; PM and VOCs).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["SAMPLE_LIBRARY_NAME", "SAMPLE_LIBRARY_SOURCE", "sample_library_path",
           "sample_library"]

SAMPLE_LIBRARY_NAME = "sample"
SAMPLE_LIBRARY_SOURCE = ("sourcegrid illustrative sample library (示意值, not the official "
                         "二污普 tables)")


def sample_library_path() -> Path:
    """Path of the shipped sample library CSV."""
    return Path(str(resources.files("sourcegrid.sample") / "data" / "sample_library.csv"))


@lru_cache(maxsize=1)
def _cached():
    from sourcegrid.coefficients.importer import load_library

    return load_library(sample_library_path(), SAMPLE_LIBRARY_NAME, source=SAMPLE_LIBRARY_SOURCE)


def sample_library():
    """The sample library, validated and normalized (a fresh copy on each call).

    Returns
    -------
    sourcegrid.coefficients.CoefficientLibrary
    """
    from dataclasses import replace

    library = _cached()
    return replace(library, rows=library.rows.copy())
