"""Global feature importance, summed securely (docs/explain.md, *Global feature importance*).

Each member permutes one *original* column at a time (a categorical column's one-hot block,
a numeric column with its missing-value indicator) in its own held-out rows and measures the
rise in log-loss of the global model — scikit-learn's ``permutation_importance`` on the
model seen as a classifier of the original columns (:func:`released_classifier`): log-loss
is smooth, and defined on a small or one-class sample where AUC is not. Its vector v (one
value per column) and its row count n become one fixed-point measurement
u = (n/W)·[clip(v, ±b), clip(v, ±b)², 1]; PINE bounds ‖u‖₂, and the aggregators release
only Σu: the row-weighted mean, the weighted mean of squares (so the spread across members)
and Σn/W — never one member's vector.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from veil.aggregation.client import clip_update, effective_clip
from veil.aggregation.fl_bridge import SecureAggregation, SecureOptions
from veil.aggregation.vdafs import choose_num_frac_bits
from veil.errors import DataError
from veil.fl.models import ModelSpec
from veil.fl.pipeline import TableClient
from veil.fl.preprocess import Preprocessor

if TYPE_CHECKING:
    import pandas as pd

METHOD = "permutation importance (rise in log-loss)"
#: share of each member's rows it keeps out of training to measure importance on
VALIDATION_FRACTION = 0.1


@dataclass(frozen=True)
class ImportanceSettings:
    """How importance is measured and aggregated (the defaults are the demo's)."""

    repeats: int = 20  # permutations per column, averaged
    bound: float = 1.0  # b: a member's per-column value is clipped to [-b, b] nats
    seed: int = 0
    noise_multiplier: float = 0.0  # z of the secure sum's DP noise (σ = z·C); 0: off
    delta: float = 1e-5


@dataclass(frozen=True)
class HeldOut:
    """A member's held-out rows; they stay on its side (``loader`` runs there)."""

    name: str
    loader: Callable[[], pd.DataFrame]


def carve(
    clients: Sequence[TableClient], fraction: float = VALIDATION_FRACTION, seed: int = 0
) -> tuple[list[TableClient], list[HeldOut]]:
    """Each member keeps ``fraction`` of its rows out of training: (training clients on the
    rest, the held-out parts). The split is seeded by (seed, name), so ``--resume`` and
    re-runs see the same rows."""
    if not 0 < fraction < 1:
        raise DataError("the held-out fraction must be between 0 and 1")

    def part(c: TableClient, keep: bool) -> Callable[[], pd.DataFrame]:
        def load() -> pd.DataFrame:
            frame = c.frame()
            rng = np.random.default_rng([seed, zlib.crc32(c.name.encode())])
            held = rng.random(len(frame)) < fraction
            return frame[~held] if keep else frame[held]

        return load

    train = [TableClient(c.name, part(c, True)) for c in clients]
    return train, [HeldOut(c.name, part(c, False)) for c in clients]


def feature_groups(prep: Preprocessor) -> list[tuple[str, np.ndarray]]:
    """(original column, its encoded columns): a numeric column with its ``__missing``
    indicator, a categorical column with its whole one-hot block (permuted together)."""
    numeric = list(prep.schema.numeric)
    offset = len(numeric) + len(prep.indicators)
    groups = []
    for i, col in enumerate(numeric):
        extra = [len(numeric) + prep.indicators.index(col)] if col in prep.indicators else []
        groups.append((col, np.asarray([i, *extra])))
    for col, levels in zip(prep.schema.categorical, prep.levels, strict=True):
        groups.append((col, np.arange(offset, offset + len(levels))))
        offset += len(levels)
    return groups


def columns(prep: Preprocessor) -> list[str]:
    """The original columns, in :func:`feature_groups`' order: what is permuted."""
    return [*prep.schema.numeric, *prep.schema.categorical]


def released_classifier(prep: Preprocessor, spec: ModelSpec, vec: np.ndarray):
    """The released model as a scikit-learn classifier over a frame of *original* columns:
    ``predict_proba`` applies the consortium's preprocessor, then the model, so permuting
    one column of the frame moves its whole encoded block (one-hot levels, or the number
    with its ``__missing`` indicator). ``fit`` does nothing: the model is already trained.

    The preprocessor encodes cell by cell (a column's block depends on that cell alone), so
    the encoding of each distinct value is kept once computed: a permuted frame holds no new
    value and is encoded by lookup instead of a pandas pass (4 ms a call on 140 rows, and
    sklearn calls 20 times per column)."""
    # lazy: scikit-learn (≈1 s), torch and pandas only when importance is measured
    import pandas as pd
    import torch
    from sklearn.base import BaseEstimator, ClassifierMixin

    from veil.fl.models import build_model  # lazy: follows torch
    from veil.fl.params import set_vector  # lazy: follows torch

    target, placeholder = prep.schema.target, prep.classes[0]  # transform wants a target
    groups = feature_groups(prep)

    def key(v: object) -> object:
        return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v

    class ReleasedModel(ClassifierMixin, BaseEstimator):
        def __init__(self, prep=prep, spec=spec, vec=vec):
            self.prep, self.spec, self.vec = prep, spec, vec
            self.classes_ = np.arange(spec.n_classes)
            self.module = build_model(spec)
            set_vector(self.module, np.asarray(vec, dtype=np.float32))
            self.module.eval()
            self.seen: dict[str, dict] = {col: {} for col, _ in groups}

        def fit(self, x=None, y=None):
            return self

        def encode(self, frame: pd.DataFrame) -> np.ndarray:
            """``prep.transform``'s x for ``frame``, by lookup when every value is known."""
            factors = [pd.factorize(frame[col], use_na_sentinel=False) for col, _ in groups]
            keys = [[key(u) for u in uniques] for _, uniques in factors]
            if all(k in self.seen[c] for (c, _), ks in zip(groups, keys, strict=True) for k in ks):
                x = np.empty((len(frame), self.prep.n_features), np.float32)
                for (col, idx), (codes, _), ks in zip(groups, factors, keys, strict=True):
                    table = np.stack([self.seen[col][k] for k in ks])
                    x[:, idx] = table[codes]
                return x
            x, _ = self.prep.transform(frame.assign(**{target: placeholder}))
            for (col, idx), (codes, _), ks in zip(groups, factors, keys, strict=True):
                _, first = np.unique(codes, return_index=True)
                self.seen[col].update(zip(ks, x[first][:, idx], strict=True))
            return x

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            with torch.no_grad():
                logits = self.module(torch.from_numpy(self.encode(frame)))
                return torch.softmax(logits.double(), dim=1).numpy()

        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return self.predict_proba(frame).argmax(axis=1)

    return ReleasedModel()


def permutation_importance(
    prep: Preprocessor,
    spec: ModelSpec,
    vec: np.ndarray,
    frame: pd.DataFrame,
    *,
    repeats: int = 5,
    seed: int | Sequence[int] = 0,
) -> np.ndarray:
    """Mean rise in log-loss when each original column of ``frame`` is permuted across
    rows (Breiman 2001; Fisher et al. 2019), ``repeats`` seeded permutations a column:
    scikit-learn's ``permutation_importance`` on :func:`released_classifier`, one value per
    column of :func:`columns`."""
    # lazy: scikit-learn (≈1 s) only when importance is measured
    from sklearn.inspection import permutation_importance as sk_permutation_importance
    from sklearn.metrics import log_loss, make_scorer

    frame = frame[frame[prep.schema.target].notna()]
    if len(frame) == 0:
        raise DataError("no rows to measure importance on")
    _, y = prep.transform(frame)
    # "neg_log_loss" with every class named, so a one-class held-out set is scored too
    scorer = make_scorer(
        log_loss, greater_is_better=False, response_method="predict_proba",
        labels=np.arange(spec.n_classes),
    )  # fmt: skip
    state = int(np.random.SeedSequence(seed).generate_state(1)[0])
    res = sk_permutation_importance(
        released_classifier(prep, spec, vec), frame[columns(prep)].reset_index(drop=True), y,
        scoring=scorer, n_repeats=repeats, random_state=state,
    )  # fmt: skip
    return np.asarray(res.importances_mean, np.float64)  # −(−LL₀) − (−LL₁) = LL₁ − LL₀


@dataclass(frozen=True)
class Codec:
    """The fixed-point measurement of (v, n) and its public bounds."""

    features: int
    bound: float  # b
    max_weight: int  # W: public; a member's weight n is capped at it

    @property
    def dimension(self) -> int:
        return 2 * self.features + 1

    @property
    def norm_bound(self) -> float:
        """‖u‖₂ of any honest member: the L2 bound C PINE enforces (with a rounding margin)."""
        b = self.bound
        return math.sqrt(self.features * (b * b + b**4) + 1) * 1.001 + 1e-3

    def encode(self, v: np.ndarray, n: int) -> np.ndarray:
        c = np.clip(np.asarray(v, np.float64), -self.bound, self.bound)
        return (min(int(n), self.max_weight) / self.max_weight) * np.concatenate([c, c * c, [1.0]])

    def decode(self, total: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(weighted mean, spread across members, Σn/W) from Σu."""
        f, cover = self.features, float(total[-1])
        if not cover > 0:
            raise DataError("the importance aggregate carries no weight")
        mean, sq = total[:f] / cover, total[f : 2 * f] / cover
        return mean, np.sqrt(np.maximum(sq - mean * mean, 0.0)), cover


def frac_bits(codec: Codec, noise_multiplier: float) -> int:
    """PINE's fixed-point precision for this codec (the plain sum rounds to it too)."""
    return choose_num_frac_bits(codec.norm_bound, codec.dimension, noise_multiplier)


def plain_sum(measurements: Sequence[np.ndarray], bits: int) -> np.ndarray:
    """Without ``--secure``: the same fixed-point rounding, summed in process."""
    scale = math.ldexp(1.0, bits)
    return np.rint(np.stack(measurements) * scale).sum(axis=0) / scale


def verified_sum(
    folder: Path,
    measurements: dict[str, np.ndarray],
    codec: Codec,
    settings: ImportanceSettings,
    *,
    min_reports: int = 1,
) -> tuple[np.ndarray, dict]:
    """Σu through a one-round task of its own: each member's signed PINE report sealed to
    the Leader and a Helper process, PINE's norm check, distributed noise (z·C)."""
    opts = SecureOptions(
        clip_norm=codec.norm_bound,
        noise_multiplier=settings.noise_multiplier,
        delta=settings.delta,
        max_weight=codec.max_weight,
        denominator=float(codec.max_weight),  # W/D = 1: the release is Σu itself
        min_reports=min_reports,
    )
    agg = SecureAggregation.start(folder, list(measurements), codec.dimension, 1, opts)
    try:
        clip = effective_clip(agg.cfg)
        # each member seals its own report; in this one-process demo the loop plays them
        reports = [
            agg.builders[name].build_from_measurement(1, clip_update(u, clip)).encode()
            for name, u in measurements.items()
        ]
        res = agg.aggregate(1, reports)
        eps = agg.ledger.step()
        info = {
            "aggregation": "verified (PINE, 2 aggregators)",
            "num_frac_bits": agg.leader.vdafs.num_frac_bits,
            "accepted": list(res.accepted),
            "rejected": [{"member": c, "reason": r} for c, r in res.rejected],
            "epsilon": eps if math.isfinite(eps) else None,
        }
    finally:
        agg.close()
    return np.asarray(res.aggregate, np.float64), info


def member_vector(
    member: HeldOut,
    prep: Preprocessor,
    spec: ModelSpec,
    vec: np.ndarray,
    settings: ImportanceSettings,
) -> tuple[np.ndarray, int]:
    """On the member's side: its importance vector and its held-out row count."""
    frame = member.loader()
    v = permutation_importance(
        prep, spec, vec, frame, repeats=settings.repeats,
        seed=[settings.seed, zlib.crc32(member.name.encode())],
    )  # fmt: skip
    return v, int(frame[prep.schema.target].notna().sum())


def global_importance(
    members: Sequence[HeldOut],
    prep: Preprocessor,
    spec: ModelSpec,
    vec: np.ndarray,
    *,
    settings: ImportanceSettings = ImportanceSettings(),
    secure_folder: Path | None = None,
    max_weight: int | None = None,
    reference: pd.DataFrame | None = None,
) -> dict:
    """report.json's ``importance``: every member's measurement, summed (verified when
    ``secure_folder`` is given, else plainly), decoded into mean and spread per column;
    with ``reference`` rows, also the checks of :func:`with_reference` against them and
    against the members' held-out rows pooled.

    ``max_weight`` (W) defaults to the members' total held-out rows, a count they announce
    as they announce their training rows for preprocessing."""
    names = [g[0] for g in feature_groups(prep)]
    local = {m.name: member_vector(m, prep, spec, vec, settings) for m in members}
    codec = Codec(len(names), settings.bound, max_weight or sum(n for _, n in local.values()))
    measured = {name: codec.encode(v, n) for name, (v, n) in local.items()}  # members' side
    if secure_folder is None:
        bits = frac_bits(codec, settings.noise_multiplier)
        total = plain_sum(list(measured.values()), bits)
        info = {"aggregation": "plain sum (no --secure)", "num_frac_bits": bits, "epsilon": None}
    else:
        total, info = verified_sum(Path(secure_folder), measured, codec, settings)
    mean, spread, cover = codec.decode(total)
    order = np.argsort(-mean, kind="stable")
    section = {
        "method": f"{METHOD}, {settings.repeats} permutations per column, on each member's "
        "held-out rows",
        "metric": "log_loss",
        **info,
        "members": len(members),
        "rows": round(cover * codec.max_weight),
        "bound": settings.bound,
        "noise_multiplier": settings.noise_multiplier,
        "features": [
            {"name": names[i], "value": float(mean[i]), "spread": float(spread[i])} for i in order
        ],
    }
    if reference is None:
        return section
    # lazy: pandas is loaded with the pipeline already; only this check pools frames
    import pandas as pd

    frames = {
        "the members' held-out rows, pooled": pd.concat([m.loader() for m in members]),
        "the held-out evaluation rows": reference,
    }
    return with_reference(section, prep, spec, vec, frames, settings)


def pooled_importance(
    prep: Preprocessor,
    spec: ModelSpec,
    vec: np.ndarray,
    frame: pd.DataFrame,
    settings: ImportanceSettings = ImportanceSettings(),
) -> dict[str, float]:
    """The same method on pooled rows (the yardstick: what the consortium avoids)."""
    v = permutation_importance(prep, spec, vec, frame, repeats=settings.repeats, seed=settings.seed)
    return {name: float(val) for name, val in zip(columns(prep), v, strict=True)}


def agreement(features: Sequence[dict], reference: dict[str, float], top: int = 5) -> dict:
    """Spearman ρ between two rankings of the same columns, and whether the top ``top``
    agree as sets."""
    from scipy.stats import spearmanr  # lazy: scipy (≈0.3 s) only for this check

    names = [f["name"] for f in features]
    ours = np.asarray([f["value"] for f in features])
    theirs = np.asarray([reference[n] for n in names])
    rho = float(spearmanr(ours, theirs).statistic)
    ref_top = sorted(reference, key=lambda n: -reference[n])[:top]
    return {"spearman": rho, "top": top, "same_top": set(names[:top]) == set(ref_top)}


def with_reference(
    section: dict,
    prep: Preprocessor,
    spec: ModelSpec,
    vec: np.ndarray,
    frames: dict[str, pd.DataFrame],
    settings: ImportanceSettings = ImportanceSettings(),
) -> dict:
    """``section`` plus ``reference``: how its ranking agrees with the same method on each
    of ``frames`` pooled (label -> rows) — a check computed for the report only, as the
    pooled baseline is: it is what the consortium avoids."""
    section["reference"] = []
    for label, frame in frames.items():
        ref = pooled_importance(prep, spec, vec, frame, settings)
        ranked = sorted(ref.items(), key=lambda t: -t[1])
        section["reference"].append(
            {
                "on": label,
                "rows": len(frame),
                **agreement(section["features"], ref),
                "features": [{"name": n, "value": v} for n, v in ranked],
            }
        )
    return section


def lines(section: dict, top: int = 5) -> list[str]:
    """What the demo prints: the top columns with their spread, and the checks."""
    feats = ", ".join(
        f"{f['name']} {f['value']:.3f} ± {f['spread']:.3f}" for f in section["features"][:top]
    )
    out = [f"importance ({section['aggregation']}): {feats}"]
    out += [
        f"ranking vs the same method on {r['on']} ({r['rows']}): Spearman ρ = "
        f"{r['spearman']:.2f}, same top {r['top']}: {r['same_top']}"
        for r in section.get("reference", [])
    ]
    return out
