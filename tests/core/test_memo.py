"""apps.core.memo.Found: what is remembered, for how long, and that a full memory starts again."""

from __future__ import annotations

from apps.core.memo import Found


def test_found_answers_are_remembered_until_the_ttl_and_misses_never() -> None:
    now = [100.0]
    asked: list[set[str]] = []
    rows = {"a": 1, "b": 2}

    def fetch(keys: set[str]) -> dict[str, int]:
        asked.append(set(keys))
        return {k: rows[k] for k in keys if k in rows}

    memory: Found[str, int] = Found(10.0, 100, clock=lambda: now[0])
    assert memory.many({"a", "x"}, fetch) == {"a": 1}
    assert memory.many({"a", "x"}, fetch) == {"a": 1}
    assert asked == [{"a", "x"}, {"x"}]  # the hit is remembered, the miss is asked again
    rows["x"] = 3
    assert memory.many({"a", "x"}, fetch) == {"a": 1, "x": 3}  # found later
    rows["a"] = 9
    now[0] += 9.9
    assert memory.many({"a"}, fetch) == {"a": 1}
    now[0] += 0.1
    assert memory.many({"a"}, fetch) == {"a": 9}  # older than the ttl: asked again


def test_one_keeps_a_found_value_and_a_full_memory_starts_again() -> None:
    calls = []

    def fetch(key: int) -> int | None:
        calls.append(key)
        return None if key < 0 else key * 2

    memory: Found[int, int] = Found(None, 3)
    assert [memory.one(k, fetch) for k in (1, 2, 1, -1, -1)] == [2, 4, 2, None, None]
    assert calls == [1, 2, -1, -1]
    for k in (3, 4):
        memory.one(k, fetch)
    assert len(memory) <= 3  # bounded: cleared when full, answers unchanged
    assert memory.one(1, fetch) == 2
    memory.clear()
    assert len(memory) == 0
