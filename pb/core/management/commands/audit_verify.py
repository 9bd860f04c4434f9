from django.core.management.base import BaseCommand, CommandError

from pb.core.audit import audit_latest_checkpoint, audit_verify


class Command(BaseCommand):
    help = (
        "Recompute the audit log's hash chain, keyed MACs and private commitments, and check every signed "
        "checkpoint against it; fail and name every entry that does not match."
    )

    def handle(self, *args, **options):
        head, count, problems = audit_verify()
        if problems:
            for p in problems:
                self.stderr.write(f"entry #{p.seq}: {p.reason}")
            raise CommandError(f"audit chain BROKEN: {len(problems)} problem(s) in {count} entries")
        cp = audit_latest_checkpoint()
        anchored = (
            f"; latest signed checkpoint #{cp.pk} at seq {cp.seq} "
            f"({cp.reason}, key {cp.key_fingerprint[:16]}…)"
            if cp
            else "; no signed checkpoint yet"
        )
        self.stdout.write(f"audit chain OK: {count} entries, head {head}{anchored}")
