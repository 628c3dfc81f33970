"""The one-row rule "may these two pilots pair" (PilotSettings.pair_refusal)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from apps.zk_proofs.models import DISCLOSURE, SELECTOR_TYPES, PilotSettings


def _pilot(**kw) -> PilotSettings:
    base = {"enabled": True, "partners": [], "selector_types": ["phone"], "disclosure_modes": ["verdict"], "k_floor": 5}
    return PilotSettings(**{**base, **kw})


def _ask(mine, theirs, k=10, disclosure="verdict", selector="phone"):
    return PilotSettings.pair_refusal(
        mine, theirs, me="a", partner="b", k=k, disclosure=disclosure, selector_type=selector
    )


def test_two_open_pilots_in_each_others_scope_pair() -> None:
    assert _ask(_pilot(partners=["b"]), _pilot(partners=["a"])) is None


def test_each_refusal_names_its_reason() -> None:
    a, b = _pilot(partners=["b"]), _pilot(partners=["a"])
    assert _ask(None, b)[0] == "pilot_off"
    assert _ask(a, _pilot(partners=["a"], opted_out=True))[:2] == (
        "opted_out",
        "A tenant has opted out of ZK-TX sessions.",
    )
    assert _ask(a, _pilot(partners=[]))[0] == "out_of_scope"
    assert _ask(a, b, selector="email")[0] == "selector_type"
    assert _ask(a, b, disclosure="verdict_and_count")[0] == "disclosure"
    assert _ask(a, _pilot(partners=["a"], k_floor=20), k=10) == ("k_floor", "k must be at least 20.", 400)


pilots = st.builds(
    _pilot,
    enabled=st.booleans(),
    opted_out=st.booleans(),
    partners=st.lists(st.sampled_from(["a", "b"]), unique=True),
    selector_types=st.lists(st.sampled_from(SELECTOR_TYPES), unique=True),
    disclosure_modes=st.lists(st.sampled_from([d for d, _ in DISCLOSURE]), unique=True),
    k_floor=st.integers(1, 60),
)


@given(pilots, pilots, st.integers(1, 80), st.sampled_from(SELECTOR_TYPES), st.sampled_from([d for d, _ in DISCLOSURE]))
def test_pairing_is_symmetric(mine, theirs, k, selector, disclosure) -> None:
    """Both pilots must allow it: the verdict does not depend on who proposes."""
    ab = PilotSettings.pair_refusal(
        mine, theirs, me="a", partner="b", k=k, disclosure=disclosure, selector_type=selector
    )
    ba = PilotSettings.pair_refusal(
        theirs, mine, me="b", partner="a", k=k, disclosure=disclosure, selector_type=selector
    )
    assert ab == ba
