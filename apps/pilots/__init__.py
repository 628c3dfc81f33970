"""Pilots: appeals with an SLA, and pilot readiness (checklist and agreement signed by both
sides, the per-pair pilot page), layered above ZK-TX (see ../../docs/zk-tx.md)."""
