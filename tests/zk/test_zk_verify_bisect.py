"""The bundle check's bisection names exactly the bundles that fail, whatever their mix."""

from hypothesis import given
from hypothesis import strategies as st

from apps.zk_proofs.verification import bisect


@given(st.lists(st.booleans(), max_size=64))
def test_bisect_names_exactly_the_failing_items(oks: list[bool]) -> None:
    items = list(range(len(oks)))
    assert bisect(items, lambda batch: all(oks[i] for i in batch)) == [i for i, ok in enumerate(oks) if not ok]
