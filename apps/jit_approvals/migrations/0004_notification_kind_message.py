from django.db import migrations, models


class Migration(migrations.Migration):
    """Outbox rows for other apps' notices (pilot appeals, PCQ pages): kind ``message``."""

    dependencies = [
        ("jit_approvals", "0003_notification_kind_revoked"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("request", "Approval request"),
                    ("reminder", "Reminder"),
                    ("escalation", "Escalation"),
                    ("decision", "Decision"),
                    ("expiring", "Grant expiring"),
                    ("revoked", "Grant revoked"),
                    ("slack_link", "Slack link code"),
                    ("message", "Message (another app's notice: subject, text and link in the payload)"),
                ],
                max_length=10,
            ),
        ),
    ]
