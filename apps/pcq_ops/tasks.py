"""Thin Celery tasks: ids in, a service or a mail call."""

from __future__ import annotations

from celery import shared_task

from apps.core.tenancy import tenant_task

from . import mail, selectors


@shared_task(name="pcq_ops.fixtures_run_all", acks_late=True, time_limit=1800, soft_time_limit=1740)
def fixtures_run_all() -> dict:
    """Nightly from beat: every active tenant's replay fixtures, then overdue quarantines."""
    from apps.core.models import Tenant
    from apps.core.tenancy import tenant_context

    from . import services

    out = {}
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        with tenant_context(tenant):
            out[tenant.slug] = services.fixtures_run_all(trigger="schedule")["ok"]
            services.quarantines_escalate()
    return out


@shared_task(name="pcq_ops.suppressions_sweep", time_limit=120, soft_time_limit=100)
def suppressions_sweep() -> dict:
    """Every 5 minutes: expire ended rules, remind creators before the end."""
    from apps.core.models import Tenant
    from apps.core.tenancy import tenant_context

    from . import anomalies

    totals = {"expired": 0, "reminded": 0}
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        with tenant_context(tenant):
            for k, v in anomalies.suppressions_sweep().items():
                totals[k] += v
    return totals


@shared_task(name="pcq_ops.weekly_reports", time_limit=600, soft_time_limit=560)
def weekly_reports() -> int:
    from apps.core.models import Tenant

    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        weekly_report_mail.delay(tenant.pk)
    return 1


@shared_task(name="pcq_ops.weekly_report_mail", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
@tenant_task
def weekly_report_mail(tenant_id: int) -> int:
    """The weekly fixture report to every quarantine owner and the admins, CSV attached."""
    report = selectors.fixture_report()
    to = [q["owner_email"] for q in report["queue"] if q["owner_email"]] + [u.email for u in mail.on_call()]
    lines = [
        f"Replay fixtures: {report['fixtures']}, runs this week: {report['runs']}.",
        f"Flaky rate: {report['flaky_rate']:.1%} (target 0%). Quarantine queue: {len(report['queue'])} (target 0).",
        "",
        *[
            f"- {q['fixture']}: `{q['step']}` flaky {q['rate']:.0%}, owner {q['owner'] or 'none'}, "
            f"{q['age_days']} days old{', ESCALATED' if q['escalated'] else ''}"
            for q in report["queue"]
        ],
        "",
        f"Report: {mail.link('pcq-ops-report')}",
    ]
    return mail.send(
        to, "[Trust Fabric] Weekly replay fixture report", lines,
        [("fixture-quarantine.csv", selectors.fixture_report_csv(report), "text/csv")],
    )  # fmt: skip


@shared_task(name="pcq_ops.quarantine_escalation_mail", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
@tenant_task
def quarantine_escalation_mail(tenant_id: int, quarantine_id: int) -> int:
    from .models import Quarantine

    q = Quarantine.objects.select_related("fixture", "owner").filter(pk=quarantine_id).first()
    if q is None:
        return 0
    to = [u.email for u in mail.on_call()] + ([q.owner.email] if q.owner and q.owner.email else [])
    lines = [
        f"Fixture {q.fixture.name} has been quarantined since {q.opened_at:%Y-%m-%d} and passed its deadline "
        f"({q.deadline_at:%Y-%m-%d}). It still does not gate. Reason: {q.reason}",
        f"Report: {mail.link('pcq-ops-report')}",
    ]
    return mail.send(to, f"[Trust Fabric] Quarantine overdue: {q.fixture.name}", lines)


@shared_task(name="pcq_ops.suppression_reminder_mail", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
@tenant_task
def suppression_reminder_mail(tenant_id: int, rule_id: int) -> int:
    from .models import SuppressionRule

    rule = SuppressionRule.objects.select_related("created_by").filter(pk=rule_id).first()
    if rule is None or not rule.created_by.email:
        return 0
    lines = [
        f"Your suppression rule {rule.pk} ({rule.matchers}) ends at {rule.expires_at:%Y-%m-%d %H:%M} UTC.",
        f"Reason given: {rule.reason}",
        f"Rules: {mail.link('pcq-ops-suppressions')}",
    ]
    return mail.send([rule.created_by.email], f"[Trust Fabric] Suppression rule {rule.pk} ends soon", lines)
