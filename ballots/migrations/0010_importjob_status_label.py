# The label of "uploaded" is the one the proposal import shows (pb.core.jobs.imports.FileImportJob): choices only, no SQL.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ballots', '0009_code_letter_batch'),
    ]

    operations = [
        migrations.AlterField(
            model_name='importjob',
            name='status',
            field=models.CharField(choices=[('uploaded', 'Waiting to be checked'), ('validating', 'Checking'), ('invalid', 'Has errors'), ('ready', 'Ready to import'), ('importing', 'Importing'), ('done', 'Imported'), ('failed', 'Failed')], default='uploaded', max_length=12),
        ),
    ]
