"""The error hierarchy: one base class, typed subclasses, exit codes the CLI documents."""

import pytest

from veil import errors


def test_every_error_is_a_veil_error() -> None:
    for name in dir(errors):
        obj = getattr(errors, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Exception)
            and obj.__module__ == errors.__name__
        ):
            assert issubclass(obj, errors.VeilError), name


def test_tamper_and_signature_failures_share_one_class() -> None:
    assert issubclass(errors.SignatureError, errors.IntegrityError)
    assert not issubclass(errors.NoIdentityError, errors.IntegrityError)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.IntegrityError("x"), 1),
        (errors.NoIdentityError("x"), 3),
        (errors.KeyFormatError("x"), 4),
    ],
)
def test_exit_codes(exc: errors.VeilError, code: int) -> None:
    assert exc.exit_code == code


def test_proof_error_names_the_claim() -> None:
    exc = errors.ProofError("does not verify", claim="income-range")
    assert exc.claim == "income-range" and "income-range" in str(exc)
