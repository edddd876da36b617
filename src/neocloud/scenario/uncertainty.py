"""How uncertain inputs are sampled and how they relate: the sampler and rank correlations."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from neocloud.scenario.types import Section

Sampler = Literal["latin-hypercube", "sobol", "random"]


class Correlation(Section):
    """A rank (Spearman) correlation between two uncertain inputs, named by their dotted field paths."""

    a: str = Field(description="Dotted path of the first input, e.g. finance.utilisation.")
    b: str = Field(description="Dotted path of the second input.")
    rho: float = Field(ge=-1, le=1, description="Spearman rank correlation between the two inputs (-1 to 1).")

    @model_validator(mode="after")
    def _distinct(self) -> Correlation:
        if self.a == self.b:
            raise ValueError(f"a correlation needs two different inputs; both are '{self.a}'")
        return self


class Uncertainty(Section):
    """Options of the sampling of uncertain inputs."""

    sampler: Sampler = Field(
        default="latin-hypercube",
        description="How the unit hypercube is filled: latin-hypercube (stratified), sobol (scrambled "
                    "low-discrepancy) or random (plain Monte Carlo).")
    correlations: list[Correlation] = Field(
        default_factory=list,
        description="Rank correlations between uncertain inputs (Iman-Conover; marginals are kept exactly).")

    @model_validator(mode="after")
    def _pairs_once(self) -> Uncertainty:
        pairs = [tuple(sorted((item.a, item.b))) for item in self.correlations]
        repeated = sorted({f"{a} ~ {b}" for a, b in pairs if pairs.count((a, b)) > 1})
        if repeated:
            raise ValueError(f"each pair may be correlated once; repeated: {', '.join(repeated)}")
        return self
