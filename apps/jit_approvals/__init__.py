"""Just-in-time access: requests with a bound reason, one or two distinct approvers acting
from the web, Slack buttons or e-mail links, time-boxed grants enforced at plan time, an
outbox of notifications with retries, and a beat-driven sweep (reminders, escalation,
auto-deny, expiry notices)."""
