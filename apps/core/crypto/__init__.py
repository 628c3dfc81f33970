"""The crypto kit every app shares (pure: no Django imports): canonical JSON (``canonical``),
Ed25519 and DSSE (``signing``), RFC 9162 Merkle trees (``merkle``), signed log checkpoints
(``checkpoint``), keyed hashes (``keyed``). Keys are loaded by ``apps.core.keys``."""
