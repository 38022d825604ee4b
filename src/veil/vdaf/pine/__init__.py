"""PINE: verifiable aggregation of real vectors with a bounded L2 norm.

draft-chen-cfrg-vdaf-pine-02 (on draft-irtf-cfrg-vdaf-11 conventions), byte-exact with the
reference code's vectors. Example (two Aggregators)::

    from veil.vdaf.pine import Pine64, norm_bound_from_float
    vdaf = Pine64(norm_bound_from_float(1.0, 15), 15, dimension, chunk_length=150, num_shares=2)
    public_share, input_shares = vdaf.shard_with_retry(gradient, nonce)
    state, vshare = vdaf.verify_init(verify_key, agg_id, None, nonce, public_share, share)
    msg = vdaf.verifier_shares_to_message(None, [vshare_leader, vshare_helper])
    out_share = vdaf.verify_next(state, msg)

.. warning:: This code has not undergone significant security analysis. Python is not
   constant time.
"""

from veil.vdaf.pine.params import PineParams, norm_bound_from_float
from veil.vdaf.pine.vdaf import (
    VARIANTS,
    Pine,
    Pine32HmacSha256Aes128,
    Pine40HmacSha256Aes128,
    Pine64,
    Pine64HmacSha256Aes128,
    Pine128,
    PineHelperShare,
    PineInputShare,
    PineLeaderShare,
    PinePublicShare,
    PineVerifierMessage,
    PineVerifierShare,
    PineVerifyState,
    optimal_chunk_length,
)

__all__ = [
    "VARIANTS",
    "Pine",
    "Pine32HmacSha256Aes128",
    "Pine40HmacSha256Aes128",
    "Pine64",
    "Pine64HmacSha256Aes128",
    "Pine128",
    "PineHelperShare",
    "PineInputShare",
    "PineLeaderShare",
    "PineParams",
    "PinePublicShare",
    "PineVerifierMessage",
    "PineVerifierShare",
    "PineVerifyState",
    "norm_bound_from_float",
    "optimal_chunk_length",
]
