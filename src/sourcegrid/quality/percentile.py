"""Percentiles by the HJ 663-2013 rule.

HJ 663-2013 Appendix A (规范性附录 数据统计方法) sorts the n values of a series
in increasing order, X(1) ≤ X(2) ≤ ... ≤ X(n), and computes the ordinal of the
p-th percentile

    k = 1 + (n − 1) · p%                                   (A.1)

and the percentile, linear between the order statistics around k,

    m_p = X(s) + (X(s+1) − X(s)) · (k − s)                 (A.2)

where s is the integer part of k; when s = n, m_p = X(n). (This is the
'linear' definition, Hyndman & Fan type 7, the same as Excel PERCENTILE.INC.)

Missing values (NaN) are left out before sorting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["hj663_percentile", "grouped_hj663_percentile"]


def _check_p(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile p must be between 0 and 100 [%], got {p}")
    return p


def hj663_percentile(values, p: float) -> float:
    """The p-th percentile of a series by HJ 663-2013 Appendix A.

    Parameters
    ----------
    values : array_like
        The series (e.g. daily means of CO [mg/m³] or daily max 8-h O3 [µg/m³]); NaN values
        are ignored.
    p : float
        Percentile [%], 0 to 100 (95 for CO, 90 for O3).

    Returns
    -------
    float
        m_p, or NaN for an empty series.

    References
    ----------
    HJ 663-2013 环境空气质量评价技术规范（试行）, Appendix A, formulas (A.1) and (A.2).
    """
    p = _check_p(p)
    x = np.asarray(values, dtype=float)
    x = np.sort(x[~np.isnan(x)])
    n = x.size
    if n == 0:
        return float("nan")
    k = 1.0 + (n - 1) * p / 100.0
    s = int(np.floor(k))
    if s >= n:
        return float(x[n - 1])
    return float(x[s - 1] + (x[s] - x[s - 1]) * (k - s))


def grouped_hj663_percentile(frame: pd.DataFrame, by: list[str], value: str,
                             p: float) -> pd.DataFrame:
    """HJ 663 percentile of ``value`` within each group, vectorized (one sort, no loop).

    Parameters
    ----------
    frame : pandas.DataFrame
        Long table with the ``by`` columns and a numeric ``value`` column.
    by : list of str
        Group columns (e.g. ['site_id']).
    value : str
        The column to take the percentile of; NaN rows are ignored.
    p : float
        Percentile [%].

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, ``percentile`` and ``n`` (values used).
    """
    p = _check_p(p)
    data = frame.loc[frame[value].notna(), [*by, value]].sort_values([*by, value],
                                                                       kind="mergesort")
    if data.empty:
        return pd.DataFrame(columns=[*by, "percentile", "n"])
    groups = data.groupby(by, sort=False, dropna=False)
    n = groups[value].transform("size").to_numpy()
    position = groups.cumcount().to_numpy()  # 0-based rank within the group
    start = np.arange(len(data)) - position  # index of each group's first value
    x = data[value].to_numpy(dtype=float)
    first = position == 0
    n_first, start_first = n[first], start[first]
    k = 1.0 + (n_first - 1) * p / 100.0
    s = np.floor(k).astype(int)
    lower = x[start_first + s - 1]
    upper = x[start_first + np.minimum(s, n_first - 1)]
    result = np.where(s >= n_first, lower, lower + (upper - lower) * (k - s))
    out = data.loc[first, by].reset_index(drop=True)
    out["percentile"] = result
    out["n"] = n_first
    return out
