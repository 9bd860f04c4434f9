from django.apps import AppConfig


class BallotsConfig(AppConfig):
    name = "ballots"

    def ready(self):
        from ballots.definition import definition_phase_hook
        from ballots.reminders.selectors import reminders_dashboard
        from ballots.reminders.services import reminders_phase_hook
        from ballots.roll import letters
        from ballots.roll.services import roll_snapshot_hook
        from pb.core import navigation
        from pb.core.services import PHASE_HOOKS

        letters.register()  # voting-code letters are a job (pb.core.jobs)

        # When voting opens: snapshot and hash the voter roll, then freeze the definition (which records the
        # roll's hash), in this order.
        for hook in (roll_snapshot_hook, definition_phase_hook):
            if hook not in PHASE_HOOKS:
                PHASE_HOOKS.append(hook)
        # When voting closes: every voting reminder of the election is deleted (ballots.reminders).
        if reminders_phase_hook not in PHASE_HOOKS:
            PHASE_HOOKS.append(reminders_phase_hook)
        # The official's dashboard shows the reminders waiting and the "send now" button.
        if reminders_dashboard not in navigation.DASHBOARD_HOOKS:
            navigation.DASHBOARD_HOOKS.append(reminders_dashboard)
