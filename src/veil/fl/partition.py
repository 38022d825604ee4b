"""Partitioners: how one table is split into the shards of N institutions.

* :func:`iid` — a uniform random split into near-equal shards.
* :func:`dirichlet` — label skew: for each class, the share of each client is drawn from
  Dirichlet(α) (Hsu, Qi & Brown 2019, "Measuring the effects of non-identical data
  distribution"); small α means each client sees mostly a few classes.
* :func:`quantity_skew` — shard sizes drawn from Dirichlet(α), labels left IID.
* :func:`by_column` — the natural split when the data carries an institution key.

Every function returns one sorted index array per client, and refuses to leave a client
with fewer than ``min_size`` rows (it redraws a bounded number of times, then fails).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from veil.errors import ConfigError, DataError

_MAX_DRAWS = 200


def iid(n: int, clients: int, *, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle and cut into ``clients`` near-equal parts."""
    _check(n, clients)
    return [np.sort(p) for p in np.array_split(rng.permutation(n), clients)]


def dirichlet(
    labels: np.ndarray,
    clients: int,
    alpha: float,
    *,
    rng: np.random.Generator,
    min_size: int = 10,
) -> list[np.ndarray]:
    """Label skew: class c's rows go to clients in proportions ~ Dirichlet(α·1)."""
    labels = np.asarray(labels)
    _check(len(labels), clients)
    if not alpha > 0:
        raise ConfigError("Dirichlet α must be positive")
    classes = np.unique(labels)
    for _ in range(_MAX_DRAWS):
        parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            props = rng.dirichlet(np.full(clients, alpha))
            cuts = (np.cumsum(props)[:-1] * len(idx)).astype(int)
            for k, chunk in enumerate(np.split(idx, cuts)):
                parts[k].append(chunk)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(p) for p in out) >= min_size:
            return out
    raise DataError(
        f"could not give every one of {clients} clients {min_size} rows with α={alpha}; "
        "use fewer clients or a larger α"
    )


def quantity_skew(
    n: int, clients: int, alpha: float, *, rng: np.random.Generator, min_size: int = 10
) -> list[np.ndarray]:
    """Shard sizes ~ Dirichlet(α); rows assigned uniformly at random."""
    _check(n, clients)
    if n < clients * min_size:
        raise DataError(f"{n} rows cannot give {clients} clients {min_size} rows each")
    for _ in range(_MAX_DRAWS):
        props = rng.dirichlet(np.full(clients, alpha))
        sizes = np.floor(props * n).astype(int)
        sizes[-1] = n - sizes[:-1].sum()
        if sizes.min() >= min_size:
            perm = rng.permutation(n)
            return [np.sort(p) for p in np.split(perm, np.cumsum(sizes)[:-1])]
    raise DataError(f"could not draw shard sizes of at least {min_size} with α={alpha}")


def by_column(values: Sequence[object]) -> tuple[list[str], list[np.ndarray]]:
    """One shard per distinct value of an institution key, in sorted key order."""
    arr = np.asarray([str(v) for v in values], dtype=object)
    if len(arr) == 0:
        raise DataError("the table is empty")
    keys = sorted(set(arr.tolist()))
    return keys, [np.flatnonzero(arr == k) for k in keys]


def parse_partition(text: str) -> tuple[str, float | None]:
    """``iid``, ``dirichlet:0.5`` or ``quantity:1.0`` → (kind, α)."""
    kind, _, arg = text.partition(":")
    kind = kind.strip().lower()
    if kind == "iid" and not arg:
        return kind, None
    if kind in ("dirichlet", "quantity"):
        try:
            alpha = float(arg) if arg else 0.5
        except ValueError as exc:
            raise ConfigError(f"bad α in partition {text!r}") from exc
        if not alpha > 0:
            raise ConfigError("α must be positive")
        return kind, alpha
    raise ConfigError(f"unknown partition {text!r}: use iid, dirichlet:ALPHA or quantity:ALPHA")


def split(
    text: str, labels: np.ndarray, clients: int, *, rng: np.random.Generator, min_size: int = 10
) -> list[np.ndarray]:
    """Dispatch on a :func:`parse_partition` string."""
    kind, alpha = parse_partition(text)
    if kind == "iid":
        return iid(len(labels), clients, rng=rng)
    if kind == "dirichlet":
        assert alpha is not None
        return dirichlet(labels, clients, alpha, rng=rng, min_size=min_size)
    assert alpha is not None
    return quantity_skew(len(labels), clients, alpha, rng=rng, min_size=min_size)


def _check(n: int, clients: int) -> None:
    if clients < 1:
        raise ConfigError("need at least one client")
    if n < clients:
        raise DataError(f"{n} rows cannot be split across {clients} clients")
