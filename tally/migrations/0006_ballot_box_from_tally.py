"""tally no longer owns the frozen definition and the ballot log (see ballots 0007). State only: the tables stay."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('ballots', '0007_ballot_box_from_tally'),
        ('tally', '0005_verifyjob'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='ballotlog',
                    name='election',
                ),
                migrations.RemoveField(
                    model_name='definitionfreeze',
                    name='election',
                ),
                migrations.RemoveConstraint(
                    model_name='logbatch',
                    name='log_batch_seq_unique',
                ),
                migrations.DeleteModel(
                    name='BallotLog',
                ),
                migrations.DeleteModel(
                    name='DefinitionFreeze',
                ),
                migrations.DeleteModel(
                    name='LogBatch',
                ),
            ],
            database_operations=[],
        ),
    ]
