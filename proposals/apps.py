from django.apps import AppConfig


class ProposalsConfig(AppConfig):
    name = "proposals"

    def ready(self):
        from pb.core import navigation
        from pb.core.services import PHASE_HOOKS
        from proposals.comments.selectors import moderation_todo
        from proposals.follows.services import ballot_opened_hook

        # Followers are told when the proposals they follow go on the ballot (voting opens).
        if ballot_opened_hook not in PHASE_HOOKS:
            PHASE_HOOKS.append(ballot_opened_hook)
        # Officials see reported comments waiting for them on the home and election pages.
        if moderation_todo not in navigation.TODO_HOOKS:
            navigation.TODO_HOOKS.append(moderation_todo)
