"""Claims about private values: the data owner's API.

A data owner names private integers (``income``, ``rows``, ``default_bp``), commits to each
once (Pedersen, ``veil.zk.pedersen``) and proves public statements about them::

    from veil.zk import claims

    bundle = claims.prove(
        {"income": 52_000, "rows": 1200, "rows_a": 700, "rows_b": 500, "tier": 2},
        [
            claims.Range("income", 0, 1_000_000),
            claims.Linear({"rows_a": 1, "rows_b": 1, "rows": -1}, 0),
            claims.OneOf("tier", [1, 2, 3]),
        ],
        context=b"bank-A / 2026-Q3",
    )
    names = claims.verify(bundle, context=b"bank-A / 2026-Q3", expected=[...])

What a verifier learns: the commitments, the statements, and that each statement holds
for the committed values. Nothing else (the proofs are honest-verifier zero knowledge,
made non-interactive by Fiat–Shamir over a transcript that binds the context, every
statement and every commitment in the bundle: a proof never verifies in another bundle or
context).

Semantics: values are integers and commitments hold them modulo ℓ (≈ 2²⁵²). ``Range``
is exact over the integers (``min ≤ v ≤ max``, ``max − min < 2⁶⁴``). ``Linear`` and
``OneOf`` hold modulo ℓ; combine them with ``Range`` claims on the same values when the
integer relation matters (small ranges make wraparound impossible).

Range claims are Bulletproofs: with ``w = max − min``, a single ``n``-bit proof of
``v − min`` when ``w + 1 = 2ⁿ`` (n ∈ {8, 16, 32, 64}), else a 2-value aggregated proof of
``v − min`` and ``max − v`` with the smallest ``n`` such that ``w < 2ⁿ``; both committed
values are derived publicly from the one commitment to ``v``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from veil.errors import DataError, EncodingError, FormatError, ProofError
from veil.zk import group, pedersen, sigma
from veil.zk.bulletproofs import RangeProof, proof_size
from veil.zk.statements import (
    Claim,
    Equal,
    Linear,
    OneOf,
    Range,
    check_int,
    statement_from_obj,
    statement_obj,
)
from veil.zk.transcript import Transcript

__all__ = [
    "Claim",
    "ClaimResult",
    "Equal",
    "Linear",
    "OneOf",
    "ProofBundle",
    "Range",
    "check",
    "describe",
    "prove",
    "verify",
]

FORMAT = "veil-zk-bundle"
VERSION = 1
MAX_BUNDLE_BYTES = 16 << 20
MAX_CLAIMS = 1024


def _canonical_json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise FormatError(f"{what} must be a base64 string")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise FormatError(f"{what} is not valid base64") from None
    if _b64(data) != text:
        raise FormatError(f"{what} is not canonical base64")
    return data


# ---------------------------------------------------------------- the bundle
@dataclass(frozen=True)
class ProofBundle:
    """Commitments, public statements and one proof per statement.

    Serialised as canonical JSON (sorted keys, no spaces, base64 byte fields) with a
    format name and version; :meth:`from_bytes` accepts only that exact form.
    """

    statements: tuple[Claim, ...]
    commitments: dict[str, bytes]
    proofs: tuple[bytes, ...] = field(repr=False)

    def public_statement(self) -> bytes:
        """The bytes every proof in the bundle is bound to (statements + commitments)."""
        return _canonical_json(
            {
                "commitments": {k: _b64(v) for k, v in self.commitments.items()},
                "statements": [statement_obj(c) for c in self.statements],
            }
        )

    def to_bytes(self) -> bytes:
        """The canonical serialisation."""
        return _canonical_json(
            {
                "format": FORMAT,
                "version": VERSION,
                "commitments": {k: _b64(v) for k, v in self.commitments.items()},
                "claims": [
                    {"statement": statement_obj(c), "proof": _b64(p)}
                    for c, p in zip(self.statements, self.proofs, strict=True)
                ],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ProofBundle:
        """Parse, validate every field, point and scalar; ``FormatError`` on any defect."""
        if not isinstance(data, bytes | bytearray) or len(data) > MAX_BUNDLE_BYTES:
            raise FormatError("a proof bundle is at most 16 MiB of bytes")
        try:
            obj = json.loads(bytes(data).decode("ascii"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError("a proof bundle is canonical JSON") from None
        if not isinstance(obj, dict) or set(obj) != {"format", "version", "commitments", "claims"}:
            raise FormatError("not a veil zk proof bundle")
        if obj["format"] != FORMAT:
            raise FormatError("not a veil zk proof bundle")
        if obj["version"] != VERSION or isinstance(obj["version"], bool):
            raise FormatError(f"unsupported bundle version {obj['version']!r}")
        coms, items = obj["commitments"], obj["claims"]
        if not isinstance(coms, dict) or not isinstance(items, list):
            raise FormatError("commitments must be an object and claims a list")
        if not 0 < len(items) <= MAX_CLAIMS:
            raise FormatError(f"a bundle holds 1 to {MAX_CLAIMS} claims")
        commitments = {}
        for name, text in coms.items():
            try:
                commitments[name] = group.decode_point(
                    _unb64(text, "commitment"), allow_identity=False
                )
            except EncodingError as exc:
                raise FormatError(f"commitment {name!r}: {exc}") from None
        statements, proofs = [], []
        for item in items:
            if not isinstance(item, dict) or set(item) != {"statement", "proof"}:
                raise FormatError("each claim has exactly a statement and a proof")
            statements.append(statement_from_obj(item["statement"]))
            proofs.append(_unb64(item["proof"], "proof"))
        bundle = cls(tuple(statements), commitments, tuple(proofs))
        _check_structure(bundle.statements, set(commitments))
        for claim, proof in zip(bundle.statements, bundle.proofs, strict=True):
            try:
                _decode_proof(claim, proof)
            except EncodingError as exc:
                raise FormatError(f"claim {claim.name!r}: {exc}") from None
        if bundle.to_bytes() != bytes(data):
            raise FormatError("proof bundle is not in canonical form")
        return bundle


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise FormatError("duplicate key in proof bundle")
    for _, v in pairs:
        if isinstance(v, float):
            raise FormatError("no floating-point numbers in a proof bundle")
    return out


def _check_structure(statements: Sequence[Claim], committed: set[str]) -> None:
    names = [c.name for c in statements]
    if len(set(names)) != len(names):
        raise FormatError("claim names must be unique within a bundle")
    used = {v for c in statements for v in c.values}
    if used != committed:
        raise FormatError("commitments must be exactly the values the claims mention")


def _decode_proof(claim: Claim, data: bytes) -> object:
    """Structural decoding of one claim's proof (length, points, scalars)."""
    if isinstance(claim, Range):
        n, m = claim.shape
        if len(data) != proof_size(n, m):
            raise EncodingError("range proof has the wrong length for its statement")
        return RangeProof.from_bytes(data)
    if isinstance(claim, OneOf):
        if len(data) != 64 * len(claim.allowed):
            raise EncodingError("membership proof has the wrong length for its statement")
        return sigma.MembershipProof.from_bytes(data)
    return sigma.DlogProof.from_bytes(data)


def _range_commitments(claim: Range, C: bytes) -> list[bytes]:
    """``C − min·B`` (and ``max·B − C`` for the two-sided form), derived publicly."""
    lower = group.msm([1], [C], base_scalar=-claim.min)
    if claim.shape[1] == 1:
        return [lower]
    return [lower, group.msm([-1], [C], base_scalar=claim.max)]


def _transcript(public: bytes, context: bytes, index: int) -> Transcript:
    t = Transcript(b"veil/zk/claims v1")
    t.append_message(b"context", context)
    t.append_message(b"statement", public)
    t.append_u64(b"claim", index)
    return t


# ------------------------------------------------------------------- prover
def prove(
    secrets: Mapping[str, int],
    statements: Sequence[Claim],
    *,
    context: bytes = b"",
    rng: pedersen.Rng | None = None,
) -> ProofBundle:
    """Commit to every value the statements mention and prove each statement.

    Refuses (``DataError``, naming the claim) when a secret does not satisfy a statement:
    no proof of a false statement is ever produced. ``rng`` (bytes source) only for
    reproducible test vectors; the default is the OS CSPRNG.
    """
    statements = tuple(statements)
    if not 0 < len(statements) <= MAX_CLAIMS:
        raise ValueError(f"1 to {MAX_CLAIMS} statements")
    for c in statements:
        if not isinstance(c, Range | Linear | OneOf | Equal):
            raise TypeError(f"not a claim: {c!r}")
    names = sorted({v for c in statements for v in c.values})
    for v in names:
        if v not in secrets:
            raise DataError(f"no secret named {v!r}")
        check_int(secrets[v], f"secret {v!r}")
    _check_structure(statements, set(names))
    for c in statements:
        if not _holds(c, secrets):
            raise DataError(f"claim {c.name!r} does not hold for the secrets: refusing to prove")
    openings = {v: pedersen.commit(secrets[v], rng=rng) for v in names}
    bundle = ProofBundle(statements, {v: openings[v].point for v in names}, ())
    public = bundle.public_statement()
    proofs = [
        _prove_one(c, secrets, openings, _transcript(public, bytes(context), i), rng)
        for i, c in enumerate(statements)
    ]
    return ProofBundle(statements, bundle.commitments, tuple(proofs))


def _holds(c: Claim, s: Mapping[str, int]) -> bool:
    if isinstance(c, Range):
        return c.min <= s[c.value] <= c.max
    if isinstance(c, Linear):
        return sum(a * s[v] for v, a in c.terms.items()) == c.equals
    if isinstance(c, OneOf):
        return s[c.value] in c.allowed
    return s[c.a] == s[c.b]


def _prove_one(
    c: Claim,
    secrets: Mapping[str, int],
    op: Mapping[str, pedersen.Commitment],
    t: Transcript,
    rng: pedersen.Rng | None,
) -> bytes:
    if isinstance(c, Range):
        n, m = c.shape
        v, r = secrets[c.value], op[c.value].blinding
        values, blindings = [v - c.min, c.max - v][:m], [r, -r][:m]
        proof, coms = RangeProof.prove(t, values, blindings, n, rng=rng)
        assert coms == _range_commitments(c, op[c.value].point)
        return proof.to_bytes()
    if isinstance(c, Linear):
        keys = list(c.terms)
        return sigma.prove_linear(
            t,
            [op[k].point for k in keys],
            [c.terms[k] for k in keys],
            c.equals,
            [op[k].blinding for k in keys],
            rng=rng,
        ).to_bytes()
    if isinstance(c, OneOf):
        o = op[c.value]
        return sigma.MembershipProof.prove(
            t, o.point, o.value, o.blinding, c.allowed, rng=rng
        ).to_bytes()
    a, b = op[c.a], op[c.b]
    return sigma.prove_equality(t, a.point, b.point, a.blinding, b.blinding, rng=rng).to_bytes()


# ----------------------------------------------------------------- verifier
@dataclass(frozen=True)
class ClaimResult:
    """One claim's verdict (``error`` is ``None`` when it verified)."""

    name: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the claim verified."""
        return self.error is None


def _verify_one(bundle: ProofBundle, public: bytes, context: bytes, i: int) -> None:
    c, data = bundle.statements[i], bundle.proofs[i]
    t = _transcript(public, context, i)
    com = bundle.commitments
    try:
        proof = _decode_proof(c, data)
        if isinstance(c, Range):
            assert isinstance(proof, RangeProof)
            proof.verify(t, _range_commitments(c, com[c.value]), c.shape[0])
        elif isinstance(c, Linear):
            assert isinstance(proof, sigma.DlogProof)
            keys = list(c.terms)
            sigma.verify_linear(
                t, [com[k] for k in keys], [c.terms[k] for k in keys], c.equals, proof
            )
        elif isinstance(c, OneOf):
            assert isinstance(proof, sigma.MembershipProof)
            proof.verify(t, com[c.value], c.allowed)
        else:
            assert isinstance(proof, sigma.DlogProof)
            sigma.verify_equality(t, com[c.a], com[c.b], proof)
    except (ProofError, EncodingError) as exc:
        raise ProofError(str(exc), claim=c.name) from None


def _expect(bundle: ProofBundle, expected: Sequence[Claim] | None) -> None:
    if expected is None:
        return
    expected = tuple(expected)
    for i, c in enumerate(bundle.statements):
        if i >= len(expected) or expected[i] != c:
            raise ProofError("statement differs from the expected one", claim=c.name)
    if len(expected) != len(bundle.statements):
        raise ProofError("the bundle has fewer statements than expected")


def verify(
    bundle: ProofBundle, *, context: bytes = b"", expected: Sequence[Claim] | None = None
) -> list[str]:
    """Verify every claim; return their names, or raise ``ProofError(claim=name)``.

    ``expected``, when given, must equal the bundle's statements exactly (same claims,
    same order, same names): the verifier checks the statement it cares about, not
    whatever the prover chose.
    """
    _expect(bundle, expected)
    _check_structure(bundle.statements, set(bundle.commitments))
    public = bundle.public_statement()
    for i in range(len(bundle.statements)):
        _verify_one(bundle, public, bytes(context), i)
    return [c.name for c in bundle.statements]  # type: ignore[misc]


def describe(bundle: ProofBundle) -> tuple[list[str], list[str]]:
    """What a bundle actually proves, without the prover's free-text claim names.

    Returns ``(commitment lines, statement lines)``: value ``vᵢ`` is the one committed in
    ``Cᵢ``; each statement is its kind and public parameters over ``v₁ … vₙ``. A claim's
    ``name`` is prose the prover chose ("income is plausible") and may say anything; only
    these parameters are what the proofs bind, so this is what a verifier without an
    expected statement must read.
    """
    index = {k: f"v{i}" for i, k in enumerate(bundle.commitments, 1)}
    coms = [
        f"{index[k]}: commitment {point.hex()} (label {k!r}, chosen by the prover)"
        for k, point in bundle.commitments.items()
    ]
    lines = []
    for c in bundle.statements:
        if isinstance(c, Range):
            lines.append(f"range   {c.min} <= {index[c.value]} <= {c.max}")
        elif isinstance(c, Linear):
            lhs = " + ".join(f"{a}*{index[k]}" for k, a in c.terms.items())
            lines.append(f"linear  {lhs} == {c.equals} (mod l)")
        elif isinstance(c, OneOf):
            allowed = ", ".join(map(str, c.allowed))
            lines.append(f"one_of  {index[c.value]} in {{{allowed}}} (mod l)")
        else:
            lines.append(f"equal   {index[c.a]} == {index[c.b]} (mod l)")
    return coms, lines


def check(
    bundle: ProofBundle, *, context: bytes = b"", expected: Sequence[Claim] | None = None
) -> list[ClaimResult]:
    """Verify every claim independently and report each (for ``veil zk verify``)."""
    _expect(bundle, expected)
    public = bundle.public_statement()
    results = []
    for i, c in enumerate(bundle.statements):
        try:
            _verify_one(bundle, public, bytes(context), i)
            results.append(ClaimResult(str(c.name)))
        except ProofError as exc:
            results.append(ClaimResult(str(c.name), str(exc)))
    return results
