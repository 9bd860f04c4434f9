"""`manage.py grant_role USER ROLE [--election SLUG] [--revoke]`: give (or take back) a role on one election
or, without --election, on every election. Audited as role.grant / role.revoke by "system"."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from pb.core.exceptions import DomainError
from pb.core.models import Election, Role
from pb.core.services import election_role_grant, election_role_revoke


class Command(BaseCommand):
    help = "Grant a role (official, council) to a user on one election (--election SLUG) or on all elections."

    def add_arguments(self, parser):
        parser.add_argument("user", help="username")
        parser.add_argument("role", help=f"one of: {', '.join(Role.values)}")
        parser.add_argument("--election", metavar="SLUG", help="only this election (default: all elections)")
        parser.add_argument("--revoke", action="store_true", help="take the grant back instead")

    def handle(self, *args, user, role, election=None, revoke=False, **options):
        User = get_user_model()
        try:
            account = User.objects.get(**{User.USERNAME_FIELD: user})
        except User.DoesNotExist:
            raise CommandError(f"no user {user!r}") from None
        target = None
        if election:
            target = Election.objects.filter(slug=election).first()
            if target is None:
                raise CommandError(f"no election with slug {election!r}")
        where = f"election {target.slug}" if target else "all elections"
        try:
            if revoke:
                n = election_role_revoke(actor=None, user=account, role=role, election=target)
                self.stdout.write(
                    f"{user}: {role} on {where} revoked" if n else f"{user} had no {role} grant on {where}"
                )
            else:
                election_role_grant(actor=None, user=account, role=role, election=target)
                self.stdout.write(f"{user}: {role} on {where}")
        except DomainError as exc:
            raise CommandError(exc.message) from exc
