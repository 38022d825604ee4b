"""``veil keygen``, ``veil recipient``, ``veil seal``, ``veil open`` (docs/cli.md).

Passphrases come from the ``VEIL_PASSPHRASE`` environment variable when it is set (for
scripts and tests), otherwise from a hidden prompt; they are never taken from argv, where
other users of the machine could read them.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from veil.errors import ConfigError, KeyFormatError, PassphraseError

if TYPE_CHECKING:
    from veil.crypto.keys import Identity

# The commands import veil.crypto.keys / veil.crypto.seal (and so ``cryptography``) in their
# bodies: typer builds every command's --help from the signatures alone, and ``veil --help``
# or ``veil zk --help`` should not pay for the encryption pillar.

PASSPHRASE_ENV = "VEIL_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)


def _passphrase(confirm: bool) -> str:
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env
    if not sys.stdin.isatty():
        raise PassphraseError(f"a passphrase is needed: set {PASSPHRASE_ENV} or run in a terminal")
    value = typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
    if not value:
        raise PassphraseError("empty passphrase")
    return value


def _identities(paths: list[Path]) -> list[Identity]:
    # lazy: cryptography (≈50 ms), not needed for `veil --help`
    from veil.crypto.keys import load_identities
    from veil.crypto.seal import MAGIC

    passphrase = None
    if any(p.is_file() and p.read_bytes().startswith(MAGIC) for p in paths):
        passphrase = _passphrase(confirm=False)
    for p in paths:
        if not p.is_file():
            raise KeyFormatError(f"identity file not found: {p}")
    return load_identities(paths, passphrase)


def keygen(
    key_type: Annotated[
        str,
        typer.Option(
            "--type", "-t", help="x25519 | mlkem768-x25519 | rsa-3072 | rsa-4096 | ed25519"
        ),
    ] = "x25519",
    output: Annotated[Path, typer.Option("--output", "-o", help="identity file to create")] = ...,  # type: ignore[assignment]
    passphrase: Annotated[
        bool, typer.Option("--passphrase", "-p", help="protect the identity file with a passphrase")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
) -> None:
    """Generate an identity (private key) file and print its recipient (public) string."""
    # lazy: cryptography (≈50 ms), not needed for `veil --help`
    from veil.crypto.keys import ScryptRecipient, generate_identity, identity_file_text
    from veil.crypto.seal import atomic_output, seal_stream

    if output.exists() and not force:
        raise typer.BadParameter(f"{output} exists (use --force to overwrite)", param_hint="-o")
    identity = generate_identity(key_type)
    text = identity_file_text(identity).encode()
    if passphrase:
        sealed = io.BytesIO()
        seal_stream(io.BytesIO(text), sealed, [ScryptRecipient(_passphrase(confirm=True))])
        text = sealed.getvalue()
    with atomic_output(output) as tmp:
        os.fchmod(tmp.fileno(), 0o600)
        tmp.write(text)
    typer.echo(f"Public key fingerprint: {identity.fingerprint}", err=True)
    typer.echo(str(identity.recipient()))


def recipient(identity_file: Annotated[Path, typer.Argument(help="identity file")]) -> None:
    """Print the recipient (public) string of each identity in a file."""
    for ident in _identities([identity_file]):
        typer.echo(str(ident.recipient()))


@contextlib.contextmanager
def _output_errors(output: str) -> Iterator[None]:
    """An output path that cannot be written is a usage error, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None


def _input(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    p = Path(path)
    if not p.is_file():
        raise typer.BadParameter(f"no such file: {path}", param_hint="INPUT")
    return p.open("rb")


def seal(
    input_path: Annotated[
        str, typer.Argument(metavar="INPUT", help="file to seal, or - for stdin")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="sealed file, or - for stdout")
    ] = "-",
    recipients: Annotated[
        list[str] | None,
        typer.Option("--recipient", "-r", help="recipient string or public key file"),
    ] = None,
    recipients_file: Annotated[
        list[Path] | None,
        typer.Option("--recipients-file", "-R", help="file of recipients, one a line"),
    ] = None,
    passphrase: Annotated[
        bool, typer.Option("--passphrase", "-p", help="seal to a passphrase")
    ] = False,
    sign: Annotated[
        Path | None, typer.Option("--sign", help="Ed25519 identity file to sign with")
    ] = None,
) -> None:
    """Seal a file to one or more recipients (AES-256-GCM STREAM, keys wrapped per recipient)."""
    # lazy: cryptography (≈50 ms), not needed for `veil --help`
    from veil.crypto.keys import Ed25519Identity, ScryptRecipient, load_recipients
    from veil.crypto.seal import atomic_output, seal_stream

    recips = load_recipients(recipients or [], recipients_file or [])
    if passphrase:
        if recips:
            raise typer.BadParameter("a passphrase cannot be combined with recipients")
        recips = [ScryptRecipient(_passphrase(confirm=True))]
    if not recips:
        raise typer.BadParameter("give at least one -r/-R recipient or --passphrase")
    signer = None
    if sign is not None:
        signers = [i for i in _identities([sign]) if isinstance(i, Ed25519Identity)]
        if not signers:
            raise KeyFormatError(f"{sign} holds no ed25519 identity to sign with")
        signer = signers[0]
    src = _input(input_path)
    try:
        if output == "-":
            seal_stream(src, sys.stdout.buffer, recips, sign_with=signer)
            sys.stdout.buffer.flush()
        else:
            with _output_errors(output), atomic_output(Path(output), durable=False) as dst:
                seal_stream(src, dst, recips, sign_with=signer)
    finally:
        if src is not sys.stdin.buffer:
            src.close()


def open_cmd(
    input_path: Annotated[str, typer.Argument(metavar="INPUT", help="sealed file, or - for stdin")],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="plaintext file (written only on success; no FIFO or device), or - for stdout",
        ),
    ] = "-",
    identity: Annotated[
        list[Path] | None, typer.Option("--identity", "-i", help="identity file (repeatable)")
    ] = None,
    passphrase: Annotated[
        bool, typer.Option("--passphrase", "-p", help="open with a passphrase")
    ] = False,
    verify_sender: Annotated[
        str | None,
        typer.Option("--verify-sender", help="require a signature by this ed25519 recipient"),
    ] = None,
) -> None:
    """Open a sealed file. Writes a file only if everything authenticates (else none at all).

    ``-o`` must name a regular file (or /dev/null): a FIFO or ``>(cmd)`` would receive the
    first chunks of a truncated file, so it is refused (exit 2). Stream with ``-o -`` and a
    pipe instead, and trust that output only if veil exits 0.
    """
    # lazy: cryptography (≈50 ms), not needed for `veil --help`
    from veil.crypto.keys import Ed25519PublicKey, ScryptIdentity, load_recipients
    from veil.crypto.seal import open_stream

    idents: list[Identity] = _identities(identity or [])
    if passphrase:
        idents.append(ScryptIdentity(_passphrase(confirm=False)))
    if not idents:
        raise typer.BadParameter("give at least one -i identity file or --passphrase")
    sender = None
    if verify_sender is not None:
        (sender,) = load_recipients([verify_sender])
        if not isinstance(sender, Ed25519PublicKey):
            raise KeyFormatError("--verify-sender needs an ed25519 recipient")
    src = _input(input_path)
    try:
        if output == "-":
            opened = open_stream(src, sys.stdout.buffer, idents, verify_sender=sender)
            sys.stdout.buffer.flush()
        else:
            with _output_errors(output):
                opened = open_stream(src, Path(output), idents, verify_sender=sender)
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    if opened.signer is not None:
        typer.echo(f"Signed by {opened.signer} ({opened.signer.fingerprint})", err=True)


def register(app: typer.Typer) -> None:
    """Attach the encryption commands to the top-level app."""
    app.command()(keygen)
    app.command()(recipient)
    app.command()(seal)
    app.command("open")(open_cmd)
