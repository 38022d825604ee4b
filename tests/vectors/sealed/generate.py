"""Generate the frozen sealed-file vectors. Run ONCE per format version; never regenerate.

The files this wrote for veil/v1 are committed beside it and ``tests/crypto/test_frozen.py``
checks them forever: any change that stops them opening breaks compatibility.
Usage: python tests/vectors/sealed/generate.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import veil
from veil.crypto.keys import ScryptRecipient, generate_identity, identity_file_text
from veil.crypto.stream import CHUNK

HERE = Path(__file__).parent


def main() -> None:
    keys = {k: generate_identity(k) for k in ("x25519", "mlkem768-x25519", "rsa-3072", "ed25519")}
    for k, ident in keys.items():
        (HERE / f"{k}.key").write_text(identity_file_text(ident))
    cases = []

    def add(name, data, recipients, identity, expect="success", sign=None, mutate=None):
        blob = veil.seal(
            data,
            [keys[r].recipient() if r in keys else r for r in recipients],
            sign_with=keys[sign] if sign else None,
        )
        if mutate:
            blob = mutate(blob)
        (HERE / f"{name}.veil").write_bytes(blob)
        cases.append(
            {
                "file": f"{name}.veil",
                "identity": identity,
                "expect": expect,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "sender": "ed25519.key" if sign else None,
            }
        )

    text = b"veil frozen vector: loan book 2026-Q4\n"
    add("x25519", text, ["x25519"], "x25519.key")
    add("mlkem768-x25519", text, ["mlkem768-x25519"], "mlkem768-x25519.key")
    add("rsa-3072", text, ["rsa-3072"], "rsa-3072.key")
    add("empty", b"", ["x25519"], "x25519.key")
    multi = bytes(i % 251 for i in range(2 * CHUNK + 17))
    add(
        "multi-chunk-three-recipients",
        multi,
        ["x25519", "mlkem768-x25519", "rsa-3072"],
        "rsa-3072.key",
    )
    add("exact-chunk", bytes(CHUNK), ["x25519"], "x25519.key")
    add("signed", text, ["x25519"], "x25519.key", sign="ed25519")
    add(
        "passphrase",
        text,
        [ScryptRecipient("frozen vector passphrase", log_n=10)],
        "passphrase:frozen vector passphrase",
    )
    add("not-for-x25519", text, ["rsa-3072"], "x25519.key", expect="no_identity")

    def flip(pos):
        def f(blob):
            b = bytearray(blob)
            b[pos if pos >= 0 else len(b) + pos] ^= 0x40
            return bytes(b)

        return f

    add(
        "bad-header-mac",
        text,
        ["x25519"],
        "x25519.key",
        expect="integrity",
        mutate=lambda b: (
            b.replace(b"--- ", b"--- ", 1)[: b.index(b"--- ") + 30]
            + bytes([b[b.index(b"--- ") + 30] ^ 1])
            + b[b.index(b"--- ") + 31 :]
        ),
    )
    add("bad-last-chunk", text, ["x25519"], "x25519.key", expect="integrity", mutate=flip(-3))
    add(
        "truncated",
        multi,
        ["x25519"],
        "x25519.key",
        expect="integrity",
        mutate=lambda b: b[: -(17 + 16)],
    )
    add(
        "trailing-data",
        text,
        ["x25519"],
        "x25519.key",
        expect="integrity",
        mutate=lambda b: b + b"\n",
    )
    add(
        "bad-signature",
        text,
        ["x25519"],
        "x25519.key",
        expect="integrity",
        sign="ed25519",
        mutate=flip(-1),
    )
    (HERE / "manifest.json").write_text(
        json.dumps({"format": "veil/v1", "cases": cases}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
