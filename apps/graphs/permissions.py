from apps.core.models import Role

DATA_STEWARDS = frozenset({Role.ADMIN, Role.POLICY_AUTHOR})
DATA_READERS = frozenset({Role.ADMIN, Role.POLICY_AUTHOR, Role.ANALYST, Role.AUDITOR, Role.PARTNER})
# Roles that author or audit policies see the planner's statistics (max degree and its hub,
# degree and component-size histograms, largest component): those are exactly what the graph
# constraints protect. Everyone else sees node and edge counts only.
STATS_VIEWERS = frozenset({Role.ADMIN, Role.POLICY_AUTHOR, Role.AUDITOR})
