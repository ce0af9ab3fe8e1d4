"""The emission inventory on the grid: built from an accounting run or imported.

Workspace tables (written here):

- ``sources``: the sources table (:mod:`sourcegrid.inventory.sources`), one row per
  source, updated by source_id on every build or import;
- ``inventory``: source_id, pollutant, period, emission [kg], hours, emission_rate [g/s]
  (emission over the period's hours), sector, origin (the accounting run name or the
  imported file), size_fraction (for PM2.5/PM10 rows derived from PM (颗粒物): the
  fraction, its set and source type; empty for rows given directly). Rows of one
  origin are replaced when that origin is built or imported again. Every source ×
  pollutant × month is covered by at most one row: a year row and a month row of the
  same year, or two origins covering the same source × pollutant × period, are refused
  (``overlapping_period``, ``overlapping_origin``) unless ``replace=True`` (CLI
  ``--replace``) removes the other origins' overlapping rows — so mass is never
  counted twice in ``cell_inventory`` or by :func:`tracing_candidates`;
- ``cell_inventory``: cell_id, pollutant, sector, emission [kg] — the whole inventory
  allocated to the workspace grid (:mod:`sourcegrid.inventory.allocation`), totals
  conserved per pollutant (the part outside the grid and sources without location are
  reported, not hidden).

Only air pollutants (pollutant_category 废气/air, or an air pollutant name) enter the
inventory: it is the grid's air inventory.

Periods: 'YYYY' (hours of that year) or 'YYYY-MM' (hours of that month).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem, WorkspaceError
from sourcegrid.inventory.allocation import allocate_to_cells
from sourcegrid.inventory.fractions import PM_NAMES, SIZE_FRACTIONS, fraction_note, size_fraction
from sourcegrid.inventory.sources import SOURCE_COLUMNS, default_sector, validate_sources

__all__ = ["InventoryResult", "build_inventory", "import_inventory", "tracing_candidates",
           "inventory_summary", "period_hours", "INVENTORY_COLUMNS", "CELL_INVENTORY_COLUMNS",
           "AIR_POLLUTANTS", "read_emissions_file"]

INVENTORY_COLUMNS = ["source_id", "pollutant", "period", "emission", "hours", "emission_rate",
                     "sector", "origin", "size_fraction"]
CELL_INVENTORY_COLUMNS = ["cell_id", "pollutant", "sector", "emission"]
#: Pollutant names taken as air pollutants when no pollutant_category is given.
AIR_POLLUTANTS = ("SO2", "NOx", "NO2", "PM", "PM2.5", "PM10", "VOCs", "CO", "NH3", "颗粒物",
                  "TSP", "烟尘", "粉尘", "二氧化硫", "氮氧化物", "挥发性有机物")
_AIR_CATEGORIES = ("废气", "air", "")
_EMISSION_ALIASES = {"enterprise_id": "source_id", "企业编号": "source_id", "source_id": "source_id",
                     "排放量": "emission", "污染物指标": "pollutant", "污染物": "pollutant",
                     "核算期": "period", "污染物类别": "pollutant_category", "工段名称": "section"}


@dataclass
class InventoryResult:
    """What a build or import did (tables as DataFrames)."""

    origin: str
    inventory: pd.DataFrame
    sources: pd.DataFrame
    cell_inventory: pd.DataFrame
    outside: pd.DataFrame = field(default_factory=pd.DataFrame)
    unlocated: pd.DataFrame = field(default_factory=pd.DataFrame)
    message: str = ""

    def summary(self) -> pd.DataFrame:
        """Emission [t] per pollutant: in the inventory, on cells, outside, unlocated."""
        total = self.inventory.groupby("pollutant")["emission"].sum()
        frame = pd.DataFrame({"pollutant": total.index, "inventory_t": total.to_numpy() / 1000})
        return frame.reset_index(drop=True)


def period_hours(period) -> np.ndarray:
    """Hours in each period ('YYYY' or 'YYYY-MM'); NaN for anything else."""
    text = pd.Series(period, dtype=object).fillna("").astype(str).str.strip()
    year = text.str.extract(r"^(\d{4})(?:-(\d{2}))?$")
    out = np.full(len(text), np.nan)
    for i, (y, m) in enumerate(zip(year[0], year[1], strict=True)):   # few distinct periods
        if isinstance(y, str):
            y = int(y)
            if isinstance(m, str):
                if 1 <= int(m) <= 12:
                    out[i] = calendar.monthrange(y, int(m))[1] * 24.0
            else:
                out[i] = (366 if calendar.isleap(y) else 365) * 24.0
    return out


def read_emissions_file(emissions: pd.DataFrame | str | Path, source: str | None = None
                        ) -> tuple[pd.DataFrame, np.ndarray, str]:
    """An emissions table (canonical Emissions format) as a frame, its row numbers, its name."""
    from sourcegrid.inventory.sources import read_numbered

    return read_numbered(emissions, source, "emissions", _EMISSION_ALIASES)


#: Largest emission one source may have for one pollutant and period [kg]: 10^12 kg (a
#: million kilotonnes) is above any single plant's annual CO2 (the largest coal plants emit
#: about 3·10^10 kg a year; IEA, CO2 Emissions from Fuel Combustion), so a larger value is
#: a unit or typing error, as is inf.
MAX_EMISSION_KG = 1e12


def _check_emissions(frame: pd.DataFrame, rows: np.ndarray, source: str,
                     known_sources: set[str] | None) -> pd.DataFrame:
    problems: list[Problem] = []
    for column in ("source_id", "pollutant", "period", "emission"):
        if column not in frame:
            problems.append(Problem(source, None, column, "", "missing_column",
                                    f"a {column} column (canonical Emissions format)"))
    if problems:
        raise InputError(problems, f"{source}: not an emissions table")
    if len(frame) == 0:
        raise InputError([Problem(source, None, "", "", "empty_file", "at least one row")],
                         f"{source}: no emissions")
    out = pd.DataFrame({c: frame[c].astype(object).where(frame[c].notna(), "").astype(str)
                        .str.strip().str.replace(r"\.0$", "", regex=True)
                        for c in ("source_id", "pollutant", "period")})
    out["pollutant_category"] = (frame["pollutant_category"].fillna("").astype(str).str.strip()
                                 if "pollutant_category" in frame else "")
    text = frame["emission"].astype(object).where(frame["emission"].notna(), "").astype(str)
    stripped = text.str.strip()
    value = pd.to_numeric(stripped.where(stripped != "", None), errors="coerce").to_numpy(float)
    for column, reason, expected in (("source_id", "missing_value", "a source id"),
                                     ("pollutant", "missing_value", "a pollutant name")):
        for i in np.flatnonzero((out[column] == "").to_numpy()):
            problems.append(Problem(source, int(rows[i]), column, "", reason, expected))
    for i in np.flatnonzero(np.isnan(value)):
        problems.append(Problem(source, int(rows[i]), "emission", text.iat[i], "not_a_number",
                                "an emission in kg"))
    with np.errstate(invalid="ignore"):
        for i in np.flatnonzero(value < 0):
            problems.append(Problem(source, int(rows[i]), "emission", text.iat[i],
                                    "negative_amount", "an emission ≥ 0 kg"))
        for i in np.flatnonzero((value >= 0) & ~(value <= MAX_EMISSION_KG)):
            problems.append(Problem(source, int(rows[i]), "emission", text.iat[i],
                                    "implausible_value", f"a finite emission of at most "
                                    f"{MAX_EMISSION_KG:.0e} kg per source, pollutant and "
                                    "period"))
    hours = period_hours(out["period"])
    for i in np.flatnonzero(np.isnan(hours)):
        problems.append(Problem(source, int(rows[i]), "period", out["period"].iat[i],
                                "bad_period", "a period YYYY or YYYY-MM"))
    if known_sources is not None:
        unknown = ~out["source_id"].isin(known_sources) & (out["source_id"] != "")
        for i in np.flatnonzero(unknown.to_numpy()):
            problems.append(Problem(source, int(rows[i]), "source_id", out["source_id"].iat[i],
                                    "unknown_source", "a source_id of the sources table"))
    if problems:
        raise InputError(problems, f"{source}: {len(problems)} problem(s) in the emissions")
    out["emission"] = value
    out["hours"] = hours
    return out


def _air_only(frame: pd.DataFrame) -> pd.DataFrame:
    category = frame["pollutant_category"].fillna("").astype(str).str.strip().str.lower()
    air = category.isin(["废气", "air"]) | ((category == "") &
                                           frame["pollutant"].isin(AIR_POLLUTANTS))
    return frame.loc[air]


def _inventory_rows(emissions: pd.DataFrame, sources: pd.DataFrame, origin: str,
                    size_fractions: str) -> pd.DataFrame:
    """Aggregate to source × pollutant × period, add derived PM2.5/PM10 rows."""
    if size_fractions not in SIZE_FRACTIONS:
        raise NotFoundError("size fraction set", size_fractions, SIZE_FRACTIONS)
    grouped = emissions.groupby(["source_id", "pollutant", "period"], as_index=False).agg(
        emission=("emission", "sum"), hours=("hours", "first"))
    sector = sources.set_index("source_id")["sector"]
    industry = (emissions.drop_duplicates("source_id").set_index("source_id")["industry_code"]
                if "industry_code" in emissions else pd.Series(dtype=object))
    fallback = pd.Series(default_sector(industry.reindex(grouped["source_id"]).to_numpy(),
                                        ["point"] * len(grouped)), index=grouped.index)
    grouped["sector"] = sector.reindex(grouped["source_id"]).fillna(fallback).to_numpy()
    grouped["size_fraction"] = ""
    pm = grouped.loc[grouped["pollutant"].isin(PM_NAMES)]
    derived = []
    have = set(zip(grouped["source_id"], grouped["pollutant"], grouped["period"], strict=True))
    for target in ("PM2.5", "PM10"):
        if pm.empty:
            break
        rows = pm.loc[[(s, target, p) not in have for s, p in
                       zip(pm["source_id"], pm["period"], strict=True)]].copy()
        if rows.empty:
            continue
        fractions = {s: size_fraction(s, target, size_fractions) for s in rows["sector"].unique()}
        notes = {s: fraction_note(s, target, size_fractions) for s in rows["sector"].unique()}
        rows["emission"] = rows["emission"] * rows["sector"].map(fractions)
        rows["size_fraction"] = rows["sector"].map(notes)
        rows["pollutant"] = target
        derived.append(rows)
    frame = pd.concat([grouped, *derived], ignore_index=True)
    frame["emission_rate"] = frame["emission"] * 1000.0 / (frame["hours"] * 3600.0)
    frame["origin"] = origin
    return frame[INVENTORY_COLUMNS]


def _months_covered(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per inventory row and calendar month it covers ('YYYY' → its 12 months).

    Columns: index (the row's position in ``frame``), source_id, pollutant, month.
    """
    period = frame["period"].astype(str).str.strip().to_numpy()
    yearly = np.char.str_len(period.astype(str)) == 4
    months = [f"-{m:02d}" for m in range(1, 13)]
    position = np.arange(len(frame))
    year_rows = np.repeat(position[yearly], 12)
    year_months = np.char.add(np.repeat(period[yearly].astype(str), 12),
                              np.tile(months, int(yearly.sum())))
    index = np.concatenate([position[~yearly], year_rows])
    month = np.concatenate([period[~yearly].astype(str), year_months.astype(str)])
    return pd.DataFrame({"index": index,
                         "source_id": frame["source_id"].astype(str).to_numpy()[index],
                         "pollutant": frame["pollutant"].astype(str).to_numpy()[index],
                         "month": month})


def _overlaps(new_rows: pd.DataFrame, stored: pd.DataFrame | None, origin: str,
              replace: bool) -> pd.DataFrame | None:
    """Check that no source × pollutant × month is covered twice; the stored rows to keep.

    Within ``new_rows`` a year row and a month row of the same year are refused
    (``overlapping_period``). Rows of other origins in ``stored`` that cover a month of a
    new row are refused (``overlapping_origin``) or, with ``replace``, dropped (the whole
    stored row). Returns the stored rows to keep (None when nothing is stored).
    """
    problems: list[Problem] = []
    new = _months_covered(new_rows)
    twice = new.loc[new.duplicated(["source_id", "pollutant", "month"], keep=False)]
    for (source_id, pollutant), group in twice.groupby(["source_id", "pollutant"]):
        periods = sorted(set(new_rows["period"].to_numpy()[group["index"].to_numpy()]))
        problems.append(Problem(origin, None, "period", f"{source_id} {pollutant} "
                                f"{' + '.join(periods)}", "overlapping_period",
                                "either a year row or its month rows for one source and "
                                "pollutant, not both (they would be summed twice)"))
    if problems:
        raise InputError(problems, f"{origin}: {len(problems)} source × pollutant(s) given "
                         "for a year and for months of it: nothing was written")
    if stored is None or not len(stored):
        return stored
    others = stored.loc[stored["origin"] != origin].reset_index(drop=True)
    old = _months_covered(others)
    clash = old.merge(new[["source_id", "pollutant", "month"]].drop_duplicates(),
                      on=["source_id", "pollutant", "month"], how="inner")
    clashing = np.unique(clash["index"].to_numpy())
    if len(clashing) and not replace:
        rows = others.iloc[clashing]
        for row in rows.itertuples(index=False):   # one problem per clashing stored row
            problems.append(Problem(origin, None, "period", f"{row.source_id} {row.pollutant} "
                                    f"{row.period}", "overlapping_origin",
                                    f"no row already given by inventory {row.origin!r} for "
                                    "the same source, pollutant and period (pass --replace "
                                    "to replace that inventory's rows)"))
        named = ", ".join(sorted({repr(str(o)) for o in rows["origin"]}))
        raise InputError(problems, f"{origin}: {len(problems)} source × pollutant × period "
                         f"row(s) are already in the inventory from {named}; adding them "
                         "would count the mass twice. Nothing was written; pass --replace "
                         "to replace them")
    keep = np.ones(len(others), dtype=bool)
    keep[clashing] = False
    return others.loc[keep]


def _store(workspace, inventory_rows: pd.DataFrame, sources: pd.DataFrame, origin: str,
           spec, replace: bool = False) -> InventoryResult:
    """Write sources (by id), inventory (replacing this origin) and the cell inventory."""
    stored_sources = workspace.read("sources") if workspace.has("sources") else None
    if stored_sources is not None and len(stored_sources):
        keep = stored_sources.loc[~stored_sources["source_id"].isin(set(sources["source_id"]))]
        all_sources = pd.concat([keep, sources], ignore_index=True)
    else:
        all_sources = sources
    all_sources = all_sources[[c for c in SOURCE_COLUMNS if c in all_sources]]
    stored = workspace.read("inventory") if workspace.has("inventory") else None
    kept = _overlaps(inventory_rows, stored, origin, replace)   # refuses double counting
    if kept is not None and len(kept):
        inventory = pd.concat([kept, inventory_rows], ignore_index=True)
    else:
        inventory = inventory_rows
    if spec is None:
        from sourcegrid.grid.spec import SPEC_TABLE, read_spec

        spec = read_spec(workspace) if workspace.has(SPEC_TABLE) else None
    message = ""
    if spec is not None:
        allocation = allocate_to_cells(inventory, all_sources, spec)
        cells, outside, unlocated = allocation.cells, allocation.outside, allocation.unlocated
    else:
        cells = pd.DataFrame({c: pd.Series(dtype="string" if c != "emission" else float)
                              for c in CELL_INVENTORY_COLUMNS})
        outside = pd.DataFrame()
        unlocated = pd.DataFrame()
        message = ("the workspace has no grid, so the inventory is not on cells yet: create "
                   "one with 'sourcegrid grid create' and build again")
    workspace.write("sources", all_sources.astype({"geometry": "string",
                                                    "defaults_used": "string"}))
    workspace.write("inventory", inventory.astype({"size_fraction": "string"}))
    workspace.write("cell_inventory", cells)
    this_unlocated = (unlocated.loc[unlocated["origin"] == origin] if len(unlocated)
                      else unlocated)
    if len(this_unlocated):
        message = (message + "; " if message else "") + (
            f"{this_unlocated['source_id'].nunique()} source(s) have no location and are not "
            "on the grid (give them in the sources table)")
    return InventoryResult(origin=origin, inventory=inventory_rows, sources=sources,
                           cell_inventory=cells, outside=outside, unlocated=this_unlocated,
                           message=message)


def _activity_sources(activity: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Point sources from an activity table's enterprise_id, name, industry, lon, lat."""
    if isinstance(activity, str | Path):
        from sourcegrid.io.tables import read_table

        source = Path(activity).name
        frame = read_table(activity)
    else:
        source = "activity"
        frame = activity.copy()
    from sourcegrid.accounting.inputs import ACTIVITY_ALIASES as aliases  # noqa: N811
    from sourcegrid.io.tables import rename_headers

    frame = rename_headers(frame.rename(columns=str), aliases)
    first = frame.drop_duplicates("enterprise_id")
    table = pd.DataFrame({
        "source_id": first["enterprise_id"], "name": first.get("enterprise_name", ""),
        "kind": "point", "lon": first.get("lon"), "lat": first.get("lat"),
        "industry_code": first.get("industry_code", ""),
    })
    if "_row" in first:
        table["_row"] = first["_row"].to_numpy()
    return validate_sources(table, source)


def _run_activity_file(runs: pd.DataFrame, run: str) -> Path | None:
    """The activity file a run recorded (``account_runs.activity_file``), if it still exists."""
    if "activity_file" not in runs:
        return None
    names = runs.loc[runs["run"].astype(str) == run, "activity_file"].dropna().astype(str)
    for name in reversed(names.tolist()):
        path = Path(name)
        if name and path.is_file():
            return path
    return None


def build_inventory(workspace, run: str | None = None, sources=None, *, activity=None,
                    spec=None, size_fractions: str = "sourcegrid_2024",
                    replace: bool = False) -> InventoryResult:
    """Build the inventory from an accounting run in the workspace, on the grid.

    Parameters
    ----------
    workspace : Workspace
    run : str, optional
        Accounting run name (table ``account_runs``); default the latest run.
    sources : DataFrame or path, optional
        The sources table. Without one: the activity's lon/lat (``activity``) as point
        sources with default stack parameters, else the workspace's ``sources`` table,
        else lon/lat columns of the stored emissions (an ``--explain`` run), else the
        activity file the run recorded in ``account_runs``.
    activity : DataFrame or path, optional
        The activity table of the run (for its lon/lat).
    spec : GridSpec, optional
        Grid (default the workspace's ``grid_spec``).
    size_fractions : str
        PM → PM2.5/PM10 set (:data:`~sourcegrid.inventory.fractions.SIZE_FRACTIONS`).
    replace : bool
        Remove rows of other origins covering the same source × pollutant × period
        (default: refuse them with ``overlapping_origin``, nothing written).

    Returns
    -------
    InventoryResult
    """
    if size_fractions not in SIZE_FRACTIONS:
        raise NotFoundError("size fraction set", size_fractions, SIZE_FRACTIONS)
    if not workspace.has("emissions") or not workspace.has("account_runs"):
        raise WorkspaceError("the workspace has no accounting run; run 'sourcegrid account' "
                             "first, or load an inventory with 'sourcegrid inventory import'")
    runs = workspace.read("account_runs")
    names = runs["run"].astype(str).tolist()
    if run is None:
        run = names[-1]
    elif run not in names:
        raise NotFoundError("accounting run", run, names)
    import ibis

    table = workspace.table("emissions")
    emissions = table.filter(table.run == ibis.literal(run)).to_pandas()
    emissions = emissions.rename(columns={"enterprise_id": "source_id"})
    if sources is not None:
        located = validate_sources(sources)
    elif activity is not None:
        located = _activity_sources(activity)
    elif workspace.has("sources"):
        located = workspace.read("sources")
    elif {"lon", "lat"} <= set(emissions.columns):
        located = _activity_sources(emissions.rename(columns={"source_id": "enterprise_id"}))
    elif _run_activity_file(runs, run) is not None:
        located = _activity_sources(_run_activity_file(runs, run))
    else:
        raise WorkspaceError(f"run {run!r} has no locations: give a sources table (--sources) "
                             "or the activity table with lon/lat (--activity)")
    emissions["hours"] = period_hours(emissions["period"])
    emissions = _air_only(emissions.assign(
        pollutant_category=emissions.get("pollutant_category", "")))
    rows = _inventory_rows(emissions, located, run, size_fractions)
    return _store(workspace, rows, located, run, spec, replace)


def check_origin(origin: str | None) -> None:
    """Refuse an inventory name that is blank, padded, unprintable or over 120 characters
    (OptionError naming ``--origin``); None (the default name) is fine."""
    if origin is not None and (not origin.strip() or origin != origin.strip()
                               or len(origin) > 120 or not origin.isprintable()):
        from sourcegrid.errors import OptionError

        raise OptionError("--origin", repr(origin), "a name of 1 to 120 printable characters "
                          "without leading or trailing blanks")


def import_inventory(workspace, emissions, sources, *, origin: str | None = None, spec=None,
                     size_fractions: str = "sourcegrid_2024",
                     replace: bool = False) -> InventoryResult:
    """Load an inventory made elsewhere: canonical Emissions rows plus a sources table.

    Both tables are checked in full before anything is written (every problem of both
    at once); an emission whose source_id is not in the sources table is a problem
    (``unknown_source``). Rows of the same ``origin`` (default the emissions file name)
    are replaced; rows of other origins covering the same source × pollutant × period
    are refused (``overlapping_origin``) unless ``replace`` removes them.
    """
    if size_fractions not in SIZE_FRACTIONS:
        raise NotFoundError("size fraction set", size_fractions, SIZE_FRACTIONS)
    check_origin(origin)
    frame, rows, source = read_emissions_file(emissions)
    origin = origin or (Path(emissions).name if isinstance(emissions, str | Path)
                        else "imported")
    source_problems: list[Problem] = []
    try:
        located = validate_sources(sources)
        known = set(located["source_id"])
    except InputError as error:
        source_problems = list(error.problems)
        located, known = None, None
    try:
        checked = _check_emissions(frame, rows, source, known)
    except InputError as error:
        raise InputError([*source_problems, *error.problems],
                         f"{len(source_problems) + len(error.problems)} problem(s): nothing "
                         "was imported") from None
    if source_problems:
        raise InputError(source_problems, f"{len(source_problems)} problem(s) in the sources "
                         "table: nothing was imported")
    checked = _air_only(checked)
    inventory_rows = _inventory_rows(checked, located, origin, size_fractions)
    return _store(workspace, inventory_rows, located, origin, spec, replace)


def _require_inventory(workspace) -> pd.DataFrame:
    if not workspace.has("inventory"):
        raise WorkspaceError("the workspace has no inventory; build one with 'sourcegrid "
                             "inventory build' or load one with 'sourcegrid inventory import'")
    return workspace.read("inventory")


def tracing_candidates(workspace, pollutant: str, period: str | None = None) -> pd.DataFrame:
    """Located sources with their emission rate of ``pollutant`` [g/s]: the tracer's input.

    Parameters
    ----------
    workspace : Workspace
    pollutant : str
        e.g. 'PM2.5' (derived from PM by the size fractions where the inventory has only
        PM; the ``size_fraction`` column says so), 'SO2', 'NOx'.
    period : str or sequence of str, optional
        'YYYY' or 'YYYY-MM' (a date or timestamp means its month), or several of them
        (the months a trace window covers). Each source's rows covering any of those
        months are used (a month falls back to its year's row for sources without a
        monthly row; rate = Σ emission / Σ hours of those rows). When no row of
        ``pollutant`` covers them (an inventory of an earlier year), the rows of the
        latest year present are used; the ``period`` column says which. Default every
        period (rate = Σ emission / Σ hours).

    Returns
    -------
    DataFrame
        source_id, name, kind, lon, lat, geometry, stack_height, stack_diameter,
        exit_velocity, exit_temperature, industry_code, sector, emission_rate [g/s],
        size_fraction, pollutant, period, emission [kg], hours, origin, defaults_used.

    Raises
    ------
    NotFoundError
        When the inventory has no row of ``pollutant`` (lists the pollutants it has).
    """
    inventory = _require_inventory(workspace)
    rows = inventory.loc[inventory["pollutant"] == pollutant]
    if rows.empty:
        raise NotFoundError("inventory pollutant", pollutant, inventory["pollutant"].unique())
    if period is not None:
        wanted = [period] if isinstance(period, str | pd.Timestamp) else list(period)
        texts = [str(p).strip() for p in wanted]
        texts = [t[:7] if len(t) > 7 and t[4] == "-" else t for t in texts]  # date: month
        months = {t for t in texts if len(t) == 7} | {f"{t}-{m:02d}" for t in texts
                                                      if len(t) == 4 for m in range(1, 13)}
        rows = rows.reset_index(drop=True)
        covered = _months_covered(rows)
        chosen = np.unique(covered.loc[covered["month"].isin(months), "index"].to_numpy())
        if len(chosen):
            rows = rows.iloc[chosen]
        else:   # no row for the window: the latest year the inventory has
            year = rows["period"].astype(str).str[:4]
            rows = rows.loc[year == year.max()]
    grouped = rows.groupby("source_id", as_index=False).agg(
        emission=("emission", "sum"), hours=("hours", "max"),
        period=("period", lambda s: ";".join(sorted(set(s)))),
        origin=("origin", lambda s: ";".join(sorted(set(s)))),
        size_fraction=("size_fraction", lambda s: ";".join(sorted({v for v in s.fillna("")
                                                                     if v}))))
    per_period = rows.groupby(["source_id", "period"])["hours"].first().groupby(
        "source_id").sum()
    grouped["hours"] = per_period.reindex(grouped["source_id"]).to_numpy()
    grouped["emission_rate"] = grouped["emission"] * 1000.0 / (grouped["hours"] * 3600.0)
    grouped["pollutant"] = pollutant
    sources = workspace.read("sources") if workspace.has("sources") else pd.DataFrame(
        columns=SOURCE_COLUMNS)
    merged = grouped.merge(sources, on="source_id", how="inner")
    merged = merged.loc[merged["lon"].notna() | (merged["geometry"].fillna("") != "")]
    columns = ["source_id", "name", "kind", "lon", "lat", "geometry", "stack_height",
               "stack_diameter", "exit_velocity", "exit_temperature", "industry_code", "sector",
               "emission_rate", "size_fraction", "pollutant", "period", "emission", "hours",
               "origin", "defaults_used"]
    merged["geometry"] = merged["geometry"].fillna("")
    return merged[columns].sort_values("source_id").reset_index(drop=True)


def _only_pollutant(frame: pd.DataFrame, pollutant: str | None) -> pd.DataFrame:
    """The rows of ``pollutant`` (all when None); a pollutant the inventory lacks raises
    NotFoundError naming the ones it has (never an empty table that looks like zero)."""
    if pollutant is None:
        return frame
    known = sorted(str(p) for p in frame["pollutant"].dropna().unique())
    if pollutant not in known:
        raise NotFoundError("inventory pollutant", pollutant, known)
    return frame.loc[frame["pollutant"] == pollutant]


def inventory_summary(workspace, by: str = "sector", pollutant: str | None = None
                      ) -> pd.DataFrame:
    """The inventory by sector, pollutant or cell; emission in kg and tonnes.

    ``by='cell'`` reads ``cell_inventory`` (with the cell's lon/lat when the workspace
    has a cells table).
    """
    valid = ("sector", "cell", "pollutant")
    if by not in valid:
        raise NotFoundError("inventory grouping", by, valid)
    if by == "cell":
        if not workspace.has("cell_inventory") or workspace.read("cell_inventory").empty:
            _require_inventory(workspace)
            raise WorkspaceError("the inventory is not on cells: create a grid with "
                                 "'sourcegrid grid create' and build or import again")
        frame = _only_pollutant(workspace.read("cell_inventory"), pollutant)
        out = frame.groupby(["cell_id", "pollutant"], as_index=False)["emission"].sum()
        if workspace.has("cells"):
            cells = workspace.read("cells")[["cell_id", "row", "col", "lon", "lat"]]
            out = cells.merge(out, on="cell_id", how="inner")
    else:
        frame = _only_pollutant(_require_inventory(workspace), pollutant)
        keys = ["sector", "pollutant"] if by == "sector" else ["pollutant"]
        out = frame.groupby(keys, as_index=False).agg(emission=("emission", "sum"),
                                                     sources=("source_id", "nunique"))
    out["emission_t"] = out["emission"] / 1000.0
    return out.reset_index(drop=True)
