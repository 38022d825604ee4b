"""The tabular federated pipeline shared by ``veil train`` and the consortium demos.

1. every client summarises its own rows (:func:`veil.fl.preprocess.local_stats`); the
   coordinator merges the summaries and fits one :class:`Preprocessor` — no row is pooled;
2. every client encodes its own rows with it and trains in the federation
   (:func:`veil.fl.runner.run_federated`);
3. for the report only, the same model is also trained on the pooled rows (centralised
   baseline) and on each client's rows alone (local-only baselines).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import DataError
from veil.fl.baselines import compare
from veil.fl.models import ModelKind, ModelSpec
from veil.fl.preprocess import Preprocessor, Schema, TableStats, local_stats
from veil.fl.round_record import RoundRecord
from veil.fl.runner import Checkpointer, RunConfig, RunResult, run_federated
from veil.fl.strategies import FedAvg
from veil.fl.training import ClientUpdate, TrainConfig, evaluate, local_update

if TYPE_CHECKING:
    import pandas as pd

    from veil.fl.verified import VerifiedBackend


@dataclass
class TableClient:
    """One institution: its rows come from ``loader`` (e.g. opening its sealed shard) and
    stay in this object; only statistics and model updates leave it."""

    name: str
    loader: Callable[[], pd.DataFrame]
    _frame: pd.DataFrame | None = field(default=None, repr=False)
    _xy: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _spec: ModelSpec | None = field(default=None, repr=False)

    def frame(self) -> pd.DataFrame:
        """The client's rows (loaded once)."""
        if self._frame is None:
            self._frame = self.loader()
            if len(self._frame) == 0:
                raise DataError(f"partition {self.name!r} is empty")
        return self._frame

    def stats(self, schema: Schema) -> TableStats:
        """The summary this client shares for preprocessing."""
        s = local_stats(self.frame(), schema)
        if s.rows == 0:
            raise DataError(f"partition {self.name!r} has no rows with a target value")
        return s

    def prepare(self, prep: Preprocessor, spec: ModelSpec) -> None:
        """Encode the client's rows with the federation's preprocessor."""
        self._xy = prep.transform(self.frame())
        self._spec = spec

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Encoded rows (used by the local-only and pooled *baselines* only)."""
        if self._xy is None:
            raise DataError(f"client {self.name!r} was not prepared")
        return self._xy

    def fit(
        self, global_vec: np.ndarray, cfg: TrainConfig, *, seed: int, record_dp=None
    ) -> ClientUpdate:
        """Local training on this client's rows (DP-SGD with ``record_dp``)."""
        assert self._spec is not None
        x, y = self.arrays()
        return local_update(self._spec, global_vec, x, y, cfg, seed=seed, record_dp=record_dp)


@dataclass
class PipelineResult:
    """The trained model, its preprocessing, and the report's learning sections."""

    spec: ModelSpec
    prep: Preprocessor
    result: RunResult
    baselines: dict
    test_rows: int
    #: the members' statistics merged (what the preprocessor was fitted on; no rows)
    stats: TableStats | None = None


def merged_stats(clients: Sequence[TableClient], schema: Schema) -> TableStats:
    """The clients' statistics merged: counts, sums and level counts, never a row."""
    merged = TableStats()
    for c in clients:
        merged = merged.merge(c.stats(schema))
    return merged


def fit_preprocessor(clients: Sequence[TableClient], schema: Schema) -> Preprocessor:
    """Merge the clients' statistics and fit one preprocessor."""
    return Preprocessor.fit(schema, merged_stats(clients, schema))


def federate(
    clients: Sequence[TableClient],
    test_frame: pd.DataFrame,
    schema: Schema,
    *,
    model: ModelKind,
    hidden: tuple[int, ...],
    strategy: FedAvg,
    cfg: RunConfig,
    checkpointer: Checkpointer | None = None,
    resume: bool = False,
    on_round: Callable[[RoundRecord], None] | None = None,
    baselines: bool = True,
    secure: VerifiedBackend | None = None,
) -> PipelineResult:
    """Run steps 1-3 of the module docstring."""
    stats = merged_stats(clients, schema)
    prep = Preprocessor.fit(schema, stats)
    spec = ModelSpec(model, prep.n_features, len(prep.classes), hidden)
    for c in clients:
        c.prepare(prep, spec)
    x_te, y_te = prep.transform(test_frame)

    def ev(vec: np.ndarray):
        return evaluate(spec, vec, x_te, y_te)

    result = run_federated(
        spec,
        clients,
        strategy,
        cfg,
        evaluate=ev,
        checkpointer=checkpointer,
        resume=resume,
        on_round=on_round,
        secure=secure,
    )
    base = (
        compare(spec, [(c.name, *c.arrays()) for c in clients], cfg, ev)
        if baselines
        else {"centralized": {}, "local_only": {}}
    )
    return PipelineResult(spec, prep, result, base, len(y_te), stats)


def holdout(frame: pd.DataFrame, target: str, fraction: float, seed: int):
    """A stratified held-out evaluation set (unstratified when a class is too rare)."""
    # lazy: scikit-learn (≈1 s) only for this step
    from sklearn.model_selection import train_test_split

    frame = frame[frame[target].notna()]
    y = frame[target].astype(str)
    strat = y if y.value_counts().min() >= 2 else None
    try:
        return train_test_split(frame, test_size=fraction, random_state=seed, stratify=strat)
    except ValueError as exc:
        raise DataError(f"cannot hold out {fraction:.0%} of {len(frame)} rows: {exc}") from exc
