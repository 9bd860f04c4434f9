from django.db import models


class WorkerHeartbeat(models.Model):
    """A running `manage.py task_worker` process. It beats every few seconds; a worker silent for
    PB_WORKER_LOST_SECONDS is dead, and the task it had claimed is queued again (pb.worker.lease)."""

    worker_id = models.CharField(max_length=64, primary_key=True)  # django-tasks-db's worker id
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    queues = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.hostname}:{self.pid})"
