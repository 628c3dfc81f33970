"""The size limits of an access request and a decision, once: the web form, the API
serializers, the service and the model fields read them from here."""

REASON_MIN = 10  # characters; approvers read the reason
REASON_MAX = 2000
PURPOSE_MAX = 64
DURATION_MAX_MINUTES = 43200  # 30 days; each JIT rule's max_grant_minutes narrows it
COMMENT_MAX = 500  # an approver's comment, a revocation reason
