"""Frozen veil/v1 vectors (tests/vectors/sealed): files sealed once, opened by every release."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

import veil
from veil.crypto.keys import ScryptIdentity, load_identities
from veil.errors import IntegrityError, NoIdentityError

HERE = Path(__file__).resolve().parents[1] / "vectors" / "sealed"
CASES = json.loads((HERE / "manifest.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_frozen_vector(case: dict) -> None:
    blob = (HERE / case["file"]).read_bytes()
    if case["identity"].startswith("passphrase:"):
        idents = [ScryptIdentity(case["identity"].split(":", 1)[1])]
    else:
        idents = load_identities([HERE / case["identity"]])
    sender = None
    if case["sender"]:
        sender = load_identities([HERE / case["sender"]])[0].recipient()
    out = io.BytesIO()
    if case["expect"] == "success":
        opened = veil.open_stream(io.BytesIO(blob), out, idents, verify_sender=sender)
        assert hashlib.sha256(out.getvalue()).hexdigest() == case["sha256"]
        assert opened.size == case["size"]
    elif case["expect"] == "integrity":
        with pytest.raises(IntegrityError):
            veil.open_stream(io.BytesIO(blob), out, idents, verify_sender=sender)
    else:
        assert case["expect"] == "no_identity"
        with pytest.raises(NoIdentityError):
            veil.open_stream(io.BytesIO(blob), out, idents)
