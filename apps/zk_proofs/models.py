"""ZK-TX sessions between two tenants, pilot controls and agreements.

A session is shared by two tenants, so it is reached only through each tenant's own
``Participation`` row (tenant-scoped): a tenant that is not a party gets a 404. The session
row itself holds no selectors and no blinded values — those live in each participation's
uploads, which only the server's workers read."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TenantOwnedModel

SELECTOR_TYPES = ["phone", "email", "account"]
DISCLOSURE = [("verdict", "Verdict only"), ("verdict_and_count", "Verdict and count")]


def default_disclosure_modes() -> list[str]:
    return ["verdict"]


class PilotSettings(TenantOwnedModel):
    enabled = models.BooleanField(default=False, help_text="Feature flag: off until the pilot starts.")
    partners = models.JSONField(default=list, blank=True, help_text="Slugs of partner tenants in scope.")
    selector_types = models.JSONField(default=list, blank=True)
    disclosure_modes = models.JSONField(default=default_disclosure_modes, blank=True)
    min_set_size = models.PositiveIntegerField(default=100)
    k_floor = models.PositiveIntegerField(default=5)
    opted_out = models.BooleanField(default=False, help_text="Stops new sessions immediately.")
    sessions_per_pair_per_day = models.PositiveIntegerField(default=10)
    default_region = models.CharField(
        max_length=2,
        blank=True,
        help_text="ISO 3166 region (e.g. GB) for national phone numbers; empty: national numbers are refused.",
    )
    count_min_k = models.PositiveIntegerField(
        default=50,
        help_text="The count may be disclosed only in sessions with k at least this (verdict only below).",
    )
    count_releases_per_pair_per_day = models.PositiveIntegerField(
        default=1, help_text="Sessions per partner pair and day that may release the count."
    )
    # Quotas (token buckets in Redis, apps/zk_proofs/quotas.py; 0 = no limit).
    requests_per_second = models.PositiveIntegerField(default=50, help_text="ZK-TX API requests per second.")
    requests_burst = models.PositiveIntegerField(default=100, help_text="Requests allowed at once above the rate.")
    pair_requests_per_second = models.PositiveIntegerField(
        default=20, help_text="Session requests per second of one partner pair (the lower of both pilots)."
    )
    sessions_per_day = models.PositiveIntegerField(default=100, help_text="Session proposals per day, all partners.")
    proofs_per_day = models.PositiveIntegerField(
        default=100_000, help_text="Round-2 chunk proofs uploaded plus bundles checked at L1, per day."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "pilot settings"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="one_pilot_settings_per_tenant")]

    def __str__(self) -> str:
        return f"pilot settings ({'on' if self.enabled else 'off'})"

    @staticmethod
    def pair_refusal(
        mine: PilotSettings | None,
        theirs: PilotSettings | None,
        *,
        me: str,
        partner: str,
        k: int,
        disclosure: str,
        selector_type: str,
    ) -> tuple[str, str, int] | None:
        """May these two pilots pair for this session? ``(code, sentence, status)`` when not.
        (Agreements are rows of their own; ``services.session_propose`` checks them next.)"""
        both = mine is not None and theirs is not None
        checks = [
            (
                both and mine.enabled and theirs.enabled,
                "pilot_off",
                "The ZK-TX pilot is not enabled for both tenants.",
                403,
            ),
            (
                not (mine and mine.opted_out) and not (theirs and theirs.opted_out),
                "opted_out",
                "A tenant has opted out of ZK-TX sessions.",
                403,
            ),
            (
                both and partner in mine.partners and me in theirs.partners,
                "out_of_scope",
                "The partner is not in both tenants' pilot scope.",
                403,
            ),
            (
                selector_type in SELECTOR_TYPES
                and both
                and selector_type in mine.selector_types
                and selector_type in theirs.selector_types,
                "selector_type",
                f"Selector type {selector_type!r} is not allowed by both pilots.",
                400,
            ),
            (
                both and disclosure in mine.disclosure_modes and disclosure in theirs.disclosure_modes,
                "disclosure",
                f"Disclosure mode {disclosure!r} is not allowed by both pilots.",
                400,
            ),
            (
                both and k >= max(mine.k_floor, theirs.k_floor),
                "k_floor",
                f"k must be at least {max(mine.k_floor if mine else 0, theirs.k_floor if theirs else 0)}.",
                400,
            ),
        ]
        return next(((code, message, status) for ok, code, message, status in checks if not ok), None)


class PilotAgreement(TenantOwnedModel):
    partner = models.SlugField(max_length=64)
    scope = models.TextField()
    starts_on = models.DateField()
    ends_on = models.DateField()
    signatories = models.JSONField(default=list)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_on"]

    def __str__(self) -> str:
        return f"agreement with {self.partner} ({self.starts_on}–{self.ends_on})"


class OverlapSession(models.Model):
    """The shared state of one PSI-CA session (no selectors, no blinded values)."""

    class Status(models.TextChoices):
        AWAITING_KEYS = "awaiting_keys", "Waiting for both keys"
        ROUND1 = "round1", "Waiting for round 1"
        ROUND2 = "round2", "Waiting for round 2"
        VERIFYING = "verifying", "Verifying"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    suite = models.CharField(max_length=40)
    statement = models.JSONField(
        null=True, blank=True, help_text="The round-2 transcript statement both tenants countersign (v2)."
    )
    data_key_wrapped = models.BinaryField(
        null=True, blank=True, help_text="This session's transcript data key, wrapped by ZK_TRANSCRIPT_KEY."
    )
    kek_id = models.CharField(max_length=16, blank=True, help_text="Which wrapping key wrapped the data key.")
    transcript_deleted_at = models.DateTimeField(null=True, blank=True)
    k = models.PositiveIntegerField()
    disclosure = models.CharField(max_length=20, choices=DISCLOSURE)
    selector_type = models.CharField(max_length=10)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AWAITING_KEYS)
    count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Known to the server; released per disclosure."
    )
    verdict = models.BooleanField(null=True, blank=True, help_text="overlap ≤ k")
    failure = models.TextField(blank=True)
    bundle = models.JSONField(null=True, blank=True)
    bundle_digest = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"session {self.public_id}"


class Participation(TenantOwnedModel):
    class Role(models.TextChoices):
        A = "A", "Proposer"
        B = "B", "Partner"

    session = models.ForeignKey(OverlapSession, on_delete=models.PROTECT, related_name="participations")
    role = models.CharField(max_length=1, choices=Role.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    key = models.CharField(max_length=66, blank=True, help_text="X = x·G, compressed, hex")
    key_proof = models.JSONField(null=True, blank=True)
    round1 = models.JSONField(
        null=True, blank=True, help_text="v2: {padded_size, sizes, signature}; the points are sealed in round1_sealed"
    )
    round1_root = models.CharField(max_length=64, blank=True)
    round1_sealed = models.BinaryField(null=True, blank=True, help_text="AES-GCM under the session's data key")
    round2 = models.JSONField(null=True, blank=True, help_text="v2: {sizes, proofs: [{c, s}]}")
    round2_root = models.CharField(max_length=64, blank=True)
    round2_sealed = models.BinaryField(null=True, blank=True)
    round2_verified = models.BooleanField(default=False)
    tenant_key = models.ForeignKey(
        "TenantKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Countersigned with"
    )
    statement_signature = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            # A session key is fresh: never registered twice, in any session, tenant or suite.
            models.UniqueConstraint(fields=["key"], condition=~models.Q(key=""), name="zk_session_key_never_reused"),
            models.UniqueConstraint(fields=["session", "role"], name="one_participation_per_role"),
            models.UniqueConstraint(fields=["session", "tenant"], name="one_participation_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.role} in {self.session_id}"


class TenantKey(TenantOwnedModel):
    """A tenant's long-term Ed25519 key, registered out of band by a tenant admin. It
    countersigns round-2 transcript statements; the server never holds the private half."""

    label = models.CharField(max_length=80)
    public_key = models.CharField(max_length=44, help_text="Raw 32-byte Ed25519 public key, base64")
    fingerprint = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the raw public key, hex")
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    registered_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-registered_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.fingerprint[:16]}…)"
