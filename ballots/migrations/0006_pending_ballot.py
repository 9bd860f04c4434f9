"""Ballots become pending (encrypted, ballots.pending) until sealed; a Ballot row is written sealed.

Ballots cast before this migration and not sealed yet are moved into the pending table (encrypted, their
ballot rows deleted), so the next seal takes them like any other; sealed_batch then becomes NOT NULL."""

import uuid

import django.db.models.deletion
from django.db import migrations, models


def unsealed_to_pending(apps, schema_editor):
    from ballots.ballotbox import pending

    Ballot = apps.get_model("ballots", "Ballot")
    PendingBallot = apps.get_model("ballots", "PendingBallot")
    unsealed = Ballot.objects.filter(sealed_batch__isnull=True)
    for b in unsealed.iterator(2000):
        values = pending.row(
            election_id=b.election_id,
            pot_id=b.pot_id,
            projects=b.projects,
            points=b.points or {},
            is_paper=b.is_paper,
            receipt_hash=b.receipt_hash,
        )
        PendingBallot.objects.create(
            id=values["id"], election_id=b.election_id, pot_id=b.pot_id, content=values["content"]
        )
    unsealed.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ballots", "0005_reconciliation_resolution"),
        ("core", "0002_pot_min_spend_label"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingBallot",
            fields=[
                (
                    "id",
                    models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                ("content", models.BinaryField()),
            ],
        ),
        migrations.AddField(
            model_name="pendingballot",
            name="election",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="core.election"
            ),
        ),
        migrations.AddField(
            model_name="pendingballot",
            name="pot",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="core.pot"
            ),
        ),
        migrations.AddIndex(
            model_name="pendingballot",
            index=models.Index(fields=["election", "pot"], name="pending_ballot_pot"),
        ),
        migrations.RunPython(unsealed_to_pending, migrations.RunPython.noop),
        migrations.RemoveIndex(
            model_name="ballot",
            name="ballot_unsealed",
        ),
        migrations.AlterField(
            model_name="ballot",
            name="sealed_batch",
            field=models.PositiveIntegerField(),
        ),
    ]
