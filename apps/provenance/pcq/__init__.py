"""Pure PCQ building blocks (no Django): usable by the offline verifier with no database."""
