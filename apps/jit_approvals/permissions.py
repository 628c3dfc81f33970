from apps.core.models import Role

REQUESTERS = frozenset({Role.ANALYST, Role.PARTNER, Role.POLICY_AUTHOR, Role.ADMIN})
# May see (and revoke) every grant of the tenant, not only their own.
GRANT_ADMINS = frozenset({Role.ADMIN, Role.AUDITOR})
