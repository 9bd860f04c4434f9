"""Background tasks (django.tasks) of the voter-roll import, on the "default" queue. With the database
backend a worker runs them and the page polls the job's progress; with the ImmediateBackend they run at once,
inside the request."""

from django.tasks import TaskContext, task

from ballots.models import ImportJob
from ballots.roll import services as services_roll


@task(queue_name="default")
def roll_job_check_task(job_id: str) -> str:
    # Writes nothing but the job's status: a second attempt (its worker died) simply checks again.
    return services_roll.roll_job_check(job_id=job_id).status


@task(queue_name="default", takes_context=True)
def roll_job_import_task(context: TaskContext, job_id: str) -> str:
    if context.attempt > 1:
        # The worker that claimed the import died (pb.worker.lease queued this task again). The import is one
        # transaction, so nothing was written unless it committed, and then the rows are on the roll and the
        # new attempt refuses them as duplicates: the job is made ready to run once more.
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.IMPORTING).update(
            status=ImportJob.Status.READY
        )
    return services_roll.roll_job_run(job_id=job_id).status
