from django.apps import AppConfig


class ProposalsConfig(AppConfig):
    name = "proposals"

    def ready(self) -> None:
        from pb.core import navigation
        from proposals.selectors import dashboard_context

        # The official's dashboard (pb.core) shows the review queue and the import/export buttons.
        if dashboard_context not in navigation.DASHBOARD_HOOKS:
            navigation.DASHBOARD_HOOKS.append(dashboard_context)
