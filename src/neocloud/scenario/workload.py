"""What the campus runs: training or inference, a reference training job and a served model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from neocloud.catalog import world_default
from neocloud.scenario.types import Num, Section


class JobClass(Section):
    """Jobs of one size in the campus's training mix."""

    accelerators: int = Field(gt=0, description="Accelerators per job of this class.")
    share: float = Field(gt=0, le=1, description="Share of the training accelerators that run jobs of this class.")


class Workload(Section):
    """How the IT load behaves, the reference training run measured on the campus, and the served model.

    Unset times (checkpoint write, restart) come from the catalog's ``training_parameters``.
    """

    kind: Literal["training", "inference", "mixed"] = Field(
        default="training", description="Dominant workload."
    )
    params: float = Field(
        default=world_default("workload.params"), gt=0, description="Reference training run: parameters (total)."
    )
    tokens: float = Field(
        default=world_default("workload.tokens"), gt=0, description="Reference training run: training tokens."
    )
    active_params: float | None = Field(
        default=None,
        gt=0,
        description="Reference run: parameters active per token (mixture of experts); default all.",
    )
    precision: Literal["bf16", "fp8"] = Field(
        default="bf16", description="Precision of the reference run's matmuls."
    )
    job_accelerators: int | None = Field(
        default=None, gt=0, description="Accelerators in the reference job; default the whole campus."
    )
    checkpoint_minutes: Num | Literal["auto"] = Field(
        default="auto", description="Minutes of work between checkpoints, or 'auto' for the best interval."
    )
    checkpoint_write_minutes: Num | None = Field(
        default=None, description="Blocking minutes to write one checkpoint; default from the catalog."
    )
    restart_minutes: Num | None = Field(
        default=None,
        description="Minutes to restart after an interruption, a spare at hand; default from the catalog.",
    )
    hot_spares: int | Literal["auto"] = Field(
        default="auto",
        description="Hot spare accelerators for the job, or 'auto' (sized for the catalog's probability).",
    )
    failure_rate_scale: Num = Field(
        default=1.0, description="Multiplier on the catalog failure rates (1 = the Llama 3 calibration)."
    )
    serve_params: float = Field(default=70e9, gt=0, description="Served model: parameters (total).")
    serve_active_params: float | None = Field(
        default=None, gt=0, description="Served model: parameters active per token; default all."
    )
    serve_bytes_per_param: float = Field(
        default=1.0, gt=0, description="Served model: bytes per weight (1 = FP8)."
    )
    serve_kv_bytes_per_token: float = Field(
        default=163840.0,
        ge=0,
        description="Served model: KV bytes per context token (Llama 3 70B, GQA, FP8: 80 x 8 x 128 x 2).",
    )
    serve_context_tokens: int = Field(
        default=4096, gt=0, description="Served model: context tokens per sequence."
    )
    serving_share: float | None = Field(
        default=None, ge=0, le=1,
        description="Share of the accelerators serving inference; default 0 (training), 1 (inference), 0.5 (mixed).",
    )
    serve_model: str | None = Field(
        default=None, description="Served model: a catalog model id (models table); overrides serve_params."
    )
    serve_precision: Literal["bf16", "fp8", "fp4"] | None = Field(
        default=None, description="Served model: weight precision; default fp8 where the chip has it, else bf16."
    )
    serve_input_tokens: float | None = Field(
        default=None, gt=0, description="Served requests: prompt tokens (mean); default from the catalog."
    )
    serve_output_tokens: float | None = Field(
        default=None, gt=0, description="Served requests: generated tokens (mean); default from the catalog."
    )
    serve_ttft_ms: float | None = Field(
        default=None, gt=0, description="Served requests: time-to-first-token target (P99), ms; default none."
    )
    serve_tpot_ms: float | None = Field(
        default=None, gt=0, description="Served requests: time-per-output-token target (P99), ms; default none."
    )
    job_mix: list[JobClass] | None = Field(
        default=None,
        description="Training jobs by size; the campus's goodput is the mix's (default: one reference job).",
    )

    @model_validator(mode="after")
    def _shares_add_up(self) -> Workload:
        if self.job_mix is not None and sum(job.share for job in self.job_mix) > 1.0 + 1e-9:
            raise ValueError("job_mix shares add up to more than 1")
        return self
