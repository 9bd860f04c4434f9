"""Liveness of task workers, and the recovery of a task whose worker died.

django-tasks-db marks a task RUNNING when a worker claims it and never looks at it again: if that worker is
killed (SIGKILL, out of memory, a machine lost), the task stays RUNNING for ever. So each worker
(`manage.py task_worker`) beats in WorkerHeartbeat every PB_WORKER_LOST_SECONDS / 6 seconds, and every worker
re-queues, at start-up and then every few beats, the running tasks whose worker has not beaten for
PB_WORKER_LOST_SECONDS. A re-queued task runs again as attempt 2 (TaskContext.attempt): our tasks are
idempotent (a tally run or a roll import claims itself with a conditional update and is taken back only by a
later attempt).

A worker that cannot beat for half that time stops itself (os._exit), so a task is never re-queued while its
first worker, cut off from the database but alive, still runs it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import OperationalError, close_old_connections, connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from pb.worker.models import WorkerHeartbeat

logger = logging.getLogger("pb.worker")


def lost_after() -> dt.timedelta:
    return dt.timedelta(seconds=max(1, int(settings.PB_WORKER_LOST_SECONDS)))


def worker_register(*, worker_id: str, queues: str) -> WorkerHeartbeat:
    now = timezone.now()
    beat, _created = WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "queues": queues[:200],
            "started_at": now,
            "beat_at": now,
        },
    )
    return beat


def worker_beat(*, worker_id: str, queues: str) -> None:
    if not WorkerHeartbeat.objects.filter(worker_id=worker_id).update(beat_at=timezone.now()):
        worker_register(worker_id=worker_id, queues=queues)  # its row was pruned while it was unreachable


def worker_unregister(*, worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def _alive_workers() -> set[str]:
    """Ids of the workers that beat recently, or that run on this machine under a live process id (on one
    machine a worker whose beats wait behind a long SQLite write is still known alive)."""
    since = timezone.now() - lost_after()
    host = socket.gethostname()[:255]
    alive = set()
    for worker_id, hostname, pid, beat_at in WorkerHeartbeat.objects.values_list(
        "worker_id", "hostname", "pid", "beat_at"
    ):
        if beat_at >= since or (hostname == host and (pid == os.getpid() or _pid_alive(pid))):
            alive.add(worker_id)
    return alive


def tasks_requeue_lost() -> int:
    """Queue again every running task whose worker is dead; returns how many."""
    alive = _alive_workers()
    requeued = 0
    with exclusive_transaction(DBTaskResult.objects.db):
        # Locked and skipped: two workers recovering at once requeue each task once.
        running = DBTaskResult.objects.running().select_for_update(skip_locked=True)
        for task in running:
            if task.worker_ids and task.worker_ids[-1] in alive:
                continue
            logger.warning(
                "task %s (%s) was claimed by worker %s, which is gone: queued again",
                task.id,
                task.task_path,
                task.worker_ids[-1] if task.worker_ids else "?",
            )
            task.status = TaskResultStatus.READY
            task.started_at = None
            task.save(update_fields=["status", "started_at"])
            requeued += 1
        # Forget workers silent for much longer than it takes to recover their task.
        WorkerHeartbeat.objects.filter(beat_at__lt=timezone.now() - 10 * lost_after()).exclude(
            worker_id__in=alive
        ).delete()
    return requeued


class Heartbeat(threading.Thread):
    """Beats for one worker process in a thread of its own (its own database connection), re-queues dead
    workers' tasks every few beats, and stops the process if it cannot beat (see the module docstring)."""

    def __init__(self, *, worker_id: str, queues: str) -> None:
        super().__init__(name=f"heartbeat-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.queues = queues
        self.interval = max(0.2, lost_after().total_seconds() / 6)
        self.stopping = threading.Event()

    def run(self) -> None:
        last_ok = time.monotonic()
        beats = 0
        while not self.stopping.wait(self.interval):
            try:
                close_old_connections()
                worker_beat(worker_id=self.worker_id, queues=self.queues)
                beats += 1
                if beats % 3 == 0:
                    tasks_requeue_lost()
                last_ok = time.monotonic()
            except OperationalError as exc:
                if is_locked_database_exception(exc):
                    # SQLite busy behind a long write (maybe this worker's own import): the database is
                    # there, and on one machine the other workers see this process alive (_alive_workers).
                    last_ok = time.monotonic()
                else:
                    logger.exception("worker %s could not beat", self.worker_id)
                    connection.close()
            except Exception:
                logger.exception("worker %s could not beat", self.worker_id)
                connection.close()
            if time.monotonic() - last_ok > lost_after().total_seconds() / 2:
                logger.critical(
                    "worker %s lost the database: stopping so its task runs elsewhere", self.worker_id
                )
                os._exit(75)  # EX_TEMPFAIL: systemd restarts the worker
        connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=self.interval + 5)
