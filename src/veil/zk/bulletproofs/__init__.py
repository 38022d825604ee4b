"""Bulletproofs on ristretto255: range proofs (``range_proof``) and the inner-product
argument they end in (``inner_product``). See ``docs/zk.md`` for the protocol in the
code's notation.
"""

from veil.zk.bulletproofs.range_proof import BIT_SIZES, PARTY_COUNTS, RangeProof, proof_size

__all__ = ["BIT_SIZES", "PARTY_COUNTS", "RangeProof", "proof_size"]
