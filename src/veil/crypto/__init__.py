"""Encryption pillar: keys, the sealed file format, HPKE, signatures, JWE."""
