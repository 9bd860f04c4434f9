from django.apps import AppConfig


class TallyConfig(AppConfig):
    name = "tally"

    def ready(self) -> None:
        from pb.core import services as core_services
        from tally.services import tally_phase_hook

        # Appended after ballots' hook (INSTALLED_APPS order), so the roll snapshot exists when we freeze;
        # tally.services._roll hashes the roll itself should it not.
        if tally_phase_hook not in core_services.PHASE_HOOKS:
            core_services.PHASE_HOOKS.append(tally_phase_hook)
