"""The task's two VDAFs: PINE for the clipped update, Prio3Sum for a report count.

docs/protocol.md §4: the update u = (w/W)·clip(Δ, C) is a PINE measurement (Pine64,
draft-chen-cfrg-vdaf-pine-02) with L2 bound C; the client scales by its own weight w before
sharding, so PINE's bound is all that limits its influence (Σu·W/D, fixed D). The second slot
is a Prio3Sum (draft-irtf-cfrg-vdaf-20 §7.4.2) with max_measurement 1 carrying the constant 1:
it keeps the report format and the Helper unchanged, and its sum is the number of accepted
reports, which the round's accepted list already makes public. No weight is measured, so no
total weight is released (docs/dp.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from veil.aggregation.config import ConsortiumConfig
from veil.errors import ConfigError
from veil.vdaf.pine import Pine64, norm_bound_from_float, optimal_chunk_length
from veil.vdaf.prio3 import Prio3Sum

MAX_FRAC_BITS = 24
#: what every client puts in the Prio3Sum slot (and its range): one report
COUNT_MEASUREMENT = 1


def _pine(clip_norm: float, frac_bits: int, dimension: int) -> Pine64:
    return Pine64(
        norm_bound_from_float(clip_norm, frac_bits),
        frac_bits,
        dimension,
        chunk_length=optimal_chunk_length(dimension),
        num_shares=2,
    )


def choose_num_frac_bits(clip_norm: float, dimension: int, noise_multiplier: float) -> int:
    """The largest f ≤ 24 that PINE accepts for (C, d); checked against the DP noise (§4.2).

    Rounding moves a coordinate by ≤ 2^-(f+1); with noise on, that must stay below 1/100 of
    the per-coordinate noise σ = z·C.
    """
    chosen = None
    for f in range(MAX_FRAC_BITS, 0, -1):
        try:
            _pine(clip_norm, f, dimension)
        except ConfigError:
            continue
        chosen = f
        break
    if chosen is None:
        raise ConfigError(f"no num_frac_bits in [1, {MAX_FRAC_BITS}] fits PINE for C={clip_norm}")
    check_rounding(chosen, clip_norm, noise_multiplier)
    return chosen


def check_rounding(frac_bits: int, clip_norm: float, noise_multiplier: float) -> None:
    if noise_multiplier > 0 and 2.0 ** -(frac_bits + 1) > noise_multiplier * clip_norm / 100:
        raise ConfigError(
            f"num_frac_bits={frac_bits} rounds by up to 2^-{frac_bits + 1}, not below 1/100 of "
            f"the noise σ={noise_multiplier * clip_norm:g}; use a larger clip_norm or noise"
        )


@dataclass(frozen=True)
class TaskVdafs:
    """Both VDAFs of a task, built identically by clients and aggregators."""

    pine: Pine64
    weight: Prio3Sum  # the report-count slot (max 1), not a sample-count weight
    ctx: bytes  # Prio3 application context
    num_frac_bits: int
    norm_bound_int: int  # DP sensitivity in integer units (PINE bounds the encoded norm)

    @classmethod
    def for_config(cls, cfg: ConsortiumConfig) -> TaskVdafs:
        f = cfg.num_frac_bits or choose_num_frac_bits(
            cfg.clip_norm, cfg.dimension, cfg.dp.noise_multiplier
        )
        check_rounding(f, cfg.clip_norm, cfg.dp.noise_multiplier)
        pine = _pine(cfg.clip_norm, f, cfg.dimension)
        return cls(
            pine=pine,
            weight=Prio3Sum(2, COUNT_MEASUREMENT),
            ctx=b"veil/v1/agg" + cfg.task_id,
            num_frac_bits=f,
            norm_bound_int=pine.params.l2_norm_bound,
        )

    @property
    def scale(self) -> float:
        return math.ldexp(1.0, self.num_frac_bits)
