"""The money inputs: who pays (business model, contracts, lease), how it is financed, and its asset lives."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from neocloud.catalog import world_default
from neocloud.scenario.types import Fraction, NonNegative, Positive, Rate, Section, YearMonth


class Contract(Section):
    """A committed GPU-cloud contract: a share of the fleet reserved for a term at a price per GPU-hour."""

    name: str = Field(description="Who the customer is (free text), e.g. Microsoft.")
    share: Fraction = Field(
        description="Share of the accelerators online that the contract reserves (fraction)."
    )
    price_usd_per_gpu_hour: Positive | None = Field(
        default=None, description="Contract price per GPU-hour (USD); give this or value_usd."
    )
    value_usd: Positive | None = Field(
        default=None, description="Total contract value (USD); the price is this over the reserved GPU-hours."
    )
    start: YearMonth | None = Field(
        default=None,
        description="First month of the term (YYYY-MM); default the first month GPUs are online.",
    )
    term_months: Positive = Field(default=60.0, description="Length of the term (months).")
    escalator_per_year: Rate = Field(default=0.0, description="Price change per year of the term (fraction).")
    take_or_pay_frac: Fraction = Field(
        default=1.0, description="Share of the reserved GPU-hours paid for whether used or not (fraction)."
    )
    prepayment_frac: Fraction = Field(
        default=0.0,
        description="Share of the contract's value the customer pays at the start of the term, credited "
        "evenly against its bills from prepayment_credit_start_years to the end of the term (fraction).",
    )
    prepayment_credit_start_years: NonNegative | None = Field(
        default=None, description="Years into the term at which the prepayment starts to be credited; "
        "default the catalog's.",
    )
    credit: Literal["investment_grade", "non_investment_grade"] = Field(
        default="investment_grade",
        description="The offtaker's credit: sets the spread of a GPU-backed loan sized on this contract.",
    )
    at_expiry: Literal["spot", "recontract", "sell"] = Field(
        default="spot",
        description="What the reserved GPUs do after the term: spot (sold on demand), recontract (a new term "
        "of the same length at the price the market has fallen to) or sell (the GPUs are sold at their "
        "resale value).",
    )

    @model_validator(mode="after")
    def _one_price(self) -> Contract:
        if (self.price_usd_per_gpu_hour is None) == (self.value_usd is None):
            raise ValueError("give exactly one of price_usd_per_gpu_hour or value_usd")
        return self


class Lease(Section):
    """The developer's lease of the powered campus to a tenant who brings the IT (per kW of critical IT)."""

    rate_usd_per_kw_month: Positive | None = Field(
        default=None, description="Rent per kW of critical IT per month (USD); default the catalog's."
    )
    start: YearMonth | None = Field(
        default=None, description="Rent commencement (YYYY-MM); default the first month IT is online."
    )
    term_years: Positive | None = Field(
        default=None, description="Lease term (years); default the catalog's."
    )
    escalator_per_year: Rate | None = Field(
        default=None, description="Rent escalator per year (fraction); default the catalog's."
    )
    ramp_months: NonNegative = Field(
        default=0.0,
        description="Months over which rent on newly delivered capacity rises to full (0: at once).",
    )
    renewal_frac: Fraction | None = Field(
        default=None,
        description="Expected share of the capacity re-let after the term; default the catalog's.",
    )
    power_pass_through: bool = Field(
        default=True, description="The tenant reimburses the energy cost (usual in wholesale leases)."
    )
    tenant_fitout_frac: Fraction = Field(
        default=0.0,
        description="Share of the white-space fit-out (per rack) that the tenant pays for (fraction); "
        "1 for a powered shell.",
    )


class Colocation(Section):
    """A GPU cloud's own lease of space in someone else's campus: rent per kW of critical IT, no facility
    capex (the landlord's), the tenant's share of the white-space fit-out."""

    rate_usd_per_kw_month: Positive | None = Field(
        default=None, description="Rent per kW of critical IT per month (USD); default the catalog's."
    )
    escalator_per_year: Rate | None = Field(
        default=None, description="Rent escalator per year (fraction); default the catalog's."
    )
    tenant_fitout_frac: Fraction = Field(
        default=0.0, description="Share of the white-space fit-out (per rack) that the tenant pays (fraction)."
    )


class Tranche(Section):
    """A debt tranche: drawn with the capex it finances, interest capitalised to conversion, then repaid."""

    name: str = Field(description="Name of the tranche (free text), e.g. 'JPMorgan construction loan'.")
    kind: Literal["construction", "gpu"] = Field(
        default="construction",
        description="construction: finances the facility and converts to a term loan; gpu: GPU-backed loan.",
    )
    finances: Literal["facility", "it", "all"] | None = Field(
        default=None, description="Capex it is drawn against; default facility (construction) or it (gpu)."
    )
    share: Fraction | None = Field(default=None, description="Share of the financed capex lent (fraction).")
    amount_usd: Positive | None = Field(default=None, description="Amount lent (USD), drawn with the capex.")
    rate_per_year: Rate | None = Field(
        default=None, description="Interest rate per year, compounded monthly; default base rate plus spread."
    )
    upfront_fee_frac: Fraction | None = Field(
        default=None, description="Arrangement fee on each draw (fraction); default the catalog's."
    )
    tenor_years: Positive | None = Field(
        default=None, description="Years from conversion to maturity; default by kind from the catalog."
    )
    amortisation: Literal["level", "sculpted"] = Field(
        default="level",
        description="level: equal monthly payments; sculpted: payments a fixed share of CFADS.",
    )
    size_to_dscr: bool = Field(
        default=True,
        description="Cap the amount at what the cash flow carries at the target DSCR, net of the service of "
        "the tranches listed before it (lenders' sizing). false: lend the amount asked; a minimum DSCR "
        "below the covenant is then an error that gives the numbers.",
    )
    credit: Literal["investment_grade", "non_investment_grade"] | None = Field(
        default=None,
        description="GPU loan: the offtaker's credit, which sets the spread; default the first contract's.",
    )
    target_dscr: Positive | None = Field(
        default=None,
        description="The DSCR the loan is sized to (caps the amount); default the catalog's by kind.",
    )
    covenant_dscr: Positive | None = Field(
        default=None,
        description="Minimum trailing-12-month DSCR before a covenant breach; default the catalog's.",
    )

    @model_validator(mode="after")
    def _sized(self) -> Tranche:
        if self.share is not None and self.amount_usd is not None:
            raise ValueError("give share or amount_usd, not both")
        if self.share is None and self.amount_usd is None and not self.size_to_dscr:
            raise ValueError("give share or amount_usd (or size_to_dscr: true to size it by its target DSCR)")
        return self


class Finance(Section):
    """Inputs of the finance stage."""

    discount_rate: Rate = Field(
        default=world_default("finance.discount_rate"), description="Nominal discount rate per year (fraction)."
    )
    utilisation: Fraction = Field(
        default=world_default("finance.utilisation"),
        description="Share of accelerator-hours used; on-demand GPU-hours sold (fraction).",
    )
    power_price_usd_per_mwh: Positive | None = Field(
        default=None, description="Delivered power price; replaces the site's and the region's."
    )
    it_life_years: Positive = Field(
        default=world_default("finance.it_life_years"), description="Depreciation life of IT equipment (years)."
    )
    facility_life_years: Positive = Field(
        default=world_default("finance.facility_life_years"), description="Depreciation life of the facility (years)."
    )
    horizon_years: int = Field(
        default=int(world_default("finance.horizon_years")), ge=1, le=40,
        description="Years modelled from the scenario start.",
    )
    business_model: Literal["gpu_cloud", "lease", "owner_operator"] = Field(
        default="gpu_cloud",
        description="gpu_cloud: owns the accelerators and sells GPU-hours; lease: leases the powered campus "
        "to a tenant who owns the IT; owner_operator: runs its own cluster (see owner_value).",
    )
    owner_value: Literal["rent", "cost"] = Field(
        default="rent",
        description="owner_operator: value the GPU-hours used at what renting them would cost (the on-demand "
        "price path), or count cost only (no revenue: the cost per GPU-hour is the answer).",
    )
    refresh_after_years: Positive | None = Field(
        default=None,
        description="Refresh the fleet: each cohort of GPUs is sold at its resale value after this many years "
        "and replaced by the next generation at the same capex, which earns the on-demand launch price again "
        "(GPU cloud and owner-operator). None: the fleet ages to the horizon.",
    )
    land: Literal["owned", "leased"] = Field(
        default="owned", description="owned: land is bought with the capex; leased: a ground rent instead."
    )
    price_usd_per_gpu_hour: Positive | None = Field(
        default=None,
        description="On-demand price per GPU-hour at the first month online; default the catalog's.",
    )
    price_change_per_year: Rate | None = Field(
        default=None, description="Change per year of the on-demand price (fraction); default the catalog's."
    )
    contracts: list[Contract] = Field(
        default_factory=list, description="Committed GPU-cloud contracts, served in order from the fleet."
    )
    lease: Lease = Field(default_factory=Lease, description="The lease (business_model: lease).")
    colocation: Colocation | None = Field(
        default=None,
        description="The owner rents the powered space (a GPU cloud in a colocation campus) instead of "
        "building it: rent per kW-month of critical IT online replaces the facility capex.",
    )
    debt: list[Tranche] = Field(default_factory=list, description="Debt tranches; equity funds the rest.")
    tax_rate: Rate | None = Field(
        default=None, description="Corporate income tax rate (fraction); default the region's."
    )
    exit_ebitda_multiple: NonNegative | None = Field(
        default=None,
        description="Terminal value at the horizon over the last year's EBITDA; default by business model.",
    )
    valuation_usd: Positive | None = Field(
        default=None,
        description="A stated valuation of the owner (USD) to set against the enterprise value; "
        "in a programme, the company's, set against all of its campuses.",
    )
