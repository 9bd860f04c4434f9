"""Background tasks (django.tasks) of the voter-roll import. With the ImmediateBackend they run at once,
inside the request; with a worker backend the page polls the job's progress."""

from django.tasks import task

from ballots import services_roll


@task
def roll_job_check_task(job_id: str) -> str:
    return services_roll.roll_job_check(job_id=job_id).status


@task
def roll_job_import_task(job_id: str) -> str:
    return services_roll.roll_job_run(job_id=job_id).status
