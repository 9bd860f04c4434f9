"""The frozen definition and the ballot log move from tally to ballots (the ballot box lives with the ballots).
State only: the tables keep their names (Meta.db_table), so no row is copied and no table is touched."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tally', '0005_verifyjob'),
        ('ballots', '0006_pending_ballot'),
        ('core', '0004_audit_anchor'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='BallotLog',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.PositiveIntegerField(default=0)),
                        ('head', models.CharField(max_length=64)),
                        ('ballots', models.PositiveIntegerField(default=0)),
                        ('election', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='ballot_log', to='core.election')),
                    ],
                    options={
                        'db_table': 'tally_ballotlog',
                    },
                ),
                migrations.CreateModel(
                    name='DefinitionFreeze',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('canonical', models.TextField()),
                        ('sha256', models.CharField(max_length=64)),
                        ('frozen_at', models.DateTimeField()),
                        ('election', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='definition_freeze', to='core.election')),
                    ],
                    options={
                        'db_table': 'tally_definitionfreeze',
                    },
                ),
                migrations.CreateModel(
                    name='LogBatch',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.PositiveIntegerField()),
                        ('prev_hash', models.CharField(max_length=64)),
                        ('hash', models.CharField(max_length=64, unique=True)),
                        ('ballot_hashes', models.JSONField()),
                        ('receipts', models.JSONField()),
                        ('election', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='log_batches', to='core.election')),
                    ],
                    options={
                        'db_table': 'tally_logbatch',
                        'ordering': ['election', 'seq'],
                        'constraints': [models.UniqueConstraint(fields=('election', 'seq'), name='log_batch_seq_unique')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
