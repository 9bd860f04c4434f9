from django.apps import AppConfig


class ProposalsConfig(AppConfig):
    name = "proposals"

    def ready(self):
        from pb.core.services import PHASE_HOOKS
        from proposals.follows.services import ballot_opened_hook

        # Followers are told when the proposals they follow go on the ballot (voting opens).
        if ballot_opened_hook not in PHASE_HOOKS:
            PHASE_HOOKS.append(ballot_opened_hook)
