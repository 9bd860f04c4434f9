from django.apps import AppConfig


class TallyConfig(AppConfig):
    name = "tally"

    def ready(self) -> None:
        from pb.core import permissions
        from pb.core import services as core_services
        from pb.core.models import Phase, Role
        from tally.services import tally_phase_hook

        # Closing the vote (two officials: one asks, another confirms). Registered here to keep tally's
        # actions next to tally; the integrator may move it into pb.core.permissions.MATRIX itself.
        permissions.MATRIX.setdefault(
            "tally.close", (frozenset({Role.OFFICIAL}), frozenset({Phase.VOTING_OPEN}))
        )
        # Appended after ballots' hook (INSTALLED_APPS order), so the roll snapshot exists when we freeze;
        # tally.services._roll hashes the roll itself should it not.
        if tally_phase_hook not in core_services.PHASE_HOOKS:
            core_services.PHASE_HOOKS.append(tally_phase_hook)
