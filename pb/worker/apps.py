from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "pb.worker"
    label = "worker"
    verbose_name = "Task workers"
