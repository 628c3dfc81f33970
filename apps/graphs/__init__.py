"""Graph datasets (immutable, content-hashed versions with planner statistics), saved views,
and query execution on networkx. The policy engine (apps.policy_studio) decides; this app
holds the data and runs what was allowed."""
