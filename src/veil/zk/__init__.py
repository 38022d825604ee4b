"""Zero-knowledge claims on ristretto255: Pedersen commitments, sigma protocols and
Bulletproofs range proofs, with a high-level claims API (``veil.zk.claims``).

The scalar arithmetic is pure Python integers and is **not constant time**; point
arithmetic runs in libsodium (via ``rbcl``). See ``docs/zk.md``.
"""
