"""Notification e-mails (django.tasks, "default" queue): never sent inside a request."""

from django.tasks import task

from pb.core.notifications.mailing import notifications_digest_send, notifications_email


@task(queue_name="default")
def notification_email_task(notification_ids: list[int]) -> int:
    # Each row is claimed before its e-mail is sent: a second delivery sends nothing twice.
    return notifications_email(notification_ids=notification_ids)


@task(queue_name="default")
def notifications_digest_task() -> int:
    # At most one digest per person per day, however often this runs (the person's settings row is locked).
    return notifications_digest_send()
