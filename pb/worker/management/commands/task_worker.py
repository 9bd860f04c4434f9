"""`manage.py task_worker`: django-tasks-db's db_worker (same options: --queue-name, --interval, --batch,
--max-tasks, --worker-id, ...) plus a heartbeat, so the task of a worker that died is run again
(pb.worker.lease). One process runs one task at a time: run as many as the work needs (docs/deploy.md)."""

import os
import socket

from django.utils.crypto import get_random_string
from django_tasks_db.management.commands import db_worker

from pb.worker import lease


class Command(db_worker.Command):
    help = (
        "Run background tasks from the database queue, with a heartbeat and recovery of dead workers' tasks"
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        # Readable in logs and the admin: machine, process, and a random tail (unique across the pool).
        worker_id = f"{socket.gethostname()[:30]}-{os.getpid()}-{get_random_string(12)}"
        # No code reloading by default (db_worker's default is DEBUG): a reloader's parent process runs no
        # task and would outlive a `kill` of the worker in `make demo`.
        parser.set_defaults(worker_id=worker_id, reload=False)

    def handle(self, *args, worker_id: str, queue_name: str, **options) -> None:
        lease.worker_register(worker_id=worker_id, queues=queue_name)
        heartbeat = lease.Heartbeat(worker_id=worker_id, queues=queue_name)
        try:
            lease.tasks_requeue_lost()  # a worker that starts after a crash picks its task up again
            heartbeat.start()
            super().handle(*args, worker_id=worker_id, queue_name=queue_name, **options)
        finally:
            heartbeat.stop()
            lease.worker_unregister(worker_id=worker_id)
