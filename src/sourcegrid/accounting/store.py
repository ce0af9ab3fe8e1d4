"""Keeping accounting runs in the workspace.

Tables: ``emissions`` (the latest run of each library × period set is replaced
by a re-run of the same run name), ``account_rejects`` and ``account_runs`` (one
row per run: when, which library and files, counts).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from sourcegrid.accounting.engine import AccountingResult
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
    """Store a run's emissions and rejects under ``run`` (replacing an earlier run of that name)."""
    emissions = result.emissions.assign(run=run)
    rejects = result.rejects.assign(run=run)
    for name, frame in (("emissions", emissions), ("account_rejects", rejects)):
        if workspace.has(name):
            kept = workspace.table(name)
            kept = kept.filter(kept.run != run).to_pandas()
            frame = pd.concat([kept, frame], ignore_index=True) if len(kept) else frame
        workspace.write(name, frame.astype({"row": "Int64"}) if name == "account_rejects"
                        else frame)
    log = pd.DataFrame([{
        "run": run, "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "library": result.library, "engine": result.engine, "activity_file": activity_file,
        "treatment_file": treatment_file, "activity_rows": result.activity_rows,
        "accounted_rows": result.accounted_rows, "rejected_rows": result.rejected_rows,
        "emission_rows": len(result.emissions),
    }])
    workspace.write("account_runs", log, mode="append")
    return log
