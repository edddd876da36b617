"""Named conversion constants; no bare numbers for units elsewhere."""

from __future__ import annotations

HOURS_PER_DAY = 24
DAYS_PER_YEAR = 365
HOURS_PER_YEAR = HOURS_PER_DAY * DAYS_PER_YEAR  # 8,760: a typical (non-leap) year
MONTHS_PER_YEAR = 12
HOURS_PER_MONTH = HOURS_PER_YEAR / MONTHS_PER_YEAR  # 730
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = SECONDS_PER_HOUR * HOURS_PER_DAY
W_PER_KW = 1e3
KW_PER_MW = 1e3
W_PER_MW = 1e6
KWH_PER_MWH = 1e3
G_PER_T = 1e6
KG_PER_T = 1e3
L_PER_M3 = 1e3
FLOP_PER_TFLOP = 1e12
TFLOP_PER_PFLOP = 1e3
MMBTU_PER_MWH = 3.412142  # thermal content of 1 MWh
BTU_PER_KWH_PER_MMBTU_PER_MWH = 1e3  # heat rate in Btu/kWh equals MMBtu/MWh x 1,000
DAYS_PER_WEEK = 7
