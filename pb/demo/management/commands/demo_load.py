"""Load the Riverton demo: three elections in three phases (idempotent).

- riverton-2026 (fixtures/demo_riverton.json): proposals reviewed, voter roll with TEST codes, voting open.
- riverton-2027 (fixtures/demo/riverton-2027.json): proposals open, a few submitted ideas to review.
- riverton-2025 (fixtures/demo/riverton-2025.json): a past edition, voted by a simulated roll of 300
  (online and on paper), closed, counted (Method of Equal Shares, with a greedy "what if"), signed off,
  certified by the council with the TEST ONLY key and published.

Every state change goes through the services officials, residents and councils use (election_advance,
proposal_create/review, roll_import, ballot_cast, the paper, close, tally, sign-off and certify services);
only what has no service (the election, its pots and categories, the fixed demo codes) is written directly.
An election that exists already is left as it is, except that a riverton-2026 loaded by an older version
(proposals open) is taken on to voting open. These codes and keys are public: never load the demo into a
real election's database.
"""

import datetime as dt
import json
import logging
import os
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, get_hashers_by_algorithm, make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ballots import demo as ballots_demo
from pb.core.audit import audit_record
from pb.core.models import Category, Election, Phase, Pot, Role
from pb.core.secretfiles import write_secret
from pb.core.services import election_advance
from proposals import services as proposals
from proposals.comments.demo import demo_comments
from proposals.demo_maps import demo_maps_load
from proposals.models import Proposal, ProposalStatus
from proposals.supports.demo import load_supports_demo
from tally.tracking.demo import load_tracking_demo

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
FIXTURE = FIXTURES / "demo_riverton.json"
IDEAS = FIXTURES / "demo" / "riverton-2027.json"
PAST = FIXTURES / "demo" / "riverton-2025.json"
TEST_KEY = FIXTURES / "keys" / "test-council-ed25519.key"
TEST_PUB = FIXTURES / "keys" / "test-council-ed25519.pub"
TEST_CERT = FIXTURES / "keys" / "test-pades-cert.pem"
TEST_CERT_KEY = FIXTURES / "keys" / "test-pades-key.pem"

# Documented in the README; created with set_password (no hashes in fixtures).
DEMO_USERS = [
    ("official", "official-demo-2026", Role.OFFICIAL),
    ("official2", "official2-demo-2026", Role.OFFICIAL),
    ("council", "council-demo-2026", Role.COUNCIL),
    ("resident", "resident-demo-2026", None),
]
# Authors of the other residents' proposals: accounts nobody can sign in to.
DEMO_AUTHORS = ["amara", "jonas", "mei", "tuan"]


def _with_decimals(row: dict) -> dict:
    for key in ("latitude", "longitude"):
        if key in row:
            row[key] = Decimal(row[key])
    return row


class Command(BaseCommand):
    help = (
        "Load the Riverton demo: one election open for voting, one for proposals, one in the supports phase, "
        "one published."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fixture", default=str(FIXTURE), help="JSON of the election open for voting")

    def handle(self, *args, **options):
        started = time.perf_counter()
        # The immediate task backend logs every task's state; the summary below says what happened.
        logging.getLogger("django.tasks").setLevel(logging.WARNING)
        users = self._users()
        key_note = self._signing_key()
        self._audit_key()
        data = json.loads(Path(options["fixture"]).read_text(encoding="utf-8"))
        current, current_new = self._current(data, users)
        ideas, ideas_new = self._ideas(users)
        past, past_new, past_info = self._past(users)
        youth, youth_new = load_supports_demo(
            official=users["official"], users=users, create_election=self._create
        )
        demo_maps_load(actor=users["official"])  # district outlines for the maps, diacritic-blind search
        for election in (current, ideas):  # conversations on proposals, one comment hidden by an official
            demo_comments(election=election, users=users)
        self._summary(
            users=users,
            key_note=key_note,
            current=(current, current_new),
            ideas=(ideas, ideas_new),
            past=(past, past_new, past_info),
            youth=(youth, youth_new),
            seconds=time.perf_counter() - started,
        )

    # --- accounts and key ---------------------------------------------------------------------------------

    def _users(self) -> dict:
        users = {}
        User = get_user_model()
        hasher = "scrypt" if "scrypt" in get_hashers_by_algorithm() else "default"
        with transaction.atomic():
            for username, password, role in DEMO_USERS:
                user, created = User.objects.get_or_create(username=username)
                # Reset the documented password only if it no longer works. Hashed with scrypt (one of
                # Django's hashers; ~3x faster here than the default PBKDF2): the passwords are public
                # anyway, and Django re-hashes with the default hasher at the first sign-in.
                if created or not check_password(password, user.password):  # (no re-hash on check)
                    user.password = make_password(password, hasher=hasher)
                    user.save(update_fields=["password"])
                if role:
                    user.groups.add(Group.objects.get_or_create(name=role)[0])
                users[username] = user
            for username in DEMO_AUTHORS:
                user, created = User.objects.get_or_create(username=username)
                if created:
                    user.set_unusable_password()
                    user.save()
                users[username] = user
        return users

    def _audit_key(self) -> None:
        """Phase changes sign the audit head: with no audit key yet (and DEBUG off, so none is made on first
        use), make one at settings.PB_AUDIT_KEY_FILE: a fresh key, nothing in the demo needs a known one."""
        from pb.core import audit_keys

        path = audit_keys.audit_key_path()
        if not path.exists():
            info = audit_keys.audit_key_generate(path)
            self.stdout.write(f"audit key created at {path} (fingerprint {info.fingerprint})")

    def _signing_key(self) -> str:
        """The council key that certifies riverton-2025. If none is configured, copy the TEST ONLY key
        to the configured path (settings.PB_SIGNING_KEY_FILE, default keys/council.key, ignored by git),
        so the demo needs no environment variable."""
        from tally.certification import signing

        try:
            signing.load_private_key()
        except signing.KeyMissing:
            path = signing.key_path()
            if path.exists():
                raise  # a file that is not an Ed25519 key: not ours to replace
            write_secret(path, TEST_KEY.read_bytes(), exclusive=True)
            note = f"{path}: copied from the TEST ONLY key {TEST_KEY.relative_to(settings.BASE_DIR)}"
        else:
            info = signing.council_public_key()
            test = signing.public_info(
                signing.serialization.load_pem_private_key(TEST_KEY.read_bytes(), None).public_key()
            )
            if info and info.fingerprint == test.fingerprint:
                note = f"{signing.key_path()}: the TEST ONLY key (fingerprint {info.fingerprint})"
            else:
                note = f"the configured council key (fingerprint {info.fingerprint if info else '?'})"
        return f"{note}\nPDF signing certificate: {self._pades_certificate()}"

    def _pades_certificate(self) -> str:
        """The certificate that PAdES-signs riverton-2025's PDF (certification refuses without one). If none
        is configured, copy the TEST ONLY one to the configured paths (settings.PB_SIGNING_CERT_FILE and
        PB_SIGNING_CERT_KEY_FILE, default keys/council-pades-*.pem, ignored by git), like the key above."""
        from tally.certification import signing

        cert_file, key_file = signing.pades_paths()
        copied = False
        if not cert_file.exists() and not key_file.exists():
            for src, dst, mode in ((TEST_CERT, cert_file, 0o644), (TEST_CERT_KEY, key_file, 0o600)):
                write_secret(dst, src.read_bytes(), exclusive=True, mode=mode)
            copied = True
        try:
            info = signing.load_pades_certificate()
        except signing.KeyMissing as exc:  # half a pair, or files that do not fit: not ours to replace
            raise CommandError(str(exc)) from None
        test = signing.certificate_sha256(signing.x509.load_pem_x509_certificate(TEST_CERT.read_bytes()))
        if copied:
            where = TEST_CERT.relative_to(settings.BASE_DIR)
            return f"{cert_file}: copied from the TEST ONLY certificate {where} (fingerprint {info.sha256})"
        if info.sha256 == test:
            return f"{cert_file}: the TEST ONLY certificate (fingerprint {info.sha256})"
        return f"the configured certificate {cert_file} (fingerprint {info.sha256})"

    # --- building blocks ----------------------------------------------------------------------------------

    def _create(self, data: dict, fixture: Path) -> Election:
        """The election, its pots and categories (no service exists for these: officials use the admin)."""
        spec = dict(data["election"])
        election = Election.objects.create(**spec)
        for p in data["pots"]:
            Pot.objects.create(election=election, **p)
        for c in data["categories"]:
            Category.objects.create(election=election, **c)
        audit_record(
            actor="demo_load",
            action="demo.load",
            election=election,
            obj=election,
            data={"fixture": fixture.name, "phase": election.phase},
        )
        return election

    def _review(self, election: Election, reviews: list[dict], official) -> None:
        for r in reviews:
            proposal = Proposal.objects.filter(election=election, title=r["title"]).first()
            if proposal is None or proposal.status != ProposalStatus.SUBMITTED:
                continue
            proposals.proposal_review(
                actor=official,
                proposal=proposal,
                feasible=r["feasible"],
                reason=r.get("reason", ""),
                adjusted_cost=r.get("adjusted_cost"),
                cost_note=r.get("cost_note", ""),
            )

    def _advance(self, election: Election, to: str, actor) -> Election:
        order = [Phase.DRAFT, Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN]
        while election.phase in order and order.index(election.phase) < order.index(to):
            nxt = order[order.index(election.phase) + 1]
            election = election_advance(actor=actor, election=election, to_phase=nxt)
        return election

    # --- riverton-2026: voting open -----------------------------------------------------------------------

    def _current(self, data: dict, users: dict) -> tuple[Election, bool | str]:
        official = users["official"]
        with transaction.atomic():
            election = Election.objects.filter(slug=data["election"]["slug"]).first()
            created = election is None
            if created:
                election = self._current_create(data, users)
            self.codes = ballots_demo.load_demo(actor=official)["codes"]
            if election.phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW):
                # Review what is still submitted (drafts stay with their authors), then open the vote:
                # the phase hooks snapshot the roll and freeze the definition.
                self._review(election, data.get("reviews", []), official)
                for p in Proposal.objects.filter(election=election, status=ProposalStatus.SUBMITTED):
                    proposals.proposal_review(actor=official, proposal=p, feasible=True)
                election = self._advance(election, Phase.VOTING_OPEN, official)
                if not created:
                    return election, "found in an earlier phase: proposals reviewed, voting opened now"
        return election, created

    def _current_create(self, data: dict, users: dict) -> Election:
        """The fixture holds reviewed proposals (with their statuses) as if entered before pb was used."""
        election = self._create({**data, "pots": data["pots"]}, FIXTURE)
        pots = {p.slug: p for p in election.pots.all()}
        cats = {c.slug: c for c in election.categories.all()}
        merges = []
        for row in data["proposals"]:
            row = _with_decimals(dict(row))
            merged_into = row.pop("merged_into", None)
            p = Proposal.objects.create(
                election=election, pot=pots[row.pop("pot")], category=cats[row.pop("category")], **row
            )
            if merged_into:
                merges.append((p, merged_into))
        for p, code in merges:
            p.merged_into = Proposal.objects.get(election=election, code=code)
            p.save(update_fields=["merged_into"])
        for row in data.get("resident_proposals", []):
            row = dict(row)
            Proposal.objects.create(
                election=election,
                author=users["resident"],
                code=proposals.next_code(election),
                pot=pots[row.pop("pot")],
                category=cats[row.pop("category")],
                **row,
            )
        return election

    # --- riverton-2027: proposals open --------------------------------------------------------------------

    def _ideas(self, users: dict) -> tuple[Election, bool]:
        data = json.loads(IDEAS.read_text(encoding="utf-8"))
        existing = Election.objects.filter(slug=data["election"]["slug"]).first()
        if existing is not None:
            return existing, False
        official = users["official"]
        with transaction.atomic():
            election = self._advance(self._create(data, IDEAS), Phase.PROPOSALS_OPEN, official)
            self._submit(election, data["proposals"], users)
            self._review(election, data.get("reviews", []), official)
        return election, True

    def _submit(self, election: Election, rows: list[dict], users: dict, authors: list[str] | None = None):
        pots = {p.slug: p for p in election.pots.all()}
        cats = {c.slug: c for c in election.categories.all()}
        for i, row in enumerate(rows):
            row = _with_decimals(dict(row))
            for key in ("appeal", "review", "reason"):
                row.pop(key, None)
            author = row.pop("author", None) or (authors[i % len(authors)] if authors else "resident")
            proposals.proposal_create(
                actor=users[author],
                election=election,
                pot=pots[row.pop("pot")],
                category=cats[row.pop("category")],
                language=row.pop("language", "en"),
                submit=True,
                **row,
            )

    # --- riverton-2025: published -------------------------------------------------------------------------

    def _past(self, users: dict) -> tuple[Election, bool, dict]:
        data = json.loads(PAST.read_text(encoding="utf-8"))
        slug = data["election"]["slug"]
        existing = Election.objects.filter(slug=slug).first()
        if existing is not None:
            path = self._receipts_file(existing)
            return existing, False, {"receipts": path.read_text().split() if path.exists() else []}
        o1, o2, council = users["official"], users["official2"], users["council"]
        from tally.certification.services import election_certify
        from tally.closing import close_confirm, close_request
        from tally.counting import tally_run_execute, tally_start
        from tally.publication import election_publish
        from tally.signoff import signoff_recount

        # One transaction: a failure leaves no half-built election (the next run starts again).
        with transaction.atomic():
            election = self._advance(self._create(data, PAST), Phase.PROPOSALS_OPEN, o1)
            self._submit(election, data["proposals"], users, authors=data["authors"])
            election = self._advance(election, Phase.REVIEW, o1)
            by_title = {r["title"]: r for r in data["proposals"]}
            appeal = {}
            for p in Proposal.objects.filter(election=election).order_by("code"):
                r = by_title[p.title]
                feasible = r.get("review") != "not_feasible"
                proposals.proposal_review(actor=o1, proposal=p, feasible=feasible, reason=r.get("reason", ""))
                appeal[p.code] = r["appeal"]
            ballots_demo.import_people(actor=o1, election=election, people=ballots_demo.past_people(election))
            election = self._advance(election, Phase.VOTING_OPEN, o1)
            votes = ballots_demo.cast_past_votes(election=election, official=o1, appeal=appeal)
            close_request(actor=o1, election=election)
            election = close_confirm(actor=o2, election=election)
            paper = ballots_demo.enter_paper(
                election=election, pot=votes["citywide"], lines=votes["paper_lines"], first=o1, second=o2
            )
            run = tally_start(actor=o1, election=election)
            run = tally_run_execute(run_id=run.pk)
            if run.status != "done":
                raise CommandError(f"the demo count failed: {run.error}")
            election.refresh_from_db()
            whatif = tally_start(actor=o1, election=election, rule="greedy")
            tally_run_execute(run_id=whatif.pk)
            signoff_recount(actor=o1, election=election)
            signoff_recount(actor=o2, election=election)
            cert = election_certify(actor=council, election=election)
            election.refresh_from_db()
            election = election_publish(actor=council, election=election)
            # What happened to the funded projects since (tally.tracking).
            load_tracking_demo(election=election, official=o1, start=dt.date(2025, 9, 1))
        # Receipts are shown once to the voter; the demo keeps two (public demo data) for the README.
        path = self._receipts_file(election)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(votes["receipts"]) + "\n")
        info = {
            "receipts": votes["receipts"],
            "online": votes["online"],
            "paper": paper,
            "pdf": cert.pdf_name,
        }
        return election, True, info

    def _receipts_file(self, election: Election) -> Path:
        return Path(settings.PB_VAR_DIR) / "demo" / f"receipts-{election.slug}.txt"

    # --- output -------------------------------------------------------------------------------------------

    def _summary(self, *, users, key_note, current, ideas, past, youth, seconds) -> None:
        from tally.filestore import election_dir

        w = self.stdout.write
        base = "http://127.0.0.1:8000"
        (e26, new26), (e27, new27), (e25, new25, info) = current, ideas, past
        w(f"pb demo ready in {seconds:.1f} s. Sign in at {base}/accounts/login/")
        for username, password, _role in DEMO_USERS:
            w(f"  account {username} / {password}")
        for e, new in ((e26, new26), (e27, new27), (e25, new25), youth):
            state = (
                new if isinstance(new, str) else "loaded now" if new else "already loaded (left unchanged)"
            )
            w(f"{e.name} [{e.slug}]: phase {e.phase}, {state}. {base}/elections/{e.slug}/")
        w(f"Vote in {e26.slug}: {base}/vote/{e26.slug}/identify/")
        w("  TEST voting codes (public: demo only):")
        for code, district in self.codes:
            w(f"    {code}  ({district})")
        w("  or identify by roll match (voter reference + date of birth):")
        for ref, dob in ballots_demo.ROLL_MATCH:
            w(f"    {ref}  {dob.isoformat()}")
        ref, dob = ballots_demo.UNDERAGE
        w(f"  too young to vote (to see the refusal): {ref}  {dob.isoformat()}")
        w(f"Submit a proposal to {e27.slug} (as resident): {base}/proposals/{e27.slug}/new/")
        w(f"Support proposals in {youth[0].slug} (as resident): {base}/proposals/{youth[0].slug}/")
        if e25.phase == Phase.PUBLISHED:
            folder = election_dir(e25)
            pdf = folder / f"result-{e25.slug}.pdf"
            w(f"Published result of {e25.slug}: {base}/results/{e25.slug}/")
            if new25:
                w(f"  {info['online']} ballots cast online, {info['paper']} on paper")
            if info.get("receipts"):
                w(f"  demo receipts to look up there: {'  '.join(info['receipts'])}")
            rel = os.path.relpath(folder, Path.cwd())
            w(f"  signed PDF: {os.path.relpath(pdf, Path.cwd())}")
            w(
                f"  verify offline: .venv/bin/python -m tally verify "
                f"{os.path.relpath(pdf, Path.cwd())} --key {os.path.relpath(TEST_PUB, Path.cwd())} "
                f"--ballots {rel}"
            )
        w(f"Council key: {key_note}")
