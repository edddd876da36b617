"""Where and when to build: a site-selection and build-out optimiser (a MILP on HiGHS) around the pipeline.

``load_portfolio(path)`` validates a portfolio file; ``optimize(portfolio, time_limit=, gap=)`` returns the
plan, its cost, unmet demand, shadow prices and the plan's figures from the pipeline.
"""

from __future__ import annotations

from neocloud.optimize.economics import UnitEconomics, unit_economics
from neocloud.optimize.portfolio import Portfolio, load_portfolio, validate_portfolio
from neocloud.optimize.solve import optimize

__all__ = ["Portfolio", "UnitEconomics", "load_portfolio", "optimize", "unit_economics", "validate_portfolio"]
