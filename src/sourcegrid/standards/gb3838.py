"""GB 3838-2002 Environmental quality standards for surface water: Table 1 and assessment rules.

Internal units: mg/L for every Table 1 item except pH (dimensionless) and fecal
coliform (个/L, count per litre).

Class limits are met 'at the limit': an upper-bound item is in class j when
C ≤ S_j, dissolved oxygen (a lower bound) when C ≥ S_j. Where two classes share
a limit (e.g. COD 15 for I and II), the better class is taken. A value beyond
the class V limit is 劣V (class 6 in code).

Assessment practice (《地表水环境质量评价办法（试行）》, 环办〔2011〕22号):

- assessed items: the 21 items of Table 1 other than water temperature, total
  nitrogen and fecal coliform; total nitrogen is assessed for lakes and
  reservoirs (an option here), fecal coliform and temperature are reference only;
- section class: the worst single-item class (单因子评价法);
- exceedance multiple over the class III limit: (C − S_III) / S_III; not
  computed for water temperature, pH and dissolved oxygen (§ 主要污染指标的确定);
- basin (river, 流域/水系) status by the share of sections in classes I–III and in
  劣V, see :data:`BASIN_GRADES`; a river or basin with fewer than 5 sections is
  assessed as one section from the mean concentrations of its sections.

References
----------
.. [1] GB 3838-2002 地表水环境质量标准, Table 1 (地表水环境质量标准基本项目标准限值).
.. [2] 地表水环境质量评价办法（试行）, 环办〔2011〕22号 (March 2011): 一(一) 评价指标;
   二 评价方法: 断面水质定性评价 (table), 主要污染指标的确定, 河流、流域（水系）水质
   定性评价分级 (table). The text was not available here; the grading rules were checked
   against the Shenzhen bureau's statement of them (meeb.sz.gov.cn, 业务知识库,
   '如何评价河流(包括河段、水系)整体水质状况?').
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from sourcegrid.errors import NotFoundError

__all__ = [
    "ParameterLimits",
    "TABLE_1",
    "CLASS_LABELS",
    "WORSE_THAN_V",
    "WATERBODIES",
    "ASSESSMENT_PARAMETERS",
    "REFERENCE_PARAMETERS",
    "PARAMETER_ALIASES",
    "SECTION_STATUS",
    "BASIN_GRADES",
    "parameter_limits",
    "canonical_parameter",
]


@dataclass(frozen=True)
class ParameterLimits:
    """Class I–V limits of one GB 3838-2002 Table 1 item.

    Attributes
    ----------
    name_zh : str
        The item as Table 1 names it.
    unit : str
        'mg/L', '' (pH) or '个/L' (fecal coliform).
    bound : {'upper', 'lower', 'range'}
        'upper': C ≤ S_j; 'lower': C ≥ S_j (dissolved oxygen); 'range': pH 6–9.
    river : tuple of 5 floats
        Limits of classes I..V (for 'range', the (low, high) pair repeated).
    lake : tuple of 5 floats, optional
        Lake and reservoir limits where Table 1 gives them (total phosphorus).
    """

    name_zh: str
    unit: str
    bound: str
    river: tuple
    lake: tuple | None = None

    def limits(self, waterbody: str = "river") -> tuple:
        """Class I..V limits for 'river' or 'lake' (lakes and reservoirs)."""
        if waterbody not in WATERBODIES:
            raise NotFoundError("waterbody", waterbody, WATERBODIES)
        return self.lake if (waterbody == "lake" and self.lake is not None) else self.river


#: Waterbody kinds: 'river' (rivers, canals) and 'lake' (lakes and reservoirs, 湖库).
WATERBODIES = ("river", "lake")

#: GB 3838-2002 Table 1 (基本项目标准限值), classes I..V, in mg/L unless stated.
#: Item 1, water temperature, is a limit on man-made change (weekly mean rise ≤ 1 °C,
#: fall ≤ 2 °C) and is not a class limit; it is not in this table.
#: DO class I: 7.5 mg/L or saturation 90 % (饱和率90%（或7.5）).
TABLE_1: MappingProxyType[str, ParameterLimits] = MappingProxyType({
    "pH": ParameterLimits("pH值（无量纲）", "", "range", ((6.0, 9.0),) * 5),
    "DO": ParameterLimits("溶解氧", "mg/L", "lower", (7.5, 6.0, 5.0, 3.0, 2.0)),
    "CODMn": ParameterLimits("高锰酸盐指数", "mg/L", "upper", (2.0, 4.0, 6.0, 10.0, 15.0)),
    "COD": ParameterLimits("化学需氧量（COD）", "mg/L", "upper", (15.0, 15.0, 20.0, 30.0, 40.0)),
    "BOD5": ParameterLimits("五日生化需氧量（BOD5）", "mg/L", "upper", (3.0, 3.0, 4.0, 6.0, 10.0)),
    "NH3-N": ParameterLimits("氨氮（NH3-N）", "mg/L", "upper", (0.15, 0.5, 1.0, 1.5, 2.0)),
    "TP": ParameterLimits("总磷（以P计）", "mg/L", "upper", (0.02, 0.1, 0.2, 0.3, 0.4),
                          lake=(0.01, 0.025, 0.05, 0.1, 0.2)),
    "TN": ParameterLimits("总氮（湖、库，以N计）", "mg/L", "upper", (0.2, 0.5, 1.0, 1.5, 2.0)),
    "Cu": ParameterLimits("铜", "mg/L", "upper", (0.01, 1.0, 1.0, 1.0, 1.0)),
    "Zn": ParameterLimits("锌", "mg/L", "upper", (0.05, 1.0, 1.0, 2.0, 2.0)),
    "F": ParameterLimits("氟化物（以F-计）", "mg/L", "upper", (1.0, 1.0, 1.0, 1.5, 1.5)),
    "Se": ParameterLimits("硒", "mg/L", "upper", (0.01, 0.01, 0.01, 0.02, 0.02)),
    "As": ParameterLimits("砷", "mg/L", "upper", (0.05, 0.05, 0.05, 0.1, 0.1)),
    "Hg": ParameterLimits("汞", "mg/L", "upper", (0.00005, 0.00005, 0.0001, 0.001, 0.001)),
    "Cd": ParameterLimits("镉", "mg/L", "upper", (0.001, 0.005, 0.005, 0.005, 0.01)),
    "Cr6+": ParameterLimits("铬（六价）", "mg/L", "upper", (0.01, 0.05, 0.05, 0.05, 0.1)),
    "Pb": ParameterLimits("铅", "mg/L", "upper", (0.01, 0.01, 0.05, 0.05, 0.1)),
    "CN": ParameterLimits("氰化物", "mg/L", "upper", (0.005, 0.05, 0.2, 0.2, 0.2)),
    "volatile_phenol": ParameterLimits("挥发酚", "mg/L", "upper",
                                       (0.002, 0.002, 0.005, 0.01, 0.1)),
    "petroleum": ParameterLimits("石油类", "mg/L", "upper", (0.05, 0.05, 0.05, 0.5, 1.0)),
    "LAS": ParameterLimits("阴离子表面活性剂", "mg/L", "upper", (0.2, 0.2, 0.2, 0.3, 0.3)),
    "sulfide": ParameterLimits("硫化物", "mg/L", "upper", (0.05, 0.1, 0.2, 0.5, 1.0)),
    "fecal_coliform": ParameterLimits("粪大肠菌群（个/L）", "个/L", "upper",
                                      (200.0, 2000.0, 10000.0, 20000.0, 40000.0)),
})

#: DO saturation [%] that also meets class I (GB 3838-2002 Table 1, item 3).
DO_SATURATION_CLASS_I = 90.0

#: Class labels; class 6 is 劣V (worse than V).
CLASS_LABELS = MappingProxyType({1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "劣V"})
WORSE_THAN_V = 6

#: Items assessed by default (评价办法 §3: Table 1 without temperature, TN, fecal coliform).
ASSESSMENT_PARAMETERS: tuple[str, ...] = tuple(
    p for p in TABLE_1 if p not in ("TN", "fecal_coliform"))
#: Items reported but not used for the class by default.
REFERENCE_PARAMETERS: tuple[str, ...] = ("TN", "fecal_coliform")

#: Header and item texts (Chinese and variants) → canonical item name.
PARAMETER_ALIASES = MappingProxyType({
    "ph": "pH", "ph值": "pH",
    "do": "DO", "溶解氧": "DO", "dissolved_oxygen": "DO",
    "codmn": "CODMn", "高锰酸盐指数": "CODMn", "permanganate_index": "CODMn",
    "cod": "COD", "codcr": "COD", "化学需氧量": "COD",
    "bod5": "BOD5", "bod": "BOD5", "五日生化需氧量": "BOD5",
    "nh3-n": "NH3-N", "nh3n": "NH3-N", "nh3_n": "NH3-N", "氨氮": "NH3-N", "ammonia": "NH3-N",
    "tp": "TP", "总磷": "TP", "total_phosphorus": "TP",
    "tn": "TN", "总氮": "TN", "total_nitrogen": "TN",
    "cu": "Cu", "铜": "Cu", "zn": "Zn", "锌": "Zn",
    "f": "F", "氟化物": "F", "fluoride": "F",
    "se": "Se", "硒": "Se", "as": "As", "砷": "As", "hg": "Hg", "汞": "Hg",
    "cd": "Cd", "镉": "Cd", "cr6+": "Cr6+", "六价铬": "Cr6+", "铬（六价）": "Cr6+",
    "铬(六价)": "Cr6+", "cr(vi)": "Cr6+", "pb": "Pb", "铅": "Pb",
    "cn": "CN", "氰化物": "CN", "cyanide": "CN",
    "volatile_phenol": "volatile_phenol", "挥发酚": "volatile_phenol", "phenol": "volatile_phenol",
    "petroleum": "petroleum", "石油类": "petroleum", "oil": "petroleum",
    "las": "LAS", "阴离子表面活性剂": "LAS",
    "sulfide": "sulfide", "硫化物": "sulfide",
    "fecal_coliform": "fecal_coliform", "粪大肠菌群": "fecal_coliform",
})

#: Section status by class (评价办法, 断面水质定性评价分级).
SECTION_STATUS = MappingProxyType({1: "优", 2: "优", 3: "良好", 4: "轻度污染", 5: "中度污染",
                                   6: "重度污染"})

#: Basin status grades (评价办法, 河流、流域（水系）水质定性评价分级), checked in order;
#: shares in % of sections: (grade, [low, high) of the I–III share, [low, high) of 劣V).
#: 优: I–III ≥ 90; 良好: 75 ≤ I–III < 90; 轻度污染: I–III < 75 and 劣V < 20;
#: 中度污染: I–III < 75 and 20 ≤ 劣V < 40; 重度污染: I–III < 75 and 劣V ≥ 40.
#: The 重度 row is written 'I–III < 75 %' in the Shenzhen bureau's statement of the 办法
#: and 'I–III < 60 %' in some summaries; as I–III + 劣V ≤ 100 %, the two differ only at the
#: single point I–III = 60 %, 劣V = 40 %, which is 重度污染 here.
BASIN_GRADES: tuple[tuple[str, tuple[float, float], tuple[float, float]], ...] = (
    ("优", (90.0, float("inf")), (-float("inf"), float("inf"))),
    ("良好", (75.0, 90.0), (-float("inf"), float("inf"))),
    ("轻度污染", (-float("inf"), 75.0), (-float("inf"), 20.0)),
    ("中度污染", (-float("inf"), 75.0), (20.0, 40.0)),
    ("重度污染", (-float("inf"), 75.0), (40.0, float("inf"))),
)
#: The 办法 evaluates a river or basin with fewer sections than this from the mean
#: concentrations of its sections, as one section.
BASIN_MIN_SECTIONS = 5


def canonical_parameter(name: str) -> str | None:
    """'氨氮', 'nh3n', 'NH3-N' → 'NH3-N'; None when unknown."""
    if name is None:
        return None
    text = str(name).strip()
    if text in TABLE_1:
        return text
    key = text.lower().replace(" ", "").replace("（", "(").replace("）", ")")
    key = key.split("(mg/l)")[0]
    return PARAMETER_ALIASES.get(key) or PARAMETER_ALIASES.get(key.replace("(", "（").replace(")", "）"))


def parameter_limits(name: str) -> ParameterLimits:
    """The Table 1 limits of an item; an unknown name lists the valid ones."""
    canonical = canonical_parameter(name)
    if canonical is None:
        raise NotFoundError("GB 3838-2002 Table 1 item", name, TABLE_1)
    return TABLE_1[canonical]
