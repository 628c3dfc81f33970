from apps.core.models import Role

# Who reads the explorer, pages and the fixture report; who writes rules; who approves them.
OPS_READERS = frozenset({Role.ADMIN, Role.AUDITOR, Role.POLICY_AUTHOR, Role.APPROVER})
RULE_AUTHORS = frozenset({Role.ADMIN, Role.POLICY_AUTHOR, Role.APPROVER})
RULE_APPROVERS = frozenset({Role.ADMIN, Role.APPROVER})
OPS_ADMINS = frozenset({Role.ADMIN})
