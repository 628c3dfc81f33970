from apps.core.models import Role

AUTHORS = frozenset({Role.ADMIN, Role.POLICY_AUTHOR})
POLICY_READERS = frozenset({Role.ADMIN, Role.POLICY_AUTHOR, Role.AUDITOR})
QUERY_RUNNERS = frozenset({Role.ADMIN, Role.POLICY_AUTHOR, Role.ANALYST, Role.PARTNER})
QUERY_READERS = QUERY_RUNNERS | {Role.AUDITOR}
