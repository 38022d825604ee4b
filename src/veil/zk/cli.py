"""``veil zk``: commit to private values and prove claims about them, or verify a bundle.

Claims file (TOML), for ``veil zk prove --claims``::

    context = "bank-A / 2026-Q3"          # optional; --context overrides it

    [[claim]]
    type = "range"                        # range | linear | one_of | equal
    value = "income"
    min = 0
    max = 1000000
    name = "income is plausible"          # optional

    [[claim]]
    type = "linear"
    terms = { rows_a = 1, rows_b = 1, rows = -1 }
    equals = 0

    [[claim]]
    type = "one_of"
    value = "tier"
    allowed = [1, 2, 3]

Secrets file (TOML): ``income = 52000`` and so on, one integer per value name.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from veil.errors import ConfigError, FormatError

app = typer.Typer(
    name="zk",
    help="Zero-knowledge claims: commit to private numbers, prove statements, verify.",
    no_args_is_help=True,
)


def _load_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None


def load_claims(path: Path) -> tuple[list[Any], str | None]:
    """Parse a claims TOML file into claim objects (and its optional context)."""
    from veil.zk import claims  # lazy: rbcl/libsodium (≈0.2 s), not for `veil --help`

    doc = _load_toml(path, "claims file")
    unknown = set(doc) - {"claim", "context"}
    if unknown or not isinstance(doc.get("claim"), list) or not doc["claim"]:
        raise ConfigError(f"{path}: expected [[claim]] tables (and an optional context)")
    fields = {
        "range": (claims.Range, ("value", "min", "max")),
        "linear": (claims.Linear, ("terms", "equals")),
        "one_of": (claims.OneOf, ("value", "allowed")),
        "equal": (claims.Equal, ("a", "b")),
    }
    out = []
    for i, item in enumerate(doc["claim"]):
        kind = item.get("type")
        if kind not in fields:
            raise ConfigError(f"{path}: claim {i}: type must be one of {sorted(fields)}")
        cls, required = fields[kind]
        extra = set(item) - {"type", "name", *required}
        missing = [k for k in required if k not in item]
        if extra or missing:
            raise ConfigError(f"{path}: claim {i}: unknown {sorted(extra)} / missing {missing}")
        try:
            out.append(cls(*(item[k] for k in required), name=item.get("name")))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: claim {i}: {exc}") from None
    context = doc.get("context")
    if context is not None and not isinstance(context, str):
        raise ConfigError(f"{path}: context must be a string")
    return out, context


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


@app.command("prove-range")
def prove_range(
    value: Annotated[int, typer.Option(help="The private value (never written out).")],
    min_: Annotated[int, typer.Option("--min", help="Smallest allowed value.")],
    max_: Annotated[int, typer.Option("--max", help="Largest allowed value.")],
    out: Annotated[Path, typer.Option(help="Where to write the proof bundle.")],
    context: Annotated[str, typer.Option(help="Context the proof is bound to.")] = "",
    name: Annotated[str, typer.Option(help="Name of the committed value.")] = "value",
) -> None:
    """Commit to VALUE and prove MIN ≤ VALUE ≤ MAX; print the commitment.

    The value is visible on the command line (ps, shell history): for real secrets use
    ``veil zk prove --secrets FILE``.
    """
    from veil.zk import claims  # lazy: rbcl/libsodium (≈0.2 s), not for `veil --help`

    try:
        claim = claims.Range(name, min_, max_)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    bundle = claims.prove({name: value}, [claim], context=context.encode())
    _write(out, bundle.to_bytes())
    typer.echo(f"commitment {name}: {bundle.commitments[name].hex()}")
    typer.echo(f"claim: {claim.name}")
    typer.echo(f"wrote {out}")


@app.command()
def prove(
    claims_file: Annotated[Path, typer.Option("--claims", help="Claims TOML file.")],
    secrets_file: Annotated[Path, typer.Option("--secrets", help="Secrets TOML file.")],
    out: Annotated[Path, typer.Option(help="Where to write the proof bundle.")],
    context: Annotated[str | None, typer.Option(help="Overrides the file's context.")] = None,
) -> None:
    """Prove several claims at once; print each value's commitment."""
    from veil.zk import claims  # lazy: rbcl/libsodium (≈0.2 s), not for `veil --help`

    statements, file_context = load_claims(claims_file)
    secrets = _load_toml(secrets_file, "secrets file")
    for k, v in secrets.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{secrets_file}: secret {k!r} must be an integer")
    ctx = context if context is not None else (file_context or "")
    bundle = claims.prove(secrets, statements, context=ctx.encode())
    _write(out, bundle.to_bytes())
    for k, point in bundle.commitments.items():
        typer.echo(f"commitment {k}: {point.hex()}")
    typer.echo(f"{len(statements)} claims proved, wrote {out}")


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="Proof bundle to verify.")],
    context: Annotated[str, typer.Option(help="Context the proofs must be bound to.")] = "",
    expect: Annotated[
        Path | None, typer.Option(help="Claims TOML the bundle must state exactly.")
    ] = None,
    consistency_only: Annotated[
        bool,
        typer.Option(
            "--consistency-only",
            help="Without --expect: exit 0 if the proofs are consistent with the statement "
            "they carry, whatever it is.",
        ),
    ] = False,
) -> None:
    """Verify every claim. Exit 0 needs --expect (or, knowingly, --consistency-only).

    With ``--expect`` the bundle must state exactly the claims of that file, and one line
    per claim is printed under the verifier's own names. Without it, only internal
    consistency can be checked: the statement is whatever the prover put in the bundle, so
    it is printed as its public parameters (never the prover's claim names), and the exit
    status is 2 unless ``--consistency-only`` says that is all the caller wants.
    """
    from veil.zk import claims  # lazy: rbcl/libsodium (≈0.2 s), not for `veil --help`

    if expect is not None and consistency_only:
        raise ConfigError("--expect and --consistency-only exclude each other")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from None
    try:
        bundle = claims.ProofBundle.from_bytes(data)
    except FormatError as exc:
        raise FormatError(f"{file}: {exc}") from None
    expected = load_claims(expect)[0] if expect is not None else None
    results = claims.check(bundle, context=context.encode(), expected=expected)
    ok = all(r.ok for r in results)
    if expected is not None:
        for r in results:
            typer.echo(f"ok    {r.name}" if r.ok else f"FAIL  {r.name}: {r.error}")
        if not ok:
            raise typer.Exit(1)
        return
    commitments, statements = claims.describe(bundle)
    typer.echo("CONSISTENCY ONLY (no --expect): the statement below is the prover's choice;")
    typer.echo("claim names in the bundle are not shown and were not checked.")
    for line in commitments:
        typer.echo(f"      {line}")
    for r, line in zip(results, statements, strict=True):
        typer.echo(f"ok    {line}" if r.ok else f"FAIL  {line}: proof does not verify")
    if not ok:
        raise typer.Exit(1)
    if not consistency_only:
        raise ConfigError(
            "the proofs are consistent, but nothing says this is the statement you need: "
            "pass --expect CLAIMS.toml (exit 0 only if the bundle states exactly those "
            "claims), or --consistency-only to accept the statement printed above"
        )
