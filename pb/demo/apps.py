from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo loader (`manage.py demo_load`). It sits above every app because it drives them all, from a
    proposal to a published result; nothing imports it."""

    name = "pb.demo"
    label = "demo"
