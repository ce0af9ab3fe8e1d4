"""Keeping accounting runs in the workspace.

Tables: ``emissions`` (the latest run of each library × period set is replaced
by a re-run of the same run name), ``account_rejects`` and ``account_runs`` (one
row per run: when, which library and files, counts).

A run is stored in one workspace transaction (:meth:`Workspace.transaction`): its
emissions, rejects and ``account_runs`` row are all stored, or none of them (an
``account_runs`` row never exists without its emissions).
"""

from __future__ import annotations

from datetime import UTC, datetime

import ibis
import pandas as pd

from sourcegrid.accounting.engine import AccountingResult
from sourcegrid.io.tables import fault_point
from sourcegrid.store import Workspace

__all__ = ["save_run", "INDUSTRY_NAMES"]

#: GB/T 4754-2017 class names of the industries in the sample library (中文 / English).
INDUSTRY_NAMES = {
    "1713": "棉印染精加工 cotton printing and dyeing",
    "3311": "金属结构制造 metal structures",
    "3670": "汽车零部件及配件制造 automobile parts",
    "3951": "电视机制造 television sets",
    "3952": "音响设备制造 audio equipment",
    "4411": "火力发电 thermal power",
}


def save_run(workspace: Workspace, result: AccountingResult, *, run: str,
             activity_file: str = "", treatment_file: str = "") -> pd.DataFrame:
    """Store a run's emissions and rejects under ``run``, replacing an earlier run of that name.

    The emissions may be a DataFrame or, for large runs, a table already in the
    workspace's engine (``result.emissions_table``): then they never leave it.
    Everything is stored in one transaction (joined to an open one).
    """
    with workspace.transaction():
        # concurrent writers (PostgreSQL) wait here in turn instead of racing to create
        workspace.lock("emissions", "account_rejects", "account_runs")
        return _save_run(workspace, result, run, activity_file, treatment_file)


def _save_run(workspace: Workspace, result: AccountingResult, run: str, activity_file: str,
              treatment_file: str) -> pd.DataFrame:
    con = workspace.con
    emissions = (result.emissions_table if result.emissions_table is not None
                 else ibis.memtable(result.emissions))
    emissions = emissions.mutate(run=ibis.literal(run))
    rejects = ibis.memtable(result.rejects.astype({"row": "Int64", "source": "string",
                                                   "column": "string", "value": "string",
                                                   "reason": "string", "message": "string"}))
    rejects = rejects.mutate(run=ibis.literal(run))
    for name, table in (("emissions", emissions), ("account_rejects", rejects)):
        if workspace.has(name):
            workspace.delete_rows(name, "run", run)
            con.insert(name, table)
        else:
            con.create_table(name, table)
        fault_point(f"save_run:after_{name}")
    log = pd.DataFrame([{
        "run": run, "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "library": result.library, "engine": result.engine, "activity_file": activity_file,
        "treatment_file": treatment_file, "activity_rows": result.activity_rows,
        "accounted_rows": result.accounted_rows, "rejected_rows": result.rejected_rows,
        "emission_rows": result.emission_rows,
    }])
    workspace.write("account_runs", log, mode="append")
    return log
