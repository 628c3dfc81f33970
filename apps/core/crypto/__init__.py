"""Cryptographic encodings shared by every app (pure: no Django imports)."""
