"""Queue the daily comment digest (run it from cron, e.g. hourly: each person gets at most one a day)."""

from django.core.management.base import BaseCommand

from pb.core.notifications.tasks import notifications_digest_task


class Command(BaseCommand):
    help = "Queue the comment digest e-mails (each person gets at most one a day)."

    def handle(self, *args, **options):
        result = notifications_digest_task.enqueue()
        self.stdout.write(f"digest task queued ({result.id})")
