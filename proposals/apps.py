from django.apps import AppConfig


class ProposalsConfig(AppConfig):
    name = "proposals"

    def ready(self) -> None:
        from pb.core import navigation
        from pb.core.accounts.hooks import account_data_register
        from pb.core.content import track
        from pb.core.services import PHASE_HOOKS
        from proposals import accountdata
        from proposals.comments.selectors import moderation_todo
        from proposals.follows.services import ballot_opened_hook
        from proposals.models import Proposal
        from proposals.selectors import dashboard_context
        from proposals.supports.services import supports_phase_hook

        # A proposal changed (a translated title, a new picture): cached ballot pages read it again.
        track(Proposal)
        # The official's dashboard (pb.core) shows the review queue and the import/export buttons.
        if dashboard_context not in navigation.DASHBOARD_HOOKS:
            navigation.DASHBOARD_HOOKS.append(dashboard_context)
        # Leaving the supports phase for review decides which proposals go on (proposals.supports).
        if supports_phase_hook not in PHASE_HOOKS:
            PHASE_HOOKS.append(supports_phase_hook)
        # A resident's account: their proposals in the data download, and anonymised when they delete it.
        account_data_register(
            name="proposals",
            export=accountdata.proposals_export_for_account,
            erase=accountdata.proposals_erase_for_account,
        )
        account_data_register(
            name="supports",
            export=accountdata.supports_export_for_account,
            erase=accountdata.supports_erase_for_account,
        )
        # Followers are told when the proposals they follow go on the ballot (voting opens).
        if ballot_opened_hook not in PHASE_HOOKS:
            PHASE_HOOKS.append(ballot_opened_hook)
        # Officials see reported comments waiting for them on the home and election pages.
        if moderation_todo not in navigation.TODO_HOOKS:
            navigation.TODO_HOOKS.append(moderation_todo)
