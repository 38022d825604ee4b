"""Per-decision explanations where the row lives (docs/explain.md, *One decision*).

A member explains one of its own applicants with the released global model: exact Shapley
values (Shapley 1953; the SHAP attribution of Lundberg & Lee 2017, interventional form),
computed by shap's ``KernelExplainer``, of the model's log-odds over the table's *original*
columns — a categorical column's one-hot block and a numeric column's missing-value
indicator move as one player. The reference point is a
single synthetic applicant built from the consortium's aggregated preprocessing statistics
(:func:`background_row`: every numeric column at its consortium mean, every categorical one
at its most frequent level), never from another member's rows. With one reference point the
value of a coalition S is f(x_S, b_rest), so the values sum exactly to f(x) − f(b)
(efficiency) and a column equal to its reference value gets 0.

Up to :data:`MAX_EXACT` columns Kernel SHAP evaluates every coalition (2^k − 2 model rows,
one batch) and is exact; beyond that it samples :data:`SAMPLES` coalitions (still efficient).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from veil.crypto.seal import atomic_write
from veil.errors import DataError, VeilError
from veil.fl.models import ModelSpec
from veil.fl.preprocess import (
    Preprocessor,
    TableStats,
    preprocessor_from_dict,
    preprocessor_to_dict,
    stats_from_dict,
    stats_to_dict,
)

if TYPE_CHECKING:
    import pandas as pd

BACKGROUND = "consortium means and most frequent levels (aggregated preprocessing statistics)"
UNITS = "log-odds"
PREP_FORMAT = "veil-preprocessing/1"
PREP_FILE = "preprocessing.json"
MAX_EXACT = 14  # up to 14 columns differing from the reference: every coalition (exact)
SAMPLES = 2**MAX_EXACT  # more: Kernel SHAP's sampled coalitions (the same 16,384 model rows)


# ---------------------------------------------------------------- aggregated statistics


def write_preprocessing(path: Path, prep: Preprocessor, stats: TableStats) -> None:
    """Save the consortium's preprocessor and merged statistics beside a run's model: what
    a member needs to explain a decision without anyone's rows."""
    doc = {
        "format": PREP_FORMAT,
        "preprocessor": preprocessor_to_dict(prep),
        "stats": stats_to_dict(stats),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(path), (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())


def read_preprocessing(path: Path) -> tuple[Preprocessor, TableStats]:
    """Parse :func:`write_preprocessing` output."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the consortium's preprocessing from {path}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != PREP_FORMAT:
        raise DataError(f"{path} is not a {PREP_FORMAT} file")
    return preprocessor_from_dict(doc["preprocessor"]), stats_from_dict(doc["stats"])


def background_row(prep: Preprocessor, stats: TableStats) -> dict[str, float | str]:
    """The reference applicant, from aggregated statistics only (the signature takes no rows):
    numeric columns at the consortium mean, categorical ones at their most frequent level."""
    row: dict[str, float | str] = dict(zip(prep.schema.numeric, prep.means, strict=True))
    for col, levels in zip(prep.schema.categorical, prep.levels, strict=True):
        counts = stats.levels.get(col, {})
        if not levels:
            raise DataError(f"column {col!r} has no levels in the consortium's statistics")
        row[col] = max(levels, key=lambda lv: counts.get(lv, 0))  # ties: first in order
    return row


def risk_class(prep: Preprocessor, stats: TableStats) -> str:
    """The class explained by default: the rarer one (a default, a diagnosis) of two."""
    if len(prep.classes) == 2:
        return min(prep.classes, key=lambda c: (stats.classes.get(c, 0), c))
    return prep.classes[-1]


def released_model(
    run: Path, identity: Path | None = None, signer: str | None = None
) -> tuple[ModelSpec, np.ndarray]:
    """The global model of a run directory: its spec from ``report.json`` and its weights
    from ``checkpoint.sealed``, opened with ``identity`` (default ``keys/consortium.identity``)
    and accepted only if signed by the run's key. That key is public: ``signer`` (a
    ``veil:ed25519:…`` recipient, or a file holding one), else the run's
    ``keys/*-signing.recipient`` — a member needs no private signing key to check it."""
    import veil  # lazy: cryptography (≈50 ms), only to open the checkpoint
    from veil.crypto.keys import load_identities  # lazy: follows veil
    from veil.fl.checkpoint import from_bytes  # lazy: safetensors, only here

    run = Path(run)
    try:
        spec = ModelSpec.from_dict(json.loads((run / "report.json").read_text())["config"]["model"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{run / 'report.json'} does not describe the model: {exc}") from exc
    sender = run_signer(run, signer)
    ids = load_identities([identity or run / "keys" / "consortium.identity"])
    try:
        plain = veil.open((run / "checkpoint.sealed").read_bytes(), ids, verify_sender=sender)
    except (OSError, VeilError) as exc:
        raise DataError(f"the run's checkpoint does not open: {exc}") from exc
    return spec, from_bytes(plain).vector


SIGNERS = ("consortium-signing", "checkpoint-signing")  # the demos' and veil train's


def run_signer(run: Path, signer: str | None = None):
    """The Ed25519 public key the run's state files must be signed by: ``signer`` (text or
    a file), else ``keys/<name>.recipient``, else (a run folder of an older veil) the
    public half of ``keys/<name>.identity``."""
    from veil.crypto.keys import load_identities, parse_recipient  # lazy: cryptography
    from veil.crypto.signing import Ed25519PublicKey  # lazy: follows it

    keys = Path(run) / "keys"
    if signer is None:
        for name in SIGNERS:
            if (keys / f"{name}.recipient").exists():
                signer = str(keys / f"{name}.recipient")
                break
    if signer is not None:
        text = Path(signer).read_text() if Path(signer).is_file() else signer
        key = parse_recipient(text.strip())
        if not isinstance(key, Ed25519PublicKey):
            raise DataError(f"the signer must be an ed25519 public key, not {key.kind}")
        return key
    found = [keys / f"{n}.identity" for n in SIGNERS if (keys / f"{n}.identity").exists()]
    if not found:
        raise DataError(f"no signing key in {keys}: the checkpoint cannot be authenticated")
    return load_identities(found[:1])[0].recipient()


def member_table(path: Path, identity: Path | None = None) -> pd.DataFrame:
    """The member's own table: a CSV / Parquet file, or a sealed shard opened with its key."""
    from veil.crypto.keys import load_identities  # lazy: cryptography, only for a shard
    from veil.fl.data import read_table  # lazy: pandas (≈0.3 s)
    from veil.fl.sealed import open_table  # lazy: pandas and pyarrow

    if Path(path).suffix == ".sealed":
        if identity is None:
            raise DataError(f"{path} is sealed: give --identity (the member's key)")
        return open_table(Path(path), load_identities([identity]))
    return read_table(path)


# ---------------------------------------------------------------- Shapley values


def shap_values(
    model: Callable[[np.ndarray], np.ndarray],
    row: pd.DataFrame,
    background: pd.DataFrame,
    *,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(values (k, m), model(background) (m,)) of ``row`` (one row, k columns) against one
    ``background`` row, for ``model``: an (n, k) object array of those columns → (n, m).

    shap's ``KernelExplainer`` (Lundberg & Lee 2017) with the identity link and no L1
    selection. With one background row the value of a coalition S is model(x_S, b_rest);
    when ``nsamples`` ≥ 2^k − 2 Kernel SHAP evaluates every coalition and its weighted
    regression returns the exact Shapley values. Only the columns that differ from the
    background play (the others get exactly 0), so this holds up to :data:`MAX_EXACT`
    differing columns; beyond, shap samples :data:`SAMPLES` coalitions (the smallest and
    largest fully, the rest drawn by the Shapley kernel, seeded), still summing exactly to
    model(row) − model(background)."""
    import shap  # lazy: shap (≈1 s beyond torch and pandas) only to explain a decision

    k = row.shape[1]
    explainer = shap.KernelExplainer(model, background, link="identity")
    state = np.random.get_state()  # shap samples with numpy's global generator
    np.random.seed(seed)
    try:
        # shap caps nsamples at 2^k' − 2 (k' differing columns): every coalition up to 14
        phi = explainer.shap_values(row, nsamples=SAMPLES, l1_reg=False, silent=True)
    finally:
        np.random.set_state(state)
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    return np.asarray(phi, dtype=np.float64).reshape(k, len(base)), base


# ---------------------------------------------------------------- one decision


@dataclass(frozen=True)
class Reason:
    """One original column's part in the decision."""

    feature: str
    value: float | str | None  # the applicant's value (None: missing)
    reference: float | str  # the background's value
    shap: float  # log-odds
    shap_probability: float  # the same game on the probability scale


@dataclass(frozen=True)
class Explanation:
    """Why the model gave this applicant this score."""

    row: str
    target: str
    explained_class: str
    prediction: float  # probability of ``explained_class``
    log_odds: float
    base_value: float  # log-odds at the background
    base_probability: float
    reasons: tuple[Reason, ...]  # in column order

    def to_dict(self) -> dict:
        """What ``veil explain --json`` prints."""
        return {
            "row": self.row,
            "class": f"{self.target} = {self.explained_class}",
            "prediction": self.prediction,
            "log_odds": self.log_odds,
            "base_value": self.base_value,
            "base_probability": self.base_probability,
            "units": UNITS,
            "values": [
                {
                    "feature": r.feature,
                    "value": r.value,
                    "reference": r.reference,
                    "shap": r.shap,
                    "shap_probability": r.shap_probability,
                }
                for r in self.reasons
            ],
            "background": BACKGROUND,
        }


def explain_row(
    spec: ModelSpec,
    vector: np.ndarray,
    prep: Preprocessor,
    stats: TableStats,
    row: Mapping[str, object],
    *,
    row_id: str = "",
    explained_class: str | None = None,
) -> Explanation:
    """Shapley values of one of the member's own rows (``row``: column → value) under the
    released model (``spec``, ``vector``), against :func:`background_row`."""
    cls = explained_class if explained_class is not None else risk_class(prep, stats)
    if cls not in prep.classes:
        raise DataError(f"unknown class {cls!r}; the model's classes are {list(prep.classes)}")
    bg = background_row(prep, stats)
    cols = [*prep.schema.numeric, *prep.schema.categorical]
    missing = [c for c in cols if c not in row]
    if missing:
        raise DataError(f"the row lacks columns {missing}")
    model = _model_of_columns(spec, vector, prep, prep.classes.index(cls))
    x = _frame_of([{c: row[c] for c in cols}], cols)
    phi, base = shap_values(model, x, _frame_of([bg], cols))
    full = model(x.to_numpy(dtype=object))[0]
    reasons = tuple(
        Reason(c, _plain(row[c]), bg[c], float(phi[j, 0]), float(phi[j, 1]))
        for j, c in enumerate(cols)
    )
    return Explanation(
        row_id, prep.schema.target, cls, float(full[1]), float(full[0]),
        float(base[0]), float(base[1]), reasons,
    )  # fmt: skip


def _frame_of(rows: list[dict], cols: list[str]) -> pd.DataFrame:
    """Rows of original columns as a frame (columns of numbers as floats)."""
    import pandas as pd  # lazy: pandas (≈0.3 s) only for tables

    return pd.DataFrame(rows, columns=cols).infer_objects()


def _model_of_columns(
    spec: ModelSpec, vector: np.ndarray, prep: Preprocessor, cls: int
) -> Callable[[np.ndarray], np.ndarray]:
    """The function explained: an (n, k) array of the *original* columns → (n, 2), the
    log-odds of class ``cls`` and its probability, through the consortium's preprocessor
    (a categorical column's one-hot block and a number's missing-value indicator follow
    their column) and the released model."""
    cols = [*prep.schema.numeric, *prep.schema.categorical]
    score = _scorer(spec, vector, cls)
    target, placeholder = prep.schema.target, prep.classes[0]  # transform wants a target

    def model(z: np.ndarray) -> np.ndarray:
        import pandas as pd  # lazy: pandas (≈0.3 s) only for tables

        frame = pd.DataFrame(z, columns=cols).infer_objects()
        x, _ = prep.transform(frame.assign(**{target: placeholder}))
        return score(x)

    return model


def _scorer(spec: ModelSpec, vector: np.ndarray, cls: int) -> Callable[[np.ndarray], np.ndarray]:
    """x (n, d) → (n, 2): log-odds of class ``cls`` (log p − log(1 − p)) and p."""
    import torch  # lazy: torch (≈1.3 s) only when a model is built or run

    from veil.fl.models import build_model  # lazy: follows torch
    from veil.fl.params import set_vector  # lazy: follows torch

    model = build_model(spec)
    set_vector(model, np.asarray(vector, dtype=np.float32))
    model.eval()

    def score(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.from_numpy(x.astype(np.float32))), 1).double()
        mine = logp[:, cls]
        others = torch.cat([logp[:, :cls], logp[:, cls + 1 :]], 1).logsumexp(1)
        return torch.stack([mine - others, mine.exp()], 1).numpy()

    return score


def _plain(v: object) -> float | str | None:
    """A cell as JSON: a number, a string or None when missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, bool | np.bool_):
        return float(v)
    if isinstance(v, int | float | np.integer | np.floating):
        return float(v)
    s = str(v).strip()
    return s or None


# ---------------------------------------------------------------- words


def reasons_in_words(e: Explanation, top: int = 5) -> list[str]:
    """The ``top`` largest contributions as sentences, largest first."""
    ranked = sorted(e.reasons, key=lambda r: -abs(r.shap))[:top]
    return [_sentence(r, e.explained_class, e.target) for r in ranked if r.shap != 0.0]


def _sentence(r: Reason, cls: str, target: str) -> str:
    verb = "raised" if r.shap > 0 else "lowered"
    if isinstance(r.reference, str):
        shown = r.value if r.value is not None else "missing"
        what = f"{r.feature} = {shown} (the consortium's most common: {r.reference})"
    elif r.value is None:
        what = f"{r.feature} missing (consortium mean {_num(r.reference)})"
    else:
        side = "above" if float(r.value) > r.reference else "below"  # type: ignore[arg-type]
        what = f"{r.feature} {_num(r.value)}, {side} the consortium mean {_num(r.reference)},"
    return (
        f"{what} {verb} the risk of {target} = {cls} by "
        f"{abs(100 * r.shap_probability):.1f} points ({r.shap:+.2f} log-odds)"
    )


def _num(v: object) -> str:
    x = float(v)  # type: ignore[arg-type]
    return f"{x:.0f}" if abs(x) >= 100 or x == int(x) else f"{x:.3g}"


def summary_lines(e: Explanation, top: int = 5) -> list[str]:
    """What ``veil explain`` prints: the score, the reference, the reasons."""
    head = [
        f"row {e.row}: P({e.target} = {e.explained_class}) = {e.prediction:.3f} "
        f"(log-odds {e.log_odds:+.2f})",
        f"reference applicant ({BACKGROUND}): {e.base_probability:.3f} "
        f"(log-odds {e.base_value:+.2f})",
        f"top reasons (Shapley values over the original columns, in {UNITS}; they sum to "
        f"{e.log_odds - e.base_value:+.2f}):",
    ]
    return head + [f"  {i}. {s}" for i, s in enumerate(reasons_in_words(e, top), 1)]


# ---------------------------------------------------------------- the member's row


def pick_row(frame: pd.DataFrame, row: str, id_column: str | None = None) -> tuple[str, dict]:
    """(label, column → value) of one row of the member's table: by position (``row`` = N,
    0-based) or by the value of ``id_column``."""
    if id_column is not None:
        if id_column not in frame.columns:
            raise DataError(f"unknown --id-column {id_column!r}")
        hit = frame[frame[id_column].astype(str).str.strip() == row.strip()]
        if len(hit) != 1:
            raise DataError(f"{len(hit)} rows have {id_column} = {row!r}; need exactly one")
        return f"{id_column}={row}", hit.iloc[0].to_dict()
    try:
        n = int(row)
    except ValueError as exc:
        raise DataError(f"--row {row!r} is not a row number (use --id-column)") from exc
    if not 0 <= n < len(frame):
        raise DataError(f"--row {n} is out of range: the table has {len(frame)} rows")
    return str(n), frame.iloc[n].to_dict()
