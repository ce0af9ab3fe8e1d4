"""The demo report: one self-contained ``index.html`` (no network) and CSV tables.

:func:`build_report` reads the tables :func:`sourcegrid.pipeline.run_city_pipeline`
writes and renders them with the Jinja2 templates of ``report/templates`` and the
figures of :mod:`sourcegrid.report.figures`.
"""

from sourcegrid.report.build import REPORT_CSV, build_report, check_folder, report_context

__all__ = ["build_report", "check_folder", "report_context", "REPORT_CSV"]
