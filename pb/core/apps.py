from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "pb.core"
    label = "core"
    verbose_name = "pb core"
