"""ZK-TX: verifiable PSI-CA deconfliction between partner tenants (see ../../docs/zk-tx.md)."""
