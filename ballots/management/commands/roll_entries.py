"""Match an office's address list to roll entries, for the mail merge of code letters.

manage.py roll_entries riverton-2026 references.csv --as official > entries.csv

Reads voter references (a CSV with a "reference" column, or one per line) and writes `reference,roll_entry`
(empty roll_entry: not on the roll). The references are hashed with PB_HMAC_KEY on the server, as the roll
import does; nothing is stored. Join the result with a batch's mail-merge file on roll_entry to know which
letter reference goes to which address.
"""

import csv
import io

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ballots.roll.codes import roll_entries_for_references
from ballots.roll.entries import header_map
from pb.core.exceptions import DomainError
from pb.core.models import Election
from pb.core.spreadsheet import safe_row


class Command(BaseCommand):
    help = "Write reference,roll_entry for a list of voter references (to match letters to addresses)."

    def add_arguments(self, parser):
        parser.add_argument("election", help="election slug")
        parser.add_argument("file", help="CSV with a reference column, or one reference per line")
        parser.add_argument("--as", dest="username", required=True, help="the official asking")

    def handle(self, *args, election, file, username, **options):
        election_obj = Election.objects.filter(slug=election).first()
        if election_obj is None:
            raise CommandError(f"No election with slug {election!r}.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        try:
            with open(file, encoding="utf-8-sig", newline="") as fh:
                rows = list(csv.reader(fh))
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        cols, _problems = header_map(rows[0] if rows else [])
        if "reference" in cols:
            i = cols["reference"]
            refs = [r[i] for r in rows[1:] if len(r) > i]
        else:
            refs = [r[0] for r in rows if r]
        refs = [r.strip() for r in refs if r.strip()]
        try:
            pairs = roll_entries_for_references(actor=user, election=election_obj, references=refs)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["reference", "roll_entry"])
        # The references come from the office's file: none may reach a spreadsheet as a formula.
        writer.writerows(safe_row([ref, entry or ""]) for ref, entry in pairs)
        self.stdout.write(buf.getvalue(), ending="")
