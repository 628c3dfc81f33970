from apps.core.models import Role

EVIDENCE_READERS = frozenset({Role.ADMIN, Role.AUDITOR, Role.POLICY_AUTHOR})
PROV_AUTHORS = frozenset({Role.ADMIN, Role.POLICY_AUTHOR, Role.ANALYST, Role.AUDITOR})
