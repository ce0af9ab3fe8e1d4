"""Accounting methods beyond coefficients: ``account-monitoring`` (monitoring, material
balance and coefficients by priority), ``uncertainty`` and ``check macro``.

Thin: reads files, calls :mod:`sourcegrid.accounting.monitoring`,
:mod:`~sourcegrid.accounting.material_balance`, :mod:`~sourcegrid.accounting.methods`,
:mod:`~sourcegrid.accounting.uncertainty` and :mod:`~sourcegrid.accounting.macro`, prints
and writes their tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sourcegrid.cli.common import (
    WorkspaceOption,
    console,
    err_console,
    frame_table,
    open_workspace,
    reported_errors,
)


def _check_outputs(*paths: Path | None) -> None:
    from sourcegrid.io.tables import OUTPUT_SUFFIXES, check_output_path

    for path in paths:
        if path is not None:
            check_output_path(path, OUTPUT_SUFFIXES)


def account_monitoring(
    monitoring: Annotated[Path | None, typer.Argument(
        help="Monitoring table (CEMS hours or manual measurements): enterprise_id, outlet_id, "
        "time, pollutant, concentration (mg/m³), flow (m³/h), valid, kind, operating_hours.",
        show_default=False)] = None,
    activity: Annotated[Path | None, typer.Option(
        "--activity", "-a", help="Activity table for the coefficient method.")] = None,
    treatment: Annotated[Path | None, typer.Option(
        "--treatment", "-t", help="Treatment table for the coefficient method.")] = None,
    balance: Annotated[Path | None, typer.Option(
        "--balance", "-b", help="Material-balance table (formula sulfur_balance or "
        "solvent_balance with its inputs).")] = None,
    library: Annotated[str, typer.Option("--library", "-l", help="Coefficient library "
                                         "version.")] = "sample",
    priority: Annotated[str, typer.Option(
        "--priority", help="Method priority: permit (cems;manual;material_balance;coefficient), "
        "coefficient_first, coefficient_only, or methods joined by ';'.")] = "permit",
    priorities: Annotated[Path | None, typer.Option(
        "--priorities", help="Per-enterprise priorities: enterprise_id, pollutant, "
        "priority.")] = None,
    period: Annotated[str, typer.Option("--period", help="Monitoring totals per year or "
                                        "month (match the activity's period).")] = "year",
    rule: Annotated[str, typer.Option("--rule", help="Fill rule for invalid/missing CEMS "
                                      "hours: hj75_style or conservative.")] = "hj75_style",
    min_capture: Annotated[float | None, typer.Option(
        "--min-capture", help="Capture rate (0-1) a CEMS series needs to count as valid "
        "(default: the rule's, 0.90).")] = None,
    start: Annotated[str | None, typer.Option(
        "--from", help="Expected CEMS hours from this time (Beijing time; default: each "
        "series' first record).")] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="... to this time, excluded (default: each series' last record).")]
    = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Emissions (.csv, .parquet, "
                                             ".xlsx).")] = None,
    hours_out: Annotated[Path | None, typer.Option(
        "--hours-out", help="The CEMS hours used, each marked measured/short_gap/long_gap.")]
    = None,
    monitoring_out: Annotated[Path | None, typer.Option(
        "--monitoring-out", help="Monitoring totals per outlet with hour counts.")] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Rows the coefficient "
                                                 "method rejected.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Account by monitoring (实测法), material balance (物料衡算) and coefficients, one
    method per enterprise × period × pollutant by priority; each row says which method
    made it and why the others were not used."""
    import pandas as pd

    from sourcegrid.accounting.material_balance import account_balance
    from sourcegrid.accounting.methods import combine_methods, parse_priority
    from sourcegrid.accounting.monitoring import FILL_RULES
    from sourcegrid.accounting.monitoring import account_monitoring as monitor
    from sourcegrid.errors import NotFoundError, OptionError
    from sourcegrid.io.tables import read_table, write_table

    with reported_errors():
        parse_priority(priority)
        if rule not in FILL_RULES:
            raise NotFoundError("fill rule", rule, FILL_RULES)
        if period not in ("year", "month"):
            raise OptionError("--period", period, "year or month")
        if min_capture is not None and not 0 <= min_capture <= 1:
            raise OptionError("--min-capture", min_capture, "a share in [0, 1]")
        if monitoring is None and activity is None and balance is None:
            raise OptionError("MONITORING", "(none)", "a monitoring table, --activity or "
                              "--balance")
        _check_outputs(out, hours_out, monitoring_out, rejects)
        for option, value in (("--from", start), ("--to", end)):
            if value is not None and pd.isna(pd.to_datetime(value, errors="coerce")):
                raise OptionError(option, value, "a time, e.g. 2017-01-01 or 2017-01-01T08:00")
        totals = hours = balance_rows = coefficient = None
        problems = pd.DataFrame()
        overrides = read_table(priorities) if priorities is not None else None
        # every method runs in the workspace engine (DuckDB, PySpark or PostgreSQL)
        with open_workspace(workspace, create=True) as ws:
            if monitoring is not None:
                result = monitor(read_table(monitoring), period=period, rule=rule,
                                 source=monitoring.name, min_capture_rate=min_capture,
                                 start=start, end=end, con=ws.con)
                totals, hours = result.totals, result.hourly
            if balance is not None:
                balance_rows = account_balance(read_table(balance), source=balance.name,
                                               con=ws.con)
            if activity is not None:
                from sourcegrid.accounting.engine import EMISSION_COLUMNS, account
                from sourcegrid.cli.accounting import _library, _read_inputs

                lib = _library(ws, library)
                act, trt, trt_name = _read_inputs(activity, treatment, None)
                run = account(act, lib, trt, con=ws.con, activity_source=activity.name,
                              treatment_source=trt_name or "treatment", explain=False)
                coefficient = run.emissions[EMISSION_COLUMNS]
                problems = run.rejects
            emissions = combine_methods(coefficient=coefficient, monitoring=totals,
                                        balance=balance_rows, priority=priority,
                                        overrides=overrides,
                                        overrides_source=priorities.name if priorities else "",
                                        con=ws.con)
        if out is not None:
            write_table(emissions, out)
        if hours_out is not None and hours is not None:
            write_table(hours.assign(time=hours["time"].astype(str)), hours_out)
        if monitoring_out is not None and totals is not None:
            write_table(totals, monitoring_out)
        if rejects is not None:
            write_table(problems, rejects)
    summary = emissions.groupby(["method_detail", "pollutant"], as_index=False).agg(
        rows=("emission", "size"), emission_kg=("emission", "sum"))
    console.print(frame_table(summary, "Emissions by method and pollutant [kg]",
                              float_format="{:,.1f}"))
    if totals is not None:
        filled = totals[["enterprise_id", "outlet_id", "pollutant", "period", "kind",
                         "expected_hours", "valid_hours", "filled_short_hours",
                         "filled_long_hours", "capture_rate", "valid_monitoring"]]
        console.print(frame_table(filled, "Monitoring series (filled hours counted)"))
    if len(problems):
        err_console.print(f"{len(problems)} problem(s) in the activity rows (coefficient "
                          "method)" + ("" if rejects else "; write them with --rejects FILE"))


def check_macro(
    emissions: Annotated[Path, typer.Argument(
        help="Explained emissions (`account --explain --out`, or a demo's emissions.csv).",
        show_default=False)],
    reference: Annotated[str, typer.Option("--reference", help="National reference totals "
                                           "(census2017: 2nd census bulletin).")]
    = "census2017",
    share: Annotated[float | None, typer.Option("--share", help="The region's share of the "
                                                "nation (0-1).")] = None,
    population: Annotated[float | None, typer.Option(
        "--population", help="The region's population (share = population / 1,390.08 "
        "million, 2017).")] = None,
    area: Annotated[float | None, typer.Option("--area", help="The region's area in km² "
                                               "(share = area / 9.6 million km²).")] = None,
    low: Annotated[float, typer.Option("--low", help="Plausible from low × the scaled "
                                       "reference.")] = 0.05,
    high: Annotated[float, typer.Option("--high", help="... to high × the scaled "
                                        "reference.")] = 5.0,
    energy: Annotated[Path | None, typer.Option(
        "--energy", help="Energy statistics: region_code, coal, coal_unit, sulfur_percent.")]
    = None,
    production: Annotated[Path | None, typer.Option(
        "--production", help="Production statistics: industry_code, output, unit "
        "(region_code).")] = None,
    activity: Annotated[Path | None, typer.Option(
        "--activity", help="Activity table whose summed activity meets --production.")] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Production check: "
                                             "activity within 1 ± tolerance.")] = 0.2,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The checks with their "
                                             "numbers and status.")] = None,
    outliers: Annotated[Path | None, typer.Option("--outliers", help="Intensity "
                                                  "outliers.")] = None,
) -> None:
    """Macro checks (宏观校核): totals against scaled national totals, SO2 generation against
    coal × sulfur, activity against production statistics, and intensity outliers."""
    import pandas as pd

    from sourcegrid.accounting.macro import REFERENCE_TOTALS, macro_check
    from sourcegrid.accounting.monitoring import number_problems
    from sourcegrid.errors import InputError, NotFoundError, OptionError, Problem
    from sourcegrid.io.tables import read_table, write_table

    with reported_errors():
        if reference not in REFERENCE_TOTALS:
            raise NotFoundError("reference totals", reference, REFERENCE_TOTALS)
        if not 0 <= tolerance < 1:
            raise OptionError("--tolerance", tolerance, "a share in [0, 1)")
        if production is not None and activity is None:
            raise OptionError("--production", production, "--activity as well")
        _check_outputs(out, outliers)
        frame = read_table(emissions)
        problems = [Problem(emissions.name, None, c, "", "missing_column",
                            f"the emissions table needs {c!r}")
                    for c in ("pollutant", "emission", "generation", "region_code")
                    if c not in frame.columns]
        if problems:
            raise InputError(problems, f"{emissions.name}: cannot be checked")
        data = frame.copy()
        for column in ("generation", "emission", "activity_in_basis"):
            if column in frame.columns:
                data[column] = number_problems(frame, column, problems, minimum=None,
                                               required=column == "emission").to_numpy()
        if problems:
            raise InputError(problems, f"{emissions.name}: cannot be checked")
        checks, far = macro_check(
            pd.DataFrame(data), reference=reference, share=share, population=population,
            area_km2=area, low=low, high=high,
            energy=read_table(energy) if energy is not None else None,
            production=read_table(production) if production is not None else None,
            activity=read_table(activity) if activity is not None else None,
            tolerance=tolerance)
        if out is not None:
            write_table(checks, out)
        if outliers is not None:
            write_table(far, outliers)
    if len(checks):
        shown = checks.drop(columns=["basis"])
        console.print(frame_table(shown, "Macro checks", max_rows=80, float_format="{:,.3g}"))
        for basis in checks["basis"].unique():
            console.print(f"  {basis}")
        bad = checks.loc[checks["status"] != "within"]
        console.print(f"{len(checks) - len(bad)} within tolerance, {len(bad)} not"
                      + (": " + ", ".join(bad["check"].str.split(":").str[0] + " "
                                          + bad["pollutant"].astype(str) + " " + bad["status"])
                         if len(bad) else ""))
    else:
        err_console.print("no reference given (--share, --population or --area, --energy, "
                          "--production): only the intensity check ran")
    console.print(frame_table(far, f"Intensity outliers ({len(far)}; |modified z| > 3.5 "
                              "and ≥ 2 × or ≤ ½ × the combination's median)", max_rows=20, float_format="{:,.3g}"))


def coefficients_stats(
    name: Annotated[str, typer.Argument(help="Library version.", show_default=False)],
    against: Annotated[str | None, typer.Option(
        "--against", help="A second version: accounting steps per industry of both.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the steps per "
                                             "industry.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The counts the census reports for a library (industries 大类/小类, sections, products,
    raw materials, processes, generation coefficients, treatment efficiencies) and the
    accounting steps (sections) per industry, compared with --against."""
    from sourcegrid.cli.accounting import _library
    from sourcegrid.coefficients.stats import accounting_steps, library_stats
    from sourcegrid.io.tables import write_table

    with reported_errors():
        _check_outputs(out)
        with open_workspace(workspace, create=True) as ws:
            first = _library(ws, name)
            second = _library(ws, against) if against else None
        counts = library_stats(first)
        if second is not None:
            other = library_stats(second)
            order = list(dict.fromkeys([*counts["item"], *other["item"]]))
            counts = counts.merge(other, on=["item", "中文"], how="outer",
                                  suffixes=(f" {name}", f" {against}"))
            counts = counts.set_index("item").loc[order].reset_index()
        steps = accounting_steps(first, second, names=(name, against or ""))
        if out is not None:
            write_table(steps, out)
    console.print(frame_table(counts, f"Library {name}" + (f" and {against}" if against
                                                           else "")))
    console.print(frame_table(steps, "Accounting steps (sections) per industry", max_rows=80,
                              float_format="{:,.2f}"))


def coefficients_emission(
    name: Annotated[str, typer.Argument(help="Library version to derive from.",
                                        show_default=False)],
    new: Annotated[str, typer.Option("--name", help="Name of the new version.")],
    replace: Annotated[bool, typer.Option("--replace", help="Replace a version of that "
                                          "name.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Store an illustrative 2007-route copy of a library: emission coefficients (排污系数)
    e = c × (1 − η) on every row, for `account --route census2007` (not the 1st census
    tables)."""
    from sourcegrid.accounting.census2007 import illustrative_emission_coefficients
    from sourcegrid.cli.accounting import _library
    from sourcegrid.coefficients import store_library

    with reported_errors(), open_workspace(workspace, create=True) as ws:
        lib = illustrative_emission_coefficients(_library(ws, name), new)
        store_library(ws, lib, replace=replace)
    console.print(f"stored library [bold]{new}[/] ({len(lib.rows)} rows with emission "
                  f"coefficients e = c × (1 − η), from {name})")


def compare_routes(
    activity: Annotated[Path, typer.Argument(help="Activity table.", show_default=False)],
    first: Annotated[str, typer.Option("--a", help="First run as ROUTE:LIBRARY (routes: "
                                       "census2017, census2007).")] = "census2017:sample",
    second: Annotated[str, typer.Option("--b", help="Second run as ROUTE:LIBRARY.")]
    = "census2007:sample",
    treatment: Annotated[Path | None, typer.Option("--treatment", "-t",
                                                   help="Treatment table.")] = None,
    by: Annotated[str, typer.Option("--by", help="Group columns: industry_code, section, "
                                    "pollutant, region_code, enterprise_id.")]
    = "industry_code,section,pollutant",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The side-by-side "
                                             "table.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The same enterprises accounted twice (two routes or two library versions), side by
    side by industry, section and pollutant: totals and emission per unit of activity."""
    from sourcegrid.accounting.census2007 import ROUTES, route_account
    from sourcegrid.accounting.census2007 import compare_routes as compare
    from sourcegrid.cli.accounting import _library, _read_inputs
    from sourcegrid.errors import NotFoundError, OptionError
    from sourcegrid.io.tables import write_table

    allowed = ("industry_code", "section", "pollutant", "region_code", "enterprise_id")
    keys = [k.strip() for k in by.split(",") if k.strip()]
    with reported_errors():
        runs = []
        for option, text in (("--a", first), ("--b", second)):
            route, _, library = text.partition(":")
            if not library:
                raise OptionError(option, text, "ROUTE:LIBRARY, e.g. census2007:sample2007")
            if route not in ROUTES:
                raise NotFoundError("accounting route", route, ROUTES)
            runs.append((route, library))
        for key in keys:
            if key not in allowed:
                raise NotFoundError("grouping column", key, allowed)
        _check_outputs(out)
        with open_workspace(workspace, create=True) as ws:
            libraries = [_library(ws, library) for _, library in runs]
            act, trt, trt_name = _read_inputs(activity, treatment, None)
            results = [route_account(route, act, lib, trt, con=ws.con,
                                     activity_source=activity.name,
                                     treatment_source=trt_name or "treatment")
                       for (route, _), lib in zip(runs, libraries, strict=True)]
        names = tuple(f"{r}:{n}" for r, n in runs)
        if names[0] == names[1]:
            names = (names[0] + " (a)", names[1] + " (b)")
        table = compare(results[0].emissions, results[1].emissions, keys, names=names)
        if out is not None:
            write_table(table, out)
    console.print(frame_table(table, f"{names[0]} against {names[1]} [kg; per unit: kg per "
                              "unit of activity]".replace("[", "(").replace("]", ")"),
                              max_rows=80, float_format="{:,.4g}"))
    for result, name in zip(results, names, strict=True):
        if len(result.rejects):
            err_console.print(f"{name}: {len(result.rejects)} problem(s) in "
                              f"{result.rejected_rows} row(s)")


def coefficients_design(
    population: Annotated[Path, typer.Argument(help="Enterprises to sample from (one row "
                                               "each).", show_default=False)],
    strata: Annotated[str, typer.Option("--strata", help="Stratum columns, comma separated "
                                        "(combination and region).")]
    = "industry_code,region_code",
    cv: Annotated[float, typer.Option("--cv", help="Expected coefficient of variation of "
                                      "the coefficient between enterprises.")] = 0.5,
    precision: Annotated[float, typer.Option("--precision", help="Target relative "
                                             "precision of the mean (0-1).")] = 0.1,
    confidence: Annotated[float, typer.Option("--confidence")] = 0.95,
    allocation: Annotated[str, typer.Option("--allocation", help="proportional or "
                                            "neyman.")] = "proportional",
    sd_column: Annotated[str | None, typer.Option("--sd-column", help="Neyman: column with "
                                                  "each stratum's sd.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 2017,
    min_per_stratum: Annotated[int, typer.Option("--min-per-stratum", help="At least this "
                                                 "many per stratum (for its variance).")] = 2,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The population with the "
                                             "'selected' column.")] = None,
) -> None:
    """Sampling design for deriving coefficients (系数制定): the sample size for a target
    relative precision, its allocation to strata and the seeded draw."""
    from sourcegrid.coefficients.derivation import ALLOCATIONS, allocate, draw_sample, sample_size
    from sourcegrid.errors import NotFoundError, OptionError
    from sourcegrid.io.tables import read_table, write_table

    keys = [k.strip() for k in strata.split(",") if k.strip()]
    with reported_errors():
        if allocation not in ALLOCATIONS:
            raise NotFoundError("allocation", allocation, ALLOCATIONS)
        _check_outputs(out)
        frame = read_table(population)
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise OptionError("--strata", ",".join(missing), "columns of the population "
                              f"({', '.join(c for c in frame.columns if not c.startswith('_'))})")
        n = sample_size(cv, precision, confidence=confidence, population=len(frame))
        if min_per_stratum < 0:
            raise OptionError("--min-per-stratum", min_per_stratum, "≥ 0")
        table = allocate(frame, keys, n, method=allocation, sd=sd_column,
                         min_per_stratum=min_per_stratum)
        drawn = draw_sample(frame, table, keys, seed=seed)
        if out is not None:
            write_table(drawn.drop(columns=["_row", "_source"], errors="ignore"), out)
    console.print(f"sample size n = {n} of N = {len(frame)} (CV {cv:g}, relative precision "
                  f"{precision:.0%}, confidence {confidence:.0%}, finite-population "
                  f"corrected); drawn: {int(drawn['selected'].sum())} in {len(table)} strata "
                  f"(at least {min_per_stratum} per stratum; seed {seed})")
    console.print(frame_table(table, f"Allocation ({allocation})", max_rows=80))


def coefficients_derive(
    measurements: Annotated[Path, typer.Argument(
        help="Sample enterprises: enterprise_id, industry_code, section, product, "
        "raw_material, process, scale, pollutant, generation (kg), activity.",
        show_default=False)],
    base: Annotated[str, typer.Option("--base", help="Library whose rows get the derived "
                                      "values.")] = "sample",
    name: Annotated[str, typer.Option("--name", help="Name of the new version.")]
    = "derived",
    pairs: Annotated[Path | None, typer.Option(
        "--pairs", help="Inlet/outlet pairs: the keys, treatment, inlet, outlet.")] = None,
    validation: Annotated[Path | None, typer.Option(
        "--validation", help="Typical enterprises not in the sample (same columns as "
        "MEASUREMENTS).")] = None,
    sample: Annotated[str, typer.Option("--sample", help="Name of the sample (provenance).")]
    = "",
    report: Annotated[Path | None, typer.Option("--report", help="Quality report per "
                                                "combination.")] = None,
    replace: Annotated[bool, typer.Option("--replace")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Derive generation coefficients (and removal efficiencies) from sample enterprises,
    validate them on other enterprises and store the result as a new library version."""
    from sourcegrid.cli.accounting import _library
    from sourcegrid.coefficients import store_library
    from sourcegrid.coefficients.derivation import (
        COMBINATION_KEYS,
        derived_library,
        estimate_generation,
        estimate_removal,
        validate,
    )
    from sourcegrid.io.tables import read_table, write_table

    with reported_errors():
        _check_outputs(report)
        with open_workspace(workspace, create=True) as ws:  # estimation runs in its engine
            estimates, _ = estimate_generation(read_table(measurements),
                                               source=measurements.name, con=ws.con)
            efficiencies = estimate_removal(read_table(pairs), source=pairs.name,
                                            con=ws.con) if pairs is not None else None
            quality = estimates
            if validation is not None:
                _, per_combination = validate(estimates, read_table(validation),
                                              source=validation.name, con=ws.con)
                quality = estimates.merge(per_combination, on=COMBINATION_KEYS, how="left")
            lib, unmatched = derived_library(_library(ws, base), estimates, name=name,
                                             efficiencies=efficiencies,
                                             sample=sample or measurements.name)
            store_library(ws, lib, replace=replace)
        if report is not None:
            write_table(quality, report)
    console.print(frame_table(quality, "Derived coefficients (kg per unit activity) and "
                              "their quality", max_rows=60))
    if efficiencies is not None:
        console.print(frame_table(efficiencies, "Removal efficiencies (0-1)", max_rows=60))
    console.print(f"stored library [bold]{name}[/] ({len(lib.rows)} rows; {lib.source})")
    if len(unmatched):
        err_console.print(f"{len(unmatched)} estimate(s) match no row of {base!r} and are not "
                          "in the new version")


def coefficients_propose(
    measured: Annotated[Path, typer.Argument(
        help="Measured emissions (monitoring or permit data): enterprise_id, period, "
        "pollutant, emission (kg); e.g. the output of account-monitoring.",
        show_default=False)],
    accounted: Annotated[Path, typer.Option(
        "--accounted", help="Coefficient-method emissions of the same enterprises "
        "(`account --out`).")],
    base: Annotated[str, typer.Option("--base", help="Library the enterprises were "
                                      "accounted with.")] = "sample",
    name: Annotated[str, typer.Option("--name", help="Name of the candidate version.")]
    = "proposed",
    min_enterprises: Annotated[int, typer.Option("--min-enterprises")] = 10,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    by: Annotated[str, typer.Option("--by", help="Who proposes.")] = "sourcegrid",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Evidence per coefficient "
                                             "row.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Dynamic update (动态更新): where monitoring differs significantly from the
    coefficients (Wilcoxon signed-rank on log ratios, enough enterprises), store a
    candidate library version in state 'proposed' with its diff and evidence."""
    from sourcegrid.accounting.monitoring import number_column
    from sourcegrid.cli.accounting import _library
    from sourcegrid.coefficients.update import evidence, propose, store_proposal
    from sourcegrid.io.tables import read_table, write_table

    with reported_errors():
        _check_outputs(out)
        frames = []
        for path in (measured, accounted):
            frame = read_table(path)
            for column in ("emission",):
                frame[column] = number_column(frame, column, path.name)
            frames.append(frame)
        if "method" in frames[0]:  # account-monitoring output: its monitoring rows only
            frames[0] = frames[0].loc[frames[0]["method"] == "monitoring"]
        with open_workspace(workspace, create=True) as ws:  # the evidence runs in its engine
            table = evidence(frames[0], frames[1], min_enterprises=min_enterprises,
                             alpha=alpha, con=ws.con)
            if out is not None:
                write_table(table, out)
            candidate, diff = propose(_library(ws, base), table, name=name)
            store_proposal(ws, candidate, diff, base=base, by=by)
    console.print(frame_table(table, "Measured against accounted, per coefficient row",
                              float_format="{:,.4g}"))
    console.print(frame_table(diff, f"Proposed version {name} (state: proposed)",
                              float_format="{:,.4g}"))


def coefficients_review(
    name: Annotated[str, typer.Argument(help="Proposed library version.",
                                        show_default=False)],
    approve: Annotated[bool, typer.Option("--approve/--reject", help="Approve (it becomes "
                                          "the default library, --library default) or "
                                          "reject.")],
    by: Annotated[str, typer.Option("--by", help="Who reviews.")],
    note: Annotated[str, typer.Option("--note")] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Approve or reject a proposed library version; the log keeps who and when."""
    from sourcegrid.coefficients.update import default_library_name, review, review_log

    with reported_errors(), open_workspace(workspace) as ws:
        review(ws, name, "approved" if approve else "rejected", by=by, note=note)
        log = review_log(ws)
        default = default_library_name(ws)
    console.print(frame_table(log.loc[log["library"] == name], f"Review of {name}"))
    console.print(f"default library for new runs: [bold]{default}[/]")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add account-monitoring (and uncertainty, check macro) to the app."""
    app.command("account-monitoring")(account_monitoring)
    app.command("uncertainty")(uncertainty)
    check = groups.setdefault("check", typer.Typer(
        help="Checks of accounted results: macro (宏观校核).", no_args_is_help=True))
    check.command("macro")(check_macro)
    app.command("compare-routes")(compare_routes)
    groups["coefficients"].command("stats")(coefficients_stats)
    groups["coefficients"].command("emission-coefficients")(coefficients_emission)
    groups["coefficients"].command("sample-design")(coefficients_design)
    groups["coefficients"].command("derive")(coefficients_derive)
    groups["coefficients"].command("propose")(coefficients_propose)
    groups["coefficients"].command("review")(coefficients_review)


def _uncertainty_tables(emissions, keys, draws: int, seed: int, library, defaults: str,
                        con=None):
    """The totals with both intervals [t] and the largest variance terms, as rich tables."""
    from sourcegrid.accounting.uncertainty import propagate

    result = propagate(emissions, keys, draws=draws, seed=seed, library=library,
                       defaults=defaults, unit="t", con=con)
    shown = result.totals.rename(columns={
        "emission": "emission_t", "low": "A1_low", "high": "A1_high",
        "uncertainty_percent": "A1_U_%", "mc_mean": "A2_mean", "mc_low": "A2_low",
        "mc_high": "A2_high"}).drop(columns=["sd", "mc_sd"])
    top = result.contributions.sort_values("share", ascending=False).head(15)
    return result, [
        frame_table(shown, f"95 % intervals (t): Approach 1 (error propagation) and Approach 2 "
                    f"(Monte Carlo, {draws} draws)", max_rows=60, float_format="{:,.3f}"),
        frame_table(top, "Largest variance contributions", float_format="{:,.3g}")]


def uncertainty_tables(emissions, keys, draws: int, library=None, con=None):
    """For ``account --uncertainty N``: the interval tables (checked before any work)."""
    from sourcegrid.errors import OptionError

    if draws < 2:
        raise OptionError("--uncertainty", draws, "at least 2 draws")
    return _uncertainty_tables(emissions, keys, draws, 2017, library, "sourcegrid_default",
                               con)[1]


def print_uncertainty(emissions, keys, draws: int, library=None, *, seed: int = 2017,
                      defaults: str = "sourcegrid_default"):
    """For ``account --uncertainty N``: print the intervals of the totals; return them."""
    result, tables = _uncertainty_tables(emissions, keys, draws, seed, library, defaults)
    for table in tables:
        console.print(table)
    return result


NUMBER_COLUMNS = ("generation", "removal", "emission", "removal_efficiency", "k",
                  "generation_coefficient_rsd", "activity_rsd", "removal_efficiency_rsd",
                  "k_rsd")


def uncertainty(
    emissions: Annotated[Path, typer.Argument(
        help="Explained emissions (from `account --explain --out`, or account-monitoring).",
        show_default=False)],
    draws: Annotated[int, typer.Option("--draws", "-n", help="Monte Carlo draws.")] = 1000,
    by: Annotated[str, typer.Option("--by", help="Totals by these keys (comma separated): "
                                    "enterprise, region, industry, section, pollutant.")]
    = "pollutant",
    library: Annotated[str | None, typer.Option(
        "--library", "-l", help="Library whose rows carry generation_coefficient_rsd / "
        "removal_efficiency_rsd (or _low/_high ranges).")] = None,
    defaults: Annotated[str, typer.Option("--defaults", help="RSDs where rows and library "
                                          "give none: sourcegrid_default or none.")]
    = "sourcegrid_default",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 2017,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Totals with intervals.")]
    = None,
    contributions: Annotated[Path | None, typer.Option(
        "--contributions", help="Variance contributions per group.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Uncertainty (不确定性分析) of emission totals: 95 % intervals by error propagation
    (IPCC 2006 Approach 1) and Monte Carlo (Approach 2), and the largest variance terms."""
    import pandas as pd

    from sourcegrid.accounting.monitoring import number_problems
    from sourcegrid.accounting.uncertainty import GROUP_COLUMNS, UNCERTAINTY_DEFAULTS
    from sourcegrid.errors import InputError, NotFoundError, OptionError
    from sourcegrid.io.tables import read_table, write_table

    keys = [k.strip() for k in by.split(",") if k.strip()]
    with reported_errors():
        for key in keys:
            if key not in GROUP_COLUMNS:
                raise NotFoundError("grouping key", key, GROUP_COLUMNS)
        if defaults not in UNCERTAINTY_DEFAULTS:
            raise NotFoundError("uncertainty defaults", defaults, UNCERTAINTY_DEFAULTS)
        if draws < 2:
            raise OptionError("--draws", draws, "at least 2")
        _check_outputs(out, contributions)
        frame = read_table(emissions)
        problems = []
        data = frame.copy()
        for column in NUMBER_COLUMNS:
            if column in frame.columns:
                data[column] = number_problems(frame, column, problems,
                                               required=column == "emission",
                                               minimum=None if column in (
                                                   "generation", "removal", "emission")
                                               else 0.0).to_numpy()
        missing = [c for k in keys for c in GROUP_COLUMNS[k] if c not in frame.columns]
        missing += [c for c in ("emission", "generation") if c not in frame.columns]
        if missing or problems:
            from sourcegrid.errors import Problem

            problems += [Problem(emissions.name, None, c, "", "missing_column",
                                 f"the emissions table needs {c!r}") for c in missing]
            raise InputError(problems, f"{emissions.name}: cannot compute the uncertainty")
        lib = None
        if library is not None:
            from sourcegrid.cli.accounting import _library

            with open_workspace(workspace, create=True) as ws:
                lib = _library(ws, library)
        result = print_uncertainty(pd.DataFrame(data), keys, draws, lib, seed=seed,
                                   defaults=defaults)
        if out is not None:
            write_table(result.totals, out)
        if contributions is not None:
            write_table(result.contributions, contributions)
