"""GET /healthz for monitoring and load balancers: the database answers, and no queued task has waited
longer than PB_HEALTH_MAX_QUEUE_AGE seconds (workers are running and keep up). 200 or 503, JSON; no
authentication, so it shows only counts and ages. GET /healthz?check=database checks the database only: a
stalled queue is the same on every app server, so a load balancer routing on it would drop them all."""

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.tasks import task_backends
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from pb.worker import lease
from pb.worker.models import WorkerHeartbeat


def _queues() -> dict:
    """Per queue: tasks ready to run and how long the oldest has waited (seconds since it could start)."""
    now = timezone.now()
    queues = {}
    for name in settings.TASKS["default"]["QUEUES"]:
        ready = DBTaskResult.objects.ready().filter(backend_name="default", queue_name=name)
        oldest = ready.order_by("enqueued_at").first()
        waited = 0
        if oldest is not None:
            # A deferred task waits from its run_after (the far-future sentinel means "not deferred").
            since = (
                max(oldest.enqueued_at, oldest.run_after) if oldest.run_after <= now else oldest.enqueued_at
            )
            waited = max(0, round((now - since).total_seconds()))
        queues[name] = {"queued": ready.count(), "oldest_queued_seconds": waited}
    return queues


@never_cache
@require_GET
def healthz(request):
    body: dict = {"status": "ok", "database": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        if request.GET.get("check") == "database":
            pass  # a load balancer's routing check: the queue is site-wide, not this server's
        elif isinstance(task_backends["default"], DatabaseBackend):
            queues = _queues()
            oldest = max((q["oldest_queued_seconds"] for q in queues.values()), default=0)
            since = timezone.now() - lease.lost_after()
            body["tasks"] = {
                "backend": "database",
                "oldest_queued_seconds": oldest,
                "max_queue_age_seconds": settings.PB_HEALTH_MAX_QUEUE_AGE,
                "queues": queues,
                "workers": WorkerHeartbeat.objects.filter(beat_at__gte=since).count(),
            }
            if oldest > settings.PB_HEALTH_MAX_QUEUE_AGE:
                body["status"] = "queue_stalled"
        else:
            body["tasks"] = {"backend": "immediate"}
    except DatabaseError:
        body["status"], body["database"] = "database_unreachable", "unreachable"
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)
