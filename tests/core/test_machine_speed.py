from apps.core.bench import machine_speed


def test_the_speed_probe_scales_with_its_work() -> None:
    """More iterations take longer: the probe measures this machine, not a constant."""
    small, large = machine_speed(100_000), machine_speed(1_000_000)
    assert 0 < small < large
