from django.apps import AppConfig


class ProposalsConfig(AppConfig):
    name = "proposals"

    def ready(self) -> None:
        from pb.core.accounts.hooks import account_data_register
        from proposals import accountdata

        account_data_register(
            name="proposals",
            export=accountdata.proposals_export_for_account,
            erase=accountdata.proposals_erase_for_account,
        )
