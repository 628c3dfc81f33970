from apps.core.models import Role

DATA_STEWARDS = frozenset({Role.ADMIN, Role.POLICY_AUTHOR})
DATA_READERS = frozenset({Role.ADMIN, Role.POLICY_AUTHOR, Role.ANALYST, Role.AUDITOR, Role.PARTNER})
