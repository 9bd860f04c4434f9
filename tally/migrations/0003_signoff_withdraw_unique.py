from django.conf import settings
from django.db import migrations, models


def withdraw_duplicates(apps, schema_editor):
    """Before the constraint: where an official signed off the same count more than once, keep the latest
    standing and mark the earlier ones withdrawn (rows are never deleted)."""
    SignOff = apps.get_model("tally", "SignOff")
    seen = set()
    for s in SignOff.objects.order_by("-created_at", "-pk"):
        key = (s.run_id, s.official_id)
        if key in seen:
            s.withdrawn_at = s.created_at
            s.withdrawn_reason = "duplicate sign-off by the same official (recorded before one per official)"
            s.save(update_fields=["withdrawn_at", "withdrawn_reason"])
        seen.add(key)


class Migration(migrations.Migration):
    dependencies = [
        ("tally", "0002_run_metrics"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="signoff",
            name="withdrawn_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="signoff",
            name="withdrawn_reason",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(withdraw_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="signoff",
            constraint=models.UniqueConstraint(
                condition=models.Q(("withdrawn_at__isnull", True)),
                fields=("run", "official"),
                name="signoff_one_per_official_per_run",
            ),
        ),
    ]
