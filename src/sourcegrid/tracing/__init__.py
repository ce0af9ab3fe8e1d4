"""Source tracing (溯源): wind statistics, Gaussian plume, attribution, feedback learning.

Modules
-------
- :mod:`sourcegrid.tracing.wind` -- wind rose, polar table, conditional probability
  function (openair's definitions);
- :mod:`sourcegrid.tracing.dispersion` -- steady Gaussian plume (Briggs 1973 sigmas),
  Pasquill stability by Turner's method, Briggs plume rise, source-receptor coupling;
- :mod:`sourcegrid.tracing.attribution` -- :func:`trace_cell`: rank the sources behind a
  hotspot cell (non-negative least squares on predicted series, confounded groups,
  unregistered sources from the residual);
- :mod:`sourcegrid.tracing.findings` -- inspectors' findings (table
  ``inspection_findings``);
- :mod:`sourcegrid.tracing.learning` -- a logistic model on the evidence that re-ranks
  candidates once enough findings exist;
- :mod:`sourcegrid.tracing.figures` -- matplotlib drawings for reports.

Heavy imports stay in the submodules; import what you use from them.
"""

__all__ = ["wind", "dispersion", "attribution", "findings", "learning", "figures"]
