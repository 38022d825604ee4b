"""Public statements about named private values: the claim types and their canonical form.

Each claim is a frozen dataclass, validated and normalised on construction (linear terms
sorted by value name, allowed sets sorted), with a readable default ``name``. The canonical
JSON object of a claim (``statement_obj``) is what a proof bundle carries and what every
proof's transcript binds. ``veil.zk.claims`` re-exports the types; see its docstring for
the semantics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from veil.errors import FormatError
from veil.zk import sigma
from veil.zk.bulletproofs import BIT_SIZES

__all__ = ["Claim", "Equal", "Linear", "OneOf", "Range", "statement_from_obj", "statement_obj"]

_MAX_NAME = 200
_MAX_ABS = 1 << 200  # public integers: far below ℓ, so distinct integers stay distinct mod ℓ


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_NAME or not name.isprintable():
        raise ValueError(f"{what} must be a non-empty printable string of ≤ {_MAX_NAME} chars")
    return name


def check_int(x: object, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"{what} must be an int")
    if not -_MAX_ABS < x < _MAX_ABS:
        raise ValueError(f"{what} is too large")
    return x


@dataclass(frozen=True)
class Range:
    """``min ≤ value ≤ max`` over the integers, with ``max − min < 2⁶⁴``."""

    value: str
    min: int
    max: int
    name: str | None = None

    def __post_init__(self) -> None:
        _check_name(self.value, "value")
        check_int(self.min, "min")
        check_int(self.max, "max")
        if self.min > self.max:
            raise ValueError("Range: min > max")
        if self.max - self.min >= 1 << 64:
            raise ValueError("Range: max − min must be below 2^64")
        if self.name is None:
            object.__setattr__(self, "name", f"{self.value} in [{self.min}, {self.max}]")
        _check_name(self.name, "name")

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, m)`` of the Bulletproof: bit size and number of aggregated values."""
        width = self.max - self.min
        for n in BIT_SIZES:
            if width + 1 == 1 << n:
                return n, 1
            if width < 1 << n:
                return n, 2
        raise AssertionError("unreachable: width checked in __post_init__")

    @property
    def values(self) -> tuple[str, ...]:
        """The value names this claim is about."""
        return (self.value,)


@dataclass(frozen=True)
class Linear:
    """``Σ aᵢ·vᵢ = equals`` (modulo ℓ) for public integer coefficients ``aᵢ``."""

    terms: Mapping[str, int]
    equals: int
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.terms, Mapping) or not self.terms:
            raise ValueError("Linear: terms must be a non-empty mapping name -> coefficient")
        terms = {}
        for k in sorted(self.terms):
            _check_name(k, "value")
            if check_int(self.terms[k], "coefficient") == 0:
                raise ValueError("Linear: zero coefficients are not allowed")
            terms[k] = self.terms[k]
        object.__setattr__(self, "terms", MappingProxyType(terms))
        check_int(self.equals, "equals")
        if self.name is None:
            lhs = " + ".join(f"{a}*{v}" for v, a in terms.items())
            object.__setattr__(self, "name", f"{lhs} == {self.equals}")
        _check_name(self.name, "name")

    @property
    def values(self) -> tuple[str, ...]:
        """The value names this claim is about (sorted)."""
        return tuple(self.terms)


@dataclass(frozen=True)
class OneOf:
    """``value ∈ allowed`` (a small public set, at most 256 integers)."""

    value: str
    allowed: Sequence[int]
    name: str | None = None

    def __post_init__(self) -> None:
        _check_name(self.value, "value")
        if isinstance(self.allowed, str | bytes) or not isinstance(self.allowed, Sequence):
            raise TypeError("OneOf: allowed must be a sequence of ints")
        allowed = tuple(sorted(check_int(x, "allowed value") for x in self.allowed))
        if not 0 < len(allowed) <= sigma.MAX_SET_SIZE or len(set(allowed)) != len(allowed):
            raise ValueError(f"OneOf: 1 to {sigma.MAX_SET_SIZE} distinct values")
        object.__setattr__(self, "allowed", allowed)
        if self.name is None:
            object.__setattr__(self, "name", f"{self.value} in {{{', '.join(map(str, allowed))}}}")
        _check_name(self.name, "name")

    @property
    def values(self) -> tuple[str, ...]:
        """The value names this claim is about."""
        return (self.value,)


@dataclass(frozen=True)
class Equal:
    """Two committed values are equal."""

    a: str
    b: str
    name: str | None = None

    def __post_init__(self) -> None:
        _check_name(self.a, "value")
        _check_name(self.b, "value")
        if self.a == self.b:
            raise ValueError("Equal: two different value names")
        if self.name is None:
            object.__setattr__(self, "name", f"{self.a} == {self.b}")
        _check_name(self.name, "name")

    @property
    def values(self) -> tuple[str, ...]:
        """The value names this claim is about."""
        return (self.a, self.b)


Claim = Range | Linear | OneOf | Equal


# ------------------------------------------------------------ statement codec
def statement_obj(claim: Claim) -> dict[str, Any]:
    if isinstance(claim, Range):
        return {
            "type": "range",
            "name": claim.name,
            "value": claim.value,
            "min": claim.min,
            "max": claim.max,
        }
    if isinstance(claim, Linear):
        terms = [[k, a] for k, a in claim.terms.items()]
        return {"type": "linear", "name": claim.name, "terms": terms, "equals": claim.equals}
    if isinstance(claim, OneOf):
        return {
            "type": "one_of",
            "name": claim.name,
            "value": claim.value,
            "allowed": list(claim.allowed),
        }
    if isinstance(claim, Equal):
        return {"type": "equal", "name": claim.name, "a": claim.a, "b": claim.b}
    raise TypeError(f"not a claim: {claim!r}")


_STATEMENT_KEYS = {
    "range": {"type", "name", "value", "min", "max"},
    "linear": {"type", "name", "terms", "equals"},
    "one_of": {"type", "name", "value", "allowed"},
    "equal": {"type", "name", "a", "b"},
}


def statement_from_obj(obj: object) -> Claim:
    if not isinstance(obj, dict) or obj.get("type") not in _STATEMENT_KEYS:
        raise FormatError("unknown statement type")
    if set(obj) != _STATEMENT_KEYS[obj["type"]]:
        raise FormatError(f"statement fields for {obj['type']!r} are wrong")
    try:
        t = obj["type"]
        if t == "range":
            claim: Claim = Range(obj["value"], obj["min"], obj["max"], obj["name"])
        elif t == "linear":
            terms = obj["terms"]
            if not isinstance(terms, list) or not all(
                isinstance(p, list) and len(p) == 2 for p in terms
            ):
                raise FormatError("linear terms must be [name, coefficient] pairs")
            claim = Linear(dict(terms), obj["equals"], obj["name"])
            if len(claim.terms) != len(terms):
                raise FormatError("duplicate linear term")
        elif t == "one_of":
            claim = OneOf(obj["value"], obj["allowed"], obj["name"])
        else:
            claim = Equal(obj["a"], obj["b"], obj["name"])
    except (TypeError, ValueError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"invalid statement: {exc}") from None
    if statement_obj(claim) != obj:  # e.g. unsorted terms or allowed values
        raise FormatError("statement is not in canonical form")
    return claim
