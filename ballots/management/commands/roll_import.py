"""Import a voter-roll file from the shell (same checks and all-or-nothing write as the web import).

manage.py roll_import riverton-2026 roll.csv --as official [--dry-run]
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ballots.roll.services import roll_import
from pb.core.exceptions import DomainError
from pb.core.models import Election


class Command(BaseCommand):
    help = "Check and import a voter-roll CSV/XLSX file for an election (nothing is written if a row is bad)."

    def add_arguments(self, parser):
        parser.add_argument("election", help="election slug")
        parser.add_argument("file", help="CSV or XLSX file")
        parser.add_argument("--as", dest="username", required=True, help="the official doing the import")
        parser.add_argument("--dry-run", action="store_true", help="only check the file")

    def handle(self, *args, election, file, username, dry_run, **options):
        election_obj = Election.objects.filter(slug=election).first()
        if election_obj is None:
            raise CommandError(f"No election with slug {election!r}.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")

        def progress(phase: str, n: int) -> None:
            self.stderr.write(f"  {phase}: {n:,} rows")

        try:
            report = roll_import(
                actor=user, election=election_obj, path=file, dry_run=dry_run, progress=progress
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for e in report.errors:
            self.stdout.write(f"row {e.row} [{e.column}]: {e.message}")
        if report.error_count:
            raise CommandError(
                f"{report.error_count} problem(s) in {report.rows:,} rows: nothing was imported."
            )
        verb = "checked (dry run)" if dry_run else "imported"
        self.stdout.write(f"{report.rows:,} rows {verb} in {report.seconds:.1f} s.")
