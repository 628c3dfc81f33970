"""Providers whose data exists today: decisions, JIT, replays, the transparency log and
ZK-TX sessions; and placeholders for the sources other capabilities are building.

Each reads through the tenant-scoped managers (the digest is built inside the tenant's
context), counts the week and the previous week the same way, and links every number to
the page that lists what it counted."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from apps.jit_approvals.models import AccessRequest
from apps.provenance.models import LogCheckpoint, LogLeaf, Verification, WitnessedEntry
from apps.queries.models import Decision, QueryRun
from apps.zk_proofs.models import OverlapSession, Participation

from ..periods import Week
from .base import NotRecorded, Proposal, Section, bar_chart, line_chart, register

TOP_REASONS = 6
# A reason is "rising" when it denied at least this many queries this week and at least
# RISING_FACTOR times as many as the previous week.
RISING_MIN = 3
RISING_FACTOR = 1.5


def _in(qs: Any, week: Week, field: str = "created_at") -> Any:
    return qs.filter(**{f"{field}__gte": week.start, f"{field}__lt": week.end})


class DecisionsProvider:
    key = "decisions"
    title = "Queries and policy decisions"

    def _reason_counts(self, week: Week) -> Counter[str]:
        counts: Counter[str] = Counter()
        for codes in _in(QueryRun.objects.filter(status=QueryRun.Status.DENIED), week).values_list(
            "reason_codes", flat=True
        ):
            counts.update(set(codes or []))
        return counts

    def collect(self, ctx: Any) -> Section:
        section = Section(self.key, self.title)
        w, p = ctx.week, ctx.previous
        runs_w, runs_p = _in(QueryRun.objects.all(), w), _in(QueryRun.objects.all(), p)
        audit = "audit-list"
        section.metric(
            "queries_run",
            "Queries run",
            runs_w.count(),
            runs_p.count(),
            ctx.link(audit, action="query.", since=w.start, until=w.end),
        )
        for status, action in (
            (QueryRun.Status.ALLOWED, "query.allowed"),
            (QueryRun.Status.ALLOWED_MONITOR, "query.allowed"),
            (QueryRun.Status.DENIED, "query.denied"),
        ):
            section.metric(
                f"queries_{status}",
                QueryRun.Status(status).label,
                runs_w.filter(status=status).count(),
                runs_p.filter(status=status).count(),
                ctx.link(audit, action=action, since=w.start, until=w.end),
            )
        codes_w, codes_p = self._reason_counts(w), self._reason_counts(p)
        denied_link = ctx.link(audit, action="query.denied", since=w.start, until=w.end)
        # Reason codes name what denied (DEGREE_EXCEEDED, JIT_REQUIRED …); "rule:<id>" codes
        # name the policy rule that decided. Both are listed; only reasons propose items.
        this = Counter({c: n for c, n in codes_w.items() if not c.startswith("rule:")})
        prev = Counter({c: n for c, n in codes_p.items() if not c.startswith("rule:")})
        top = [code for code, _ in (this + prev).most_common(TOP_REASONS)]
        for code in top:
            section.metric(f"denied_{code}", code, this[code], prev[code], denied_link, group="Denials by reason code")
            if this[code] >= RISING_MIN and this[code] >= RISING_FACTOR * max(prev[code], 1):
                section.proposals.append(
                    Proposal(
                        kind="denial_rising",
                        key=f"denial_rising:{code}",
                        title=f"Denials for {code} rose to {this[code]} (previous week {prev[code]})",
                        detail="Find out whether a policy, a view or a user's habits changed.",
                        link=denied_link,
                    )
                )
        rule_w = Counter({c[5:]: n for c, n in codes_w.items() if c.startswith("rule:")})
        rule_p = Counter({c[5:]: n for c, n in codes_p.items() if c.startswith("rule:")})
        for rule, _ in (rule_w + rule_p).most_common(TOP_REASONS):
            section.metric(
                f"denied_rule_{rule}", rule, rule_w[rule], rule_p[rule], denied_link, group="Denials by policy rule"
            )

        def denying_versions(week: Week) -> Counter[tuple[str, int]]:
            return Counter(
                _in(Decision.objects.filter(outcome="deny"), week)
                .exclude(policy_version=None)
                .values_list("policy_version__policy__slug", "policy_version__number")
            )

        versions_w, versions_p = denying_versions(w), denying_versions(p)
        for (slug, number), count in versions_w.most_common(5):
            section.metric(
                f"denying_policy_{slug}_v{number}",
                f"{slug} v{number}",
                count,
                versions_p[(slug, number)],
                ctx.link("studio-version", slug, number),
                group="Top denying policy versions",
            )
        if top:
            section.charts.append(
                bar_chart(
                    "denials_by_reason",
                    "Denials by reason",
                    top,
                    [this[c] for c in top],
                    [prev[c] for c in top],
                )
            )
        return section


def approval_minutes(week: Week) -> list[float]:
    """Request-to-decision minutes of requests approved in the week (the JIT metrics page's
    measure, restricted to one week)."""
    rows = _in(
        AccessRequest.objects.filter(status=AccessRequest.Status.APPROVED, decided_at__isnull=False), week, "decided_at"
    ).values_list("created_at", "decided_at")
    return sorted((decided - created).total_seconds() / 60 for created, decided in rows)


def _p90(values: list[float]) -> float | None:
    return round(values[min(len(values) - 1, int(0.9 * len(values)))], 2) if values else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


class JitProvider:
    key = "jit"
    title = "Just-in-time access"

    def collect(self, ctx: Any) -> Section:
        section = Section(self.key, self.title)
        w, p = ctx.week, ctx.previous
        req_w, req_p = _in(AccessRequest.objects.all(), w), _in(AccessRequest.objects.all(), p)
        section.metric("requests", "Requests made", req_w.count(), req_p.count(), ctx.link("jit-requests"))
        for status in AccessRequest.Status:
            section.metric(
                f"requests_{status.value}",
                status.label,
                req_w.filter(status=status).count(),
                req_p.filter(status=status).count(),
                ctx.link("jit-requests"),
                group="Requests made, by current status",
            )
        mw, mp = approval_minutes(w), approval_minutes(p)
        metrics = ctx.link("jit-metrics")
        section.metric("approved", "Approved in the week", len(mw), len(mp), metrics, group="Approval time")
        section.metric("approval_median", "Median minutes", _median(mw), _median(mp), metrics, group="Approval time")
        section.metric("approval_p90", "p90 minutes", _p90(mw), _p90(mp), metrics, group="Approval time")
        trend = [approval_minutes(week) for week in ctx.trend]
        if any(trend):
            section.charts.append(
                line_chart(
                    "approval_times",
                    "Approval time (minutes)",
                    [week.label for week in ctx.trend],
                    {"median": [_median(t) for t in trend], "p90": [_p90(t) for t in trend]},
                )
            )
        return section


class ReplaysProvider:
    key = "replays"
    title = "Replays (PCQ verification)"

    def collect(self, ctx: Any) -> Section:
        section = Section(self.key, self.title)
        w, p = ctx.week, ctx.previous
        ver_w, ver_p = _in(Verification.objects.all(), w), _in(Verification.objects.all(), p)
        section.metric("replays", "Replays", ver_w.count(), ver_p.count(), ctx.link("evidence", since=w.start))
        labels, this, prev = [], [], []
        for status in Verification.Status:
            a, b = ver_w.filter(status=status).count(), ver_p.filter(status=status).count()
            section.metric(
                f"verdict_{status.value}",
                status.label,
                a,
                b,
                ctx.link("evidence", verdict=status.value, since=w.start),
                group="By verdict",
            )
            labels.append(status.label)
            this.append(a)
            prev.append(b)
        if any(this) or any(prev):
            section.charts.append(bar_chart("verdicts", "Replays by verdict", labels, this, prev))
        return section


class TransparencyLogProvider:
    key = "transparency_log"
    title = "Transparency log"

    def collect(self, ctx: Any) -> Section:
        section = Section(self.key, self.title)
        w, p = ctx.week, ctx.previous
        link = ctx.link("evidence", logged="true", since=w.start)
        section.metric(
            "log_growth",
            "Entries added (whole log)",
            _in(LogLeaf.objects, w).count(),
            _in(LogLeaf.objects, p).count(),
            link,
        )
        section.metric(
            "tenant_entries",
            "This tenant's witnessed verdicts",
            _in(WitnessedEntry.objects.all(), w).count(),
            _in(WitnessedEntry.objects.all(), p).count(),
            link,
        )
        end_cp = LogCheckpoint.objects.filter(created_at__lt=w.end).order_by("-size").first()
        prev_cp = LogCheckpoint.objects.filter(created_at__lt=p.end).order_by("-size").first()
        section.metric(
            "log_size",
            "Log size at the end of the week",
            end_cp.size if end_cp else None,
            prev_cp.size if prev_cp else None,
            ctx.link("evidence"),
        )
        if end_cp is not None:
            section.note = f"Latest signed checkpoint of the week: size {end_cp.size}, root {end_cp.root_hash}."
        return section


class ZkProvider:
    key = "zk"
    title = "ZK-TX deconfliction"

    def collect(self, ctx: Any) -> Section:
        section = Section(self.key, self.title)
        w, p = ctx.week, ctx.previous
        parts = Participation.objects.all()
        part_w, part_p = _in(parts, w, "session__created_at"), _in(parts, p, "session__created_at")
        link = ctx.link("zk-sessions")
        section.metric("sessions", "Sessions started", part_w.count(), part_p.count(), link)
        for status in (OverlapSession.Status.DONE, OverlapSession.Status.FAILED):
            section.metric(
                f"sessions_{status.value}",
                status.label,
                part_w.filter(session__status=status).count(),
                part_p.filter(session__status=status).count(),
                link,
                group="Sessions started, by status",
            )
        section.metric(
            "proofs_verified",
            "Round-2 proofs verified (this tenant's side)",
            part_w.filter(round2_verified=True).count(),
            part_p.filter(round2_verified=True).count(),
            link,
        )
        return section


for provider in (DecisionsProvider(), JitProvider(), ReplaysProvider(), TransparencyLogProvider(), ZkProvider()):
    register(provider)

# Sources being built by other capabilities. Each real provider registers under the same key.
for key, title, what in (
    ("anomalies", "Replay anomalies", "open replay anomalies and how long they have been open"),
    ("fixtures", "Quarantined fixtures", "quarantined fixtures and their lifetimes"),
    ("quotas", "Quotas and appeals", "quota rejections, quotas near their limit and appeals"),
    ("slos", "SLOs and error budget", "service-level objectives and the error budget left"),
    ("fairness", "Fairness", "this tenant's share of served requests and the Gini coefficient"),
    ("drift", "Drift and promotions", "policy promotions between environments and drift"),
):
    register(NotRecorded(key, title, what))

ORDER = [
    "decisions",
    "jit",
    "replays",
    "anomalies",
    "transparency_log",
    "zk",
    "quotas",
    "slos",
    "fairness",
    "drift",
    "fixtures",
]
