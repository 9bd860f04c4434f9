from django.core.management.base import BaseCommand, CommandError

from pb.core.audit import audit_verify


class Command(BaseCommand):
    help = "Recompute the audit log's hash chain; fail and name every entry that does not match."

    def handle(self, *args, **options):
        head, count, problems = audit_verify()
        if problems:
            for p in problems:
                self.stderr.write(f"entry #{p.seq}: {p.reason}")
            raise CommandError(f"audit chain BROKEN: {len(problems)} problem(s) in {count} entries")
        self.stdout.write(f"audit chain OK: {count} entries, head {head}")
