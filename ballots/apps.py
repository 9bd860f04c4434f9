from django.apps import AppConfig


class BallotsConfig(AppConfig):
    name = "ballots"

    def ready(self):
        from ballots.definition import definition_phase_hook
        from ballots.roll import letters
        from ballots.roll.services import roll_snapshot_hook
        from pb.core.services import PHASE_HOOKS

        letters.register()  # voting-code letters are a job (pb.core.jobs)

        # When voting opens: snapshot and hash the voter roll, then freeze the definition (which records the
        # roll's hash), in this order.
        for hook in (roll_snapshot_hook, definition_phase_hook):
            if hook not in PHASE_HOOKS:
                PHASE_HOOKS.append(hook)
