"""Public ids in URLs and bodies are UUIDs: a caller's value that is not one is simply not
found (a 404), never a database error."""

from __future__ import annotations

import uuid
from typing import Any


def is_uuid(value: Any) -> bool:
    """Whether ``value`` (any type a caller may send) reads as a UUID."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
