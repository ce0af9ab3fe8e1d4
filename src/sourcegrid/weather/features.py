"""Explanatory variables of the normalisation models: meteorology and time.

Time variables (from the UTC time of each hour, read in Beijing time, where the
day's emission cycle lives):

* ``date_unix`` -- the trend term: seconds since 1970-01-01 UTC [s];
* ``day_of_year`` -- 1..366 (Beijing-time calendar day);
* ``weekday`` -- 0 = Monday .. 6 = Sunday;
* ``hour`` -- 0..23 (Beijing time).

Meteorological variables (whatever the feeds carry; canonical names and units):

=============  =====================  ======  =======================================
name           aliases in files       unit    physical range kept
=============  =====================  ======  =======================================
wind_speed     WSPM, ws, 风速           m/s     0-100
wind_dir       wd, 风向 (or 16-point)   degree  0-360, the direction the wind comes from
TEMP           temperature, 气温        °C      -60-60
RH             humidity, 相对湿度        %       0-100
PRES           pressure, 气压           hPa     500-1100
DEWP           dewpoint, 露点           °C      -80-50
RAIN           precipitation, 降水      mm      0-500 (per hour)
BLH            boundary_layer, 边界层    m       0-10000
=============  =====================  ======  =======================================

When a feed gives temperature and dew point but no relative humidity (the
Beijing multi-site data), RH is derived with the Magnus formula over water,
RH = 100 exp(a Td / (b + Td) - a T / (b + T)) with a = 17.625, b = 243.04 °C
(Alduchov and Eskridge 1996), clipped to [0, 100].

Wind direction enters the models in degrees, as in rmweather and deweather
(trees split a circular variable into sectors well enough); the speed-weighted
vector mean is used when several sites are averaged into a city.

References
----------
.. [1] Grange, S. K. et al. (2018). Random forest meteorological normalisation
   models for Swiss PM10 trend analysis. Atmos. Chem. Phys. 18, 6223-6239
   (rmweather: date_unix, day_julian, weekday, hour, ws, wd, air_temp, RH).
.. [2] openair-project/deweather ``append_dw_vars``: trend, hour, weekday, yday.
.. [3] Alduchov, O. A. and Eskridge, R. E. (1996). Improved Magnus form
   approximation of saturation vapor pressure. J. Appl. Meteorol. 35, 601-609.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sourcegrid.timebase import LOCAL_TIMEZONE

__all__ = [
    "TIME_VARIABLES",
    "MET_VARIABLES",
    "MET_UNITS",
    "MET_RANGES",
    "MET_ALIASES",
    "LOCAL_TIMEZONE",
    "time_variables",
    "relative_humidity",
]


#: Time variables, the trend first (never resampled).
TIME_VARIABLES = ("date_unix", "day_of_year", "weekday", "hour")

#: Meteorological variables in the order the models use them.
MET_VARIABLES = ("wind_speed", "wind_dir", "TEMP", "RH", "PRES", "DEWP", "RAIN", "BLH")

MET_UNITS = {"wind_speed": "m/s", "wind_dir": "degree", "TEMP": "degC", "RH": "%",
             "PRES": "hPa", "DEWP": "degC", "RAIN": "mm", "BLH": "m"}

#: Physical ranges [low, high] in the unit above; outside is a reject (``out_of_range``).
MET_RANGES = {"wind_speed": (0.0, 100.0), "wind_dir": (0.0, 360.0), "TEMP": (-60.0, 60.0),
              "RH": (0.0, 100.0), "PRES": (500.0, 1100.0), "DEWP": (-80.0, 50.0),
              "RAIN": (0.0, 500.0), "BLH": (0.0, 10000.0)}

#: Column names read as each variable (lower-cased match).
MET_ALIASES = {
    "wind_speed": ("wind_speed", "wspm", "ws", "风速"),
    "wind_dir": ("wind_dir", "wd", "风向"),
    "TEMP": ("temp", "temperature", "air_temp", "气温", "温度"),
    "RH": ("rh", "humidity", "相对湿度", "湿度"),
    "PRES": ("pres", "pressure", "atmos_pressure", "气压"),
    "DEWP": ("dewp", "dewpoint", "dew_point", "露点"),
    "RAIN": ("rain", "precipitation", "precip", "降水", "降水量"),
    "BLH": ("blh", "boundary_layer_height", "边界层高度"),
}

_MAGNUS_A = 17.625
_MAGNUS_B = 243.04  # degC


def time_variables(times) -> pd.DataFrame:
    """The four time variables of each time.

    Parameters
    ----------
    times : array_like of datetime
        Times; naive values are UTC, aware values any zone.

    Returns
    -------
    pandas.DataFrame
        date_unix [s], day_of_year, weekday (0 = Monday), hour (Beijing time).
    """
    stamps = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    local = stamps.tz_convert(LOCAL_TIMEZONE)
    return pd.DataFrame({
        "date_unix": stamps.as_unit("s").asi8.astype(float),
        "day_of_year": local.dayofyear.to_numpy(dtype=float),
        "weekday": local.weekday.to_numpy(dtype=float),
        "hour": local.hour.to_numpy(dtype=float),
    })


def relative_humidity(temperature, dew_point) -> np.ndarray:
    """Relative humidity [%] from air temperature and dew point [°C] (Magnus formula).

    References
    ----------
    Alduchov and Eskridge (1996), J. Appl. Meteorol. 35, 601-609 (a = 17.625,
    b = 243.04 °C).
    """
    t = np.asarray(temperature, dtype=float)
    td = np.asarray(dew_point, dtype=float)
    rh = 100.0 * np.exp(_MAGNUS_A * td / (_MAGNUS_B + td) - _MAGNUS_A * t / (_MAGNUS_B + t))
    return np.clip(rh, 0.0, 100.0)
