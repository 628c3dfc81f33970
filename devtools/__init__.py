"""Dev-only tools, outside ``apps/``: never imported by the running service
(tests/test_architecture.py checks it). ``servers``: loopback Slack and SMTP stand-ins for
tests, ``make bench-jit``, ``apps/core/bench.py`` and the gameday."""
