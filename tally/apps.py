from django.apps import AppConfig


class TallyConfig(AppConfig):
    name = "tally"

    def ready(self) -> None:
        from django.urls import reverse

        from pb.core import navigation
        from pb.core import services as core_services
        from pb.core.models import Phase
        from proposals import selectors as proposal_selectors
        from tally import jobs
        from tally.phases import tally_phase_hook
        from tally.selectors import funded_codes, todo_for
        from tally.statistics.services import statistics_phase_hook
        from tally.tracking.services import tracking_phase_hook

        jobs.register()  # certification, sign-off re-counts and publication run as jobs (pb.core.jobs)
        # The proposals' "funded only" filter and map ask the certified count which projects were funded.
        if funded_codes not in proposal_selectors.FUNDED_HOOKS:
            proposal_selectors.FUNDED_HOOKS.append(funded_codes)
        # Publishing starts tracking the funded projects; closing and publishing store the statistics.
        for hook in (tally_phase_hook, tracking_phase_hook, statistics_phase_hook):
            if hook not in core_services.PHASE_HOOKS:
                core_services.PHASE_HOOKS.append(hook)
        if todo_for not in navigation.TODO_HOOKS:
            navigation.TODO_HOOKS.append(todo_for)
        # Every step after the vote is taken on the tally page: closing needs two officials, the tally phase
        # an official count, certifying the council's signature, publishing the council's check of the PDF.
        for phase, section in (
            (Phase.VOTING_CLOSED, "h-close"),
            (Phase.TALLIED, "h-count"),
            (Phase.CERTIFIED, "h-cert"),
            (Phase.PUBLISHED, "h-cert"),
        ):
            navigation.PHASE_PAGES[phase] = lambda e, s=section: (
                reverse("tally:manage", args=[e.slug]) + "#" + s
            )
