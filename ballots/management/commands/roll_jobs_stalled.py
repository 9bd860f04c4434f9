"""Mark stalled voter-roll import jobs failed (retryable), for every election: the periodic check.

manage.py roll_jobs_stalled      (e.g. from cron every few minutes)

The roll and job pages do the same when they are viewed; this catches a job nobody is looking at, so the
next official who opens the page sees the reason at once.
"""

from django.core.management.base import BaseCommand

from ballots.models import ImportJob
from ballots.roll.services import roll_jobs_expire_stalled
from pb.core.models import Election


class Command(BaseCommand):
    help = "Mark voter-roll import jobs with no progress for PB_ROLL_JOB_STALL_SECONDS as failed (retryable)."

    def handle(self, *args, **options):
        ids = ImportJob.objects.filter(status__in=ImportJob.RUNNING_STATUSES).values_list(
            "election_id", flat=True
        )
        marked = sum(roll_jobs_expire_stalled(election=e) for e in Election.objects.filter(pk__in=ids))
        self.stdout.write(f"{marked} stalled roll-import job(s) marked failed.")
