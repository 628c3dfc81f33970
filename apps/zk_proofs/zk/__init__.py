"""Pure ZK-TX cryptography (no Django): the secp256k1 ciphersuite, RFC 9380 hash-to-curve,
two interchangeable group backends (coincurve, fast; py_ecc, reference) and the proofs."""
