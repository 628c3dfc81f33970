"""LAC: policies authored in the Studio, compiled once per version, enforced on every query
(access rules, graph-shape constraints, minimization), with a decision log, a simulator and
a red-team corpus. The query pipeline lives here: query → plan → LAC → execute → minimize."""
