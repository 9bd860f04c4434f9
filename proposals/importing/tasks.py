"""Background tasks (django.tasks) of the proposal import, on the "default" queue. With the database backend a
worker runs them and the job page polls their progress; with the ImmediateBackend they run inside the
request."""

from django.tasks import task

from proposals.importing import services as import_services


@task(queue_name="default")
def proposal_import_check_task(job_id: str) -> str:
    # Writes nothing but the job's status and preview: a second delivery simply checks again.
    return import_services.proposal_import_job_check(job_id=job_id).status


@task(queue_name="default")
def proposal_import_run_task(job_id: str) -> str:
    # The confirm claimed the job (READY → IMPORTING). The import and the job's DONE commit together, under
    # the job's row lock: a delivery after a worker died mid-import (rolled back, still IMPORTING) imports,
    # a delivery after it committed finds DONE and imports nothing.
    return import_services.proposal_import_job_run(job_id=job_id).status
