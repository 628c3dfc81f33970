"""PCQ — proof-carrying queries: signed manifests, the provenance DSL, the replay verifier,
witness co-signing, the transparency log, simulated remote attestation, evidence bundles."""
