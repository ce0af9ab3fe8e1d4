"""Meteorological normalisation (气象归一化): trends and hotspots with the weather's share out.

Layers, as elsewhere in sourcegrid:

* :mod:`~sourcegrid.weather.features` -- time and meteorological variables (names,
  units, ranges, RH from dew point);
* :mod:`~sourcegrid.weather.normalise` -- the method (Grange et al. 2018, rmweather;
  openair's deweather): model, out-of-sample skill on held-back blocks of time,
  vectorised constrained resampling of the weather with the time kept, batched
  prediction; named model and resampling sets with their sources;
* :mod:`~sourcegrid.weather.panel` -- many units: one model per station, or one pooled
  model for a grid's cells;
* :mod:`~sourcegrid.weather.trend` -- Theil-Sen slopes, changes between periods with
  intervals, the weather's share of a change;
* :mod:`~sourcegrid.weather.inputs` -- series with their met from files and workspaces;
* :mod:`~sourcegrid.weather.hotspots` and :mod:`~sourcegrid.weather.net` -- hotspot
  lists on normalised values, and the change net of weather for the composite index,
  good days and targets reports;
* :mod:`~sourcegrid.weather.figures` -- observed vs normalised series, partial dependence.
"""
