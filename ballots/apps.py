from django.apps import AppConfig


class BallotsConfig(AppConfig):
    name = "ballots"

    def ready(self):
        from ballots.services_roll import roll_snapshot_hook
        from pb.core.services import PHASE_HOOKS

        # Roll helper: freeze and hash the voter roll when voting opens.
        if roll_snapshot_hook not in PHASE_HOOKS:
            PHASE_HOOKS.append(roll_snapshot_hook)
