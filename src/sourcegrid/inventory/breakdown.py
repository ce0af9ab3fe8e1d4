"""The inventory split over the cells of its sources, and its breakdowns.

:func:`split_over_cells` gives one row per source × pollutant × cell the source
lies in, its emission [kg] the cell's part of the source's total (total × share,
the shares of :func:`sourcegrid.inventory.allocation.cell_shares`), with the
cell's county and township; summed over the cells (and the part outside the
grid) it is the inventory total. :func:`breakdown` sums such rows by industry,
pollutant, region (township) or sector, for a scope of cells chosen by the
caller (a grid head's township, a county, the whole city).
"""

from __future__ import annotations

import pandas as pd

from sourcegrid.errors import NotFoundError

__all__ = ["BREAKDOWNS", "SPLIT_COLUMNS", "split_over_cells", "breakdown"]

#: Breakdown name → the column of the split inventory it groups by.
BREAKDOWNS = {"industry": "industry_code", "pollutant": "pollutant",
              "region": "township_code", "sector": "sector"}

#: Columns of :func:`split_over_cells` (and of an empty split).
SPLIT_COLUMNS = ["source_id", "pollutant", "emission", "sector", "cell_id", "share",
                 "industry_code", "county_code", "township_code"]

#: Group label of rows without a value in the grouping column (e.g. outside the grid).
NO_GROUP = "(none)"


def split_over_cells(inventory: pd.DataFrame, shares: pd.DataFrame,
                     cells: pd.DataFrame) -> pd.DataFrame:
    """Inventory rows split over the cells of their sources.

    Parameters
    ----------
    inventory : pandas.DataFrame
        The ``inventory`` table: source_id, pollutant, emission [kg], sector, ...
    shares : pandas.DataFrame
        source_id, cell_id (None = outside the grid), share [0-1], and optionally
        the source's name and industry_code. A source without shares counts
        whole (share 1) with cell_id None.
    cells : pandas.DataFrame
        The ``cells`` table: cell_id, county_code, township_code.

    Returns
    -------
    pandas.DataFrame
        The inventory's columns with emission = source emission × share [kg], plus
        cell_id, share, the shares' name/industry_code and the cell's county_code
        and township_code.
    """
    attributes = [c for c in ("source_id", "cell_id", "share", "name", "industry_code")
                  if c in shares]
    frame = inventory.assign(source_id=inventory["source_id"].astype(str)).merge(
        shares[attributes].assign(source_id=shares["source_id"].astype(str)),
        on="source_id", how="left")
    frame["share"] = frame["share"].astype(float).fillna(1.0)
    frame["emission"] = frame["emission"].astype(float) * frame["share"]
    return frame.merge(cells[["cell_id", "county_code", "township_code"]], on="cell_id",
                       how="left")


def breakdown(split: pd.DataFrame, by: str) -> pd.DataFrame:
    """Emission [kg] and number of sources by industry, pollutant, region or sector.

    Parameters
    ----------
    split : pandas.DataFrame
        Rows of :func:`split_over_cells` (already limited to the cells in scope).
    by : {'industry', 'pollutant', 'region', 'sector'}
        The grouping: industry_code, pollutant, township_code or sector; every
        grouping but 'pollutant' is also split by pollutant.

    Returns
    -------
    pandas.DataFrame
        ``by``, pollutant, emission_kg (sum of the cell parts), sources (distinct
        source ids), largest emission first. Rows without a value in the grouping
        column (a source outside the grid has no township) form the group '(none)'.
    """
    if by not in BREAKDOWNS:
        raise NotFoundError("inventory breakdown", by, tuple(BREAKDOWNS))
    key = BREAKDOWNS[by]
    if key not in split or not len(split):
        return pd.DataFrame(columns=[by, "pollutant", "emission_kg", "sources"])
    keys = [key] if key == "pollutant" else [key, "pollutant"]
    grouped = (split.assign(**{key: split[key].astype("string").fillna(NO_GROUP)})
               .groupby(keys, dropna=False)
               .agg(emission_kg=("emission", "sum"), sources=("source_id", "nunique"))
               .reset_index().rename(columns={key: by}))
    return grouped.sort_values("emission_kg", ascending=False, kind="mergesort"
                               ).reset_index(drop=True)
