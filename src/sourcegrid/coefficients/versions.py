"""Library versions in a workspace, side by side, and their comparison.

Each library is a named version (``sample``, ``census2017``, ``manual2021`` ...)
with its source and import date. A workspace holds two tables:

- ``coefficient_libraries``: name, source, imported_at (ISO 8601, UTC), file, rows;
- ``coefficient_rows``: the normalized rows of every library (column ``library``),
  the columns of :data:`~sourcegrid.coefficients.model.NORMALIZED_COLUMNS` plus
  ``extra``, the source file's unknown columns as a JSON object.

Re-importing a name is an error unless ``replace=True``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pandas as pd

from sourcegrid.coefficients.model import (
    KEY_COLUMNS,
    NORMALIZED_COLUMNS,
    CoefficientLibrary,
    empty_rows,
)
from sourcegrid.coefficients.scale import parse_scale
from sourcegrid.errors import NotFoundError, UnitError, WorkspaceError
from sourcegrid.units import conversion_factor

__all__ = [
    "LIBRARIES_TABLE",
    "ROWS_TABLE",
    "LIBRARY_COLUMNS",
    "LibraryExistsError",
    "store_library",
    "stored_library",
    "list_libraries",
    "remove_library",
    "compare_libraries",
    "COMPARISON_COLUMNS",
]

LIBRARIES_TABLE = "coefficient_libraries"
ROWS_TABLE = "coefficient_rows"
LIBRARY_COLUMNS = ["name", "source", "imported_at", "file", "rows"]
EXTRA = "extra"

_IBIS_TYPES = {"object": "string", "int64": "int64", "float64": "float64", "bool": "boolean"}
#: Schema of ``coefficient_rows`` (explicit, so that an empty table has types too).
ROWS_SCHEMA = {**{c: _IBIS_TYPES[t] for c, t in NORMALIZED_COLUMNS.items()}, EXTRA: "string"}
#: Schema of ``coefficient_libraries``.
LIBRARIES_SCHEMA = {"name": "string", "source": "string", "imported_at": "string",
                    "file": "string", "rows": "int64"}


def _write(workspace, name: str, frame: pd.DataFrame, schema: dict[str, str]) -> None:
    import ibis

    numeric = {"int64": "int64", "float64": "float64", "boolean": "bool"}
    frame = frame[list(schema)].astype({c: numeric[t] for c, t in schema.items() if t in numeric})
    workspace.write(name, ibis.memtable(frame, schema=ibis.schema(schema)), mode="replace")


class LibraryExistsError(WorkspaceError):
    """A library name that is already in the workspace (import with replace to overwrite)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"library {name!r} is already in the workspace; import it with "
                         "--replace (replace=True) to overwrite it, or choose another name")


def _libraries(workspace) -> pd.DataFrame:
    if not workspace.has(LIBRARIES_TABLE):
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "rows" else object)
                             for c in LIBRARY_COLUMNS})
    return workspace.read(LIBRARIES_TABLE)[LIBRARY_COLUMNS]


def list_libraries(workspace) -> pd.DataFrame:
    """The libraries stored in a workspace: name, source, imported_at, file, rows."""
    return _libraries(workspace).sort_values("name", ignore_index=True)


def _to_stored(rows: pd.DataFrame) -> pd.DataFrame:
    stored = rows[list(NORMALIZED_COLUMNS)].copy()
    extra = [c for c in rows.columns if c not in NORMALIZED_COLUMNS]
    if extra:
        records = rows[extra].astype(object).where(rows[extra].notna(), None)
        stored[EXTRA] = [json.dumps(r, ensure_ascii=False) for r in records.to_dict("records")]
    else:
        stored[EXTRA] = "{}"
    return stored


def store_library(workspace, lib: CoefficientLibrary, replace: bool = False) -> None:
    """Store a library version in a workspace.

    Raises
    ------
    LibraryExistsError
        When the name is taken and ``replace`` is False.
    """
    libraries = _libraries(workspace)
    if lib.name in set(libraries["name"]) and not replace:
        raise LibraryExistsError(lib.name)
    entry = pd.DataFrame([{"name": lib.name, "source": lib.source,
                           "imported_at": lib.imported_at.isoformat(), "file": lib.file,
                           "rows": len(lib.rows)}])
    others = libraries[libraries["name"] != lib.name]
    kept = (workspace.table(ROWS_TABLE).filter(lambda t: t.library != lib.name).to_pandas()
            if workspace.has(ROWS_TABLE) else _to_stored(empty_rows()))
    new = _to_stored(lib.rows)
    new["library"] = lib.name
    rows = pd.concat([kept, new], ignore_index=True)
    _write(workspace, ROWS_TABLE, rows, ROWS_SCHEMA)
    _write(workspace, LIBRARIES_TABLE, pd.concat([others, entry], ignore_index=True),
           LIBRARIES_SCHEMA)


def ensure_sample_library(workspace) -> CoefficientLibrary:
    """The shipped sample library, stored in the workspace first when it is not there."""
    from sourcegrid.sample.library import sample_library

    library = sample_library()
    if library.name not in set(list_libraries(workspace).get("name", [])):
        store_library(workspace, library)
    return library


def stored_library(workspace, name: str) -> CoefficientLibrary:
    """A library version from a workspace.

    Raises
    ------
    NotFoundError
        When there is no library of that name; the message lists the stored names.
    """
    libraries = _libraries(workspace)
    entry = libraries[libraries["name"] == name]
    if entry.empty:
        raise NotFoundError("coefficient library", name, libraries["name"].tolist())
    entry = entry.iloc[0]
    table = workspace.table(ROWS_TABLE)
    stored = table.filter(table.library == name).order_by(
        ["coefficient_row", "industry_code"]).to_pandas()
    rows = stored[list(NORMALIZED_COLUMNS)].copy()
    for column, dtype in NORMALIZED_COLUMNS.items():
        if dtype == "object":
            rows[column] = rows[column].fillna("").astype(object)
    rows = rows.astype({c: t for c, t in NORMALIZED_COLUMNS.items() if t != "object"})
    extra = pd.DataFrame([json.loads(text or "{}") for text in stored[EXTRA]], index=rows.index)
    for column in extra.columns:
        rows[column] = extra[column]
    return CoefficientLibrary(name=str(entry["name"]), source=str(entry["source"]),
                              imported_at=datetime.fromisoformat(str(entry["imported_at"])),
                              file=str(entry["file"]), rows=rows.reset_index(drop=True))


def remove_library(workspace, name: str) -> None:
    """Remove a library version (NotFoundError listing the stored names when missing)."""
    libraries = _libraries(workspace)
    if name not in set(libraries["name"]):
        raise NotFoundError("coefficient library", name, libraries["name"].tolist())
    kept = workspace.table(ROWS_TABLE).filter(lambda t: t.library != name).to_pandas()
    _write(workspace, ROWS_TABLE, kept, ROWS_SCHEMA)
    _write(workspace, LIBRARIES_TABLE, libraries[libraries["name"] != name], LIBRARIES_SCHEMA)


#: Columns of :func:`compare_libraries`' result.
COMPARISON_COLUMNS = KEY_COLUMNS + [
    "status", "changes", "coefficient_a", "coefficient_b", "unit_a", "unit_b",
    "change_percent", "removal_efficiency_a", "removal_efficiency_b",
    "coefficient_row_a", "coefficient_row_b",
]


def _coefficient_text(rows: pd.DataFrame) -> pd.Series:
    number = rows["generation_coefficient"].map(lambda v: "" if math.isnan(v) else f"{v:g}")
    return rows["generation_expression"].where(rows["generation_expression"] != "", number)


def compare_libraries(a: CoefficientLibrary, b: CoefficientLibrary) -> pd.DataFrame:
    """Compare two library versions row by row.

    Rows are matched on the combination (industry, section, product, raw
    material, process, scale tier), pollutant and treatment; scale tiers match
    when their bounds are equal ('≥300MW' and '>=300 MW' are one tier).

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`. ``status`` is ``changed``, ``unchanged``,
        ``added`` (only in ``b``) or ``removed`` (only in ``a``); ``changes`` names
        what differs (``coefficient``, ``removal_efficiency``, ``k_formula``);
        ``change_percent`` = (c_b − c_a) / c_a × 100 [%] with both coefficients in
        kg per ``a``'s activity unit (NaN for expressions that differ, or c_a = 0);
        removal efficiencies are fractions (0-1).
    """
    def keyed(rows: pd.DataFrame) -> pd.DataFrame:
        out = rows.copy()
        out["_scale_key"] = out["scale"].map(lambda s: parse_scale(s).key)
        out["_coefficient"] = _coefficient_text(out)
        return out

    left, right = keyed(a.rows), keyed(b.rows)
    on = [c if c != "scale" else "_scale_key" for c in KEY_COLUMNS]
    merged = left.merge(right, on=on, how="outer", suffixes=("_a", "_b"), indicator=True)
    merged["scale"] = merged["scale_a"].where(merged["scale_a"].notna(), merged["scale_b"])

    both = merged["_merge"] == "both"
    kg_a = merged["generation_coefficient_a"] * merged["coefficient_factor_a"]
    kg_b = merged["generation_coefficient_b"] * merged["coefficient_factor_b"]
    per_a_unit = np.full(len(merged), np.nan)
    pairs = merged.loc[both, ["activity_unit_a", "activity_unit_b"]]
    for (unit_a, unit_b), index in pairs.groupby(["activity_unit_a", "activity_unit_b"]).groups.items():
        try:
            per_a_unit[merged.index.get_indexer(index)] = conversion_factor(unit_a, unit_b)
        except UnitError:
            pass
    kg_b_in_a = kg_b * per_a_unit
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(kg_a > 0, (kg_b_in_a - kg_a) / kg_a * 100.0, np.nan)
    same_expression = ((merged["generation_expression_a"] == merged["generation_expression_b"])
                       & (merged["generation_expression_a"].fillna("") != "")
                       & (merged["coefficient_factor_a"] == merged["coefficient_factor_b"])
                       & (merged["activity_unit_a"] == merged["activity_unit_b"]))
    change = np.where(same_expression, 0.0, change)
    numeric = merged["generation_expression_a"].eq("") & merged["generation_expression_b"].eq("")
    coefficient_changed = np.where(
        numeric, ~np.isclose(kg_a, kg_b_in_a, rtol=1e-9, atol=0.0) | np.isnan(kg_b_in_a),
        ~same_expression)
    # efficiencies are written in % with a few decimals: equal within float round-off
    efficiency_changed = ~np.isclose(merged["removal_efficiency_a"], merged["removal_efficiency_b"],
                                     rtol=1e-9, atol=1e-12)
    k_changed = merged["k_formula_a"] != merged["k_formula_b"]
    changes = pd.Series([""] * len(merged), index=merged.index, dtype=object)
    for flag, word in ((coefficient_changed, "coefficient"),
                       (efficiency_changed, "removal_efficiency"), (k_changed, "k_formula")):
        flag = np.asarray(flag, dtype=bool) & both.to_numpy()
        changes[flag] = changes[flag].map(lambda text, w=word: f"{text};{w}" if text else w)

    status = np.select([merged["_merge"] == "left_only", merged["_merge"] == "right_only",
                        changes != ""], ["removed", "added", "changed"], "unchanged")
    result = pd.DataFrame({
        **{c: merged[c] for c in KEY_COLUMNS},
        "status": status,
        "changes": changes,
        "coefficient_a": merged["_coefficient_a"].fillna(""),
        "coefficient_b": merged["_coefficient_b"].fillna(""),
        "unit_a": merged["unit_a"].fillna(""),
        "unit_b": merged["unit_b"].fillna(""),
        "change_percent": np.where(both, change, np.nan),
        "removal_efficiency_a": merged["removal_efficiency_a"],
        "removal_efficiency_b": merged["removal_efficiency_b"],
        "coefficient_row_a": merged["coefficient_row_a"].astype("Int64"),
        "coefficient_row_b": merged["coefficient_row_b"].astype("Int64"),
    })
    order = {"changed": 0, "added": 1, "removed": 2, "unchanged": 3}
    result = result.sort_values(
        by=["status", "industry_code", "section", "pollutant"],
        key=lambda s: s.map(order) if s.name == "status" else s, ignore_index=True)
    return result[COMPARISON_COLUMNS]
