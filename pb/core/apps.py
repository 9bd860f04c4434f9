from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "pb.core"
    label = "core"
    verbose_name = "pb core"

    def ready(self) -> None:
        from pb.core.content import track
        from pb.core.models import Pot

        track(Pot)  # a pot's rules or (translated) name changed: cached ballot pages read it again
