"""Hetero logistic regression (``veil.vertical.hetero_lr``): what the secure protocol costs.

* ``he``: the "measure before choosing" record for the HE library — SecretFlow HEU
  (``sf-heu``, vectorised arrays, as the protocol uses it) against ``phe`` (python-paillier
  with gmpy2, one number at a time, its API) at 2048 bits on the same values: encrypt,
  ciphertext × plaintext (a 31-bit signed and a 24-bit positive multiplier: the protocol
  only multiplies by positive integers, see ``_signed_matmul``), decrypt; µs per value.
  HEU's Okamoto–Uchiyama (``ou``) alongside.
* ``training``: a guest and one host in one process over the real sealed messages
  (``veil.vertical.local``), ``make_classification`` split into two column blocks, for
  ``paillier`` and ``ou``: setup seconds and bytes (key, the guest's encrypted columns),
  seconds and bytes each way per epoch, the same training in the clear
  (``plain_taylor_lr``) per epoch, the largest weight difference between the two, and the
  validation AUC of the secure model, the plain one and scikit-learn's LogisticRegression.

Run: ``python -m bench hetero_lr``; ``VEIL_BENCH_QUICK=1`` for a smoke test.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
from phe import paillier
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from bench.common import quick, write_result
from veil.vertical.channel import HostData
from veil.vertical.he import SecretKit
from veil.vertical.hetero_lr import (
    HeteroLRConfig,
    HeteroLRHost,
    plain_taylor_lr,
    predict_proba,
    standardise,
    train_hetero_lr,
)
from veil.vertical.local import in_process

BITS = 2048


def _best(fn, repeat: int = 3) -> float:
    """Best of ``repeat`` wall times (the least disturbed on a shared machine)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def measure_heu(scheme: str, values: np.ndarray, signed: np.ndarray, small: np.ndarray) -> dict:
    kit = SecretKit.generate(scheme, BITS)
    ct = kit.encrypt(values)
    ev, n = kit.evaluator, values.size
    rows = np.tile(small.T, (4, 1))
    out = {
        "encrypt_us": _best(lambda: kit.encrypt(values)) / n,
        "ct_x_pt_signed31_us": _best(lambda: ev.mul(ct, kit.plain(signed))) / n,
        "ct_x_pt_positive24_us": _best(lambda: ev.mul(ct, kit.plain(small))) / n,
        "decrypt_us": _best(lambda: kit.decrypt(ct)) / n,
        # how the protocol multiplies: a positive plaintext matrix @ a ciphertext column
        "matmul_positive24_us": _best(lambda: ev.matmul(kit.plain(rows), ct)) / rows.size,
    }
    assert np.array_equal(kit.decrypt(ev.mul(ct, kit.plain(small))), values * small)
    return {k: round(v * 1e6, 1) for k, v in out.items()}


def measure_phe(values: np.ndarray, signed: np.ndarray, small: np.ndarray) -> dict:
    pub, priv = paillier.generate_paillier_keypair(n_length=BITS)
    xs, ss, ps = (a.ravel().tolist() for a in (values, signed, small))
    cts = [pub.encrypt(x) for x in xs]
    n, repeat = len(xs), 1 if quick() else 3
    out = {
        "encrypt_us": _best(lambda: [pub.encrypt(x) for x in xs], repeat) / n,
        "ct_x_pt_signed31_us": _best(
            lambda: [c * s for c, s in zip(cts, ss, strict=True)], repeat
        ) / n,
        "ct_x_pt_positive24_us": _best(
            lambda: [c * p for c, p in zip(cts, ps, strict=True)], repeat
        ) / n,
        "decrypt_us": _best(lambda: [priv.decrypt(c) for c in cts], repeat) / n,
    }  # fmt: skip
    products = [priv.decrypt(c * p) for c, p in zip(cts[:5], ps[:5], strict=True)]
    assert products == [x * p for x, p in zip(xs[:5], ps[:5], strict=True)]
    return {k: round(v * 1e6, 1) for k, v in out.items()}


def measure_he(count: int) -> dict:
    rng = np.random.default_rng(0)
    values = rng.integers(-(2**30), 2**30, size=(count, 1))
    signed = rng.integers(-(2**30), 2**30, size=(count, 1))
    small = rng.integers(0, 2**24, size=(count, 1))
    heu = {s: measure_heu(s, values, signed, small) for s in ("paillier", "ou")}
    phe_row = measure_phe(values, signed, small)
    ratio = {k: round(phe_row[k] / heu["paillier"][k], 2) for k in phe_row}
    return {
        "values": count,
        "key_bits": BITS,
        "heu_paillier": heu["paillier"],
        "heu_ou": heu["ou"],
        "phe_gmpy2_paillier": phe_row,
        "phe_over_heu_paillier": ratio,
    }


def _data(rows: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(
        n_samples=rows, n_features=features, n_informative=features // 2, random_state=7
    )
    return x, y.astype(np.float64)


def measure_training(scheme: str, x, y, train, val, config: HeteroLRConfig) -> dict:
    k = x.shape[1] // 2
    g, h = x[:, :k], x[:, k:]
    ids = [str(i) for i in range(len(x))]
    host = HostData("host", ids, h, [f"h{j}" for j in range(h.shape[1])], np.arange(len(x)))
    channel, parties = in_process([host], {"lr": HeteroLRHost})
    t = time.perf_counter()
    model = train_hetero_lr(channel, g[train], y[train], config, scheme, host_rows=train)
    total = time.perf_counter() - t
    secure_auc = roc_auc_score(y[val], predict_proba(channel, model, g[val], val))
    w_g, b, w_h = plain_taylor_lr(g[train], h[train], y[train], config)
    host_w = parties["host"]._roles["lr"].weights
    diff = max(np.abs(model.weights - w_g).max(), abs(model.bias - b), np.abs(host_w - w_h).max())
    return {
        "train_seconds": round(total, 2),
        "setup_seconds": round(model.setup_seconds, 2),
        "setup_bytes": model.setup_bytes,
        "epoch_seconds": [round(e.seconds, 2) for e in model.epochs],
        "epoch_bytes_guest_to_host": [e.bytes_sent for e in model.epochs],
        "epoch_bytes_host_to_guest": [e.bytes_received for e in model.epochs],
        "max_weight_diff_vs_plain": float(diff),
        "validation_auc": round(float(secure_auc), 4),
    }


def measure_plain(x, y, train, val, config: HeteroLRConfig) -> dict:
    k = x.shape[1] // 2
    g, h = x[:, :k], x[:, k:]
    seconds = _best(lambda: plain_taylor_lr(g[train], h[train], y[train], config))
    w_g, b, w_h = plain_taylor_lr(g[train], h[train], y[train], config)
    (gm, gs), (hm, hs) = standardise(g[train]), standardise(h[train])
    z = (g[val] - gm) / gs @ w_g + b + (h[val] - hm) / hs @ w_h
    scaler = StandardScaler().fit(x[train])
    sk = LogisticRegression(max_iter=2000).fit(scaler.transform(x[train]), y[train])
    sk_auc = roc_auc_score(y[val], sk.decision_function(scaler.transform(x[val])))
    return {
        "plain_epoch_seconds": round(seconds / config.epochs, 5),
        "plain_taylor_auc": round(float(roc_auc_score(y[val], z)), 4),
        "sklearn_auc": round(float(sk_auc), 4),
    }


def main() -> None:
    rows, val_rows, features = (300, 150, 10) if quick() else (2000, 1000, 20)
    config = HeteroLRConfig(epochs=1 if quick() else 2, batch_size=64, learning_rate=0.2)
    he = measure_he(20 if quick() else 200)
    x, y = _data(rows + val_rows, features)
    train, val = np.arange(rows), np.arange(rows, rows + val_rows)
    plain = measure_plain(x, y, train, val, config)
    secure = {s: measure_training(s, x, y, train, val, config) for s in ("paillier", "ou")}
    for r in secure.values():
        r["slowdown_vs_plain"] = round(
            statistics.median(r["epoch_seconds"]) / plain["plain_epoch_seconds"]
        )
    path = write_result(
        "vertical_hetero_lr",
        {
            "bench": "hetero_lr",
            "cpu_count": os.cpu_count(),
            "he_2048": he,
            "data": {
                "kind": "make_classification",
                "train_rows": rows,
                "validation_rows": val_rows,
                "guest_columns": features // 2,
                "host_columns": features - features // 2,
            },
            "config": config.__dict__,
            "plain": plain,
            "secure": secure,
        },
    )
    hp, pp = he["heu_paillier"], he["phe_gmpy2_paillier"]
    for op in hp:
        theirs = f"{pp[op]:8.1f}" if op in pp else "       -"
        print(f"{op:24} HEU {hp[op]:8.1f}  phe {theirs}  OU {he['heu_ou'][op]:7.1f} µs")
    for s, r in secure.items():
        print(
            f"{s:8} setup {r['setup_seconds']} s {r['setup_bytes'] / 1e6:.1f} MB; "
            f"epoch {r['epoch_seconds']} s (plain {plain['plain_epoch_seconds']} s); "
            f"bytes/epoch →{r['epoch_bytes_guest_to_host'][0] / 1e6:.2f} MB "
            f"←{r['epoch_bytes_host_to_guest'][0] / 1e6:.2f} MB; AUC {r['validation_auc']} "
            f"(plain {plain['plain_taylor_auc']}, sklearn {plain['sklearn_auc']}); "
            f"Δw {r['max_weight_diff_vs_plain']:.1e}"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
