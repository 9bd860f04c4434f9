"""The reminder e-mails (django.tasks, "default" queue): never sent inside a request."""

from django.tasks import task

from ballots.reminders.mailing import reminders_send


@task(queue_name="default")
def reminders_send_task(election_id: int, planned: str = "") -> int:
    # Each reminder is claimed under its row lock before its e-mail goes: a second delivery sends none twice.
    return reminders_send(election_id=election_id, planned=planned)
