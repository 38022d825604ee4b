"""The PyTorch models veil trains: logistic regression and an MLP for tables, a small CNN
for images. A :class:`ModelSpec` is plain data (it travels in Flower run configs and
checkpoint metadata); :func:`build_model` turns it into a module with a deterministic
initialisation under a seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from veil.errors import ConfigError

if TYPE_CHECKING:
    import torch


class ModelKind(StrEnum):
    """Which architecture to build."""

    LOGREG = "logreg"
    MLP = "mlp"
    CNN = "cnn"


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild the same model on every party.

    ``n_features`` is the input width (for a CNN, ``side * side`` of a square one-channel
    image); ``hidden`` the widths of the MLP's hidden layers (or the CNN's channels).
    """

    kind: ModelKind
    n_features: int
    n_classes: int
    hidden: tuple[int, ...] = (64, 32)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ModelKind(self.kind))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.n_features < 1 or self.n_classes < 2:
            raise ConfigError("a model needs at least one feature and two classes")
        if self.kind is ModelKind.CNN and round(self.n_features**0.5) ** 2 != self.n_features:
            raise ConfigError("the CNN needs a square image (n_features = side * side)")

    def to_dict(self) -> dict:
        """JSON-ready form (the inverse of :meth:`from_dict`)."""
        d = asdict(self)
        d["kind"] = self.kind.value
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        """Rebuild from :meth:`to_dict` output, validating every field."""
        try:
            return cls(
                kind=ModelKind(d["kind"]),
                n_features=int(d["n_features"]),
                n_classes=int(d["n_classes"]),
                hidden=tuple(int(h) for h in d.get("hidden", ())),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"invalid model spec: {exc}") from exc


def build_model(spec: ModelSpec, *, seed: int = 0) -> torch.nn.Module:
    """A fresh module for ``spec``, initialised deterministically from ``seed``."""
    # lazy: torch (≈1.3 s) only when a model is built or trained
    import torch
    from torch import nn

    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        if spec.kind is ModelKind.LOGREG:
            model: nn.Module = nn.Sequential(nn.Linear(spec.n_features, spec.n_classes))
        elif spec.kind is ModelKind.MLP:
            layers: list[nn.Module] = []
            width = spec.n_features
            for h in spec.hidden:
                layers += [nn.Linear(width, h), nn.ReLU()]
                width = h
            layers.append(nn.Linear(width, spec.n_classes))
            model = nn.Sequential(*layers)
        else:
            model = _SmallCNN(spec)
    finally:
        torch.random.set_rng_state(gen_state)
    return model


def _SmallCNN(spec: ModelSpec) -> torch.nn.Module:
    """Two 3x3 conv layers + max-pool + a linear head; input is a flat square image."""
    from torch import nn  # lazy: torch (≈1.3 s) only when a model is built or trained

    side = round(spec.n_features**0.5)
    c1, c2 = (*spec.hidden, 8, 16)[:2]
    pooled = side // 2
    return nn.Sequential(
        nn.Unflatten(1, (1, side, side)),
        nn.Conv2d(1, c1, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * pooled * pooled, spec.n_classes),
    )
