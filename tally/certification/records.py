"""What the signed manifest commits to about the records behind the ballots (issue 10): the voter roll, the
participations, the receipts and the paper flag, each by a digest that the server can recompute from the
tables at any time (`record_checks`, run by tally.certification.services.certification_check).

Digests (docs/verification.md, section 7):
- "participations": {"sha256", "count", "by_pot": {pot: {channel: n}}}; sha256 = SHA-256 of the sorted
  canonical records {"pot", "channel", "booth", "voter": roll entry ref_hash}, one per "\\n"-terminated line.
  The ref_hash is a keyed hash (PB_HMAC_KEY), so the digest can be neither reversed nor tested by guessing.
- "receipts": {"sha256", "count"}; sha256 = SHA-256 of the sorted Ballot.receipt_hash values, one per
  "\\n"-terminated line: the same bytes as receipts.txt.
- "paper_ballots": {"count", "by_pot": {pot: n}, "hmac"}; hmac = HMAC-SHA256 (key derived from PB_HMAC_KEY) of
  the sorted "<pot>\\t<receipt hash>\\t<1 paper | 0 not>\\n" lines. Keyed: which receipts are paper stays
  private.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from ballots.models import Ballot, Participation, VoterRollEntry
from ballots.roll import entries as roll
from pb.core.models import Election
from tally.engine.canonical import canonical_json, sha256_hex


def participations_digest(election: Election) -> dict[str, Any]:
    rows = Participation.objects.filter(election=election).values_list(
        "pot__slug", "channel", "booth", "voter__ref_hash"
    )
    lines, by_pot = [], {}
    for pot, channel, booth, ref in rows.iterator(chunk_size=20_000):
        lines.append(canonical_json({"pot": pot, "channel": channel, "booth": booth, "voter": ref}))
        counts = by_pot.setdefault(pot, {})
        counts[channel] = counts.get(channel, 0) + 1
    lines.sort()
    return {
        "sha256": sha256_hex(b"".join(line + b"\n" for line in lines)),
        "count": len(lines),
        "by_pot": by_pot,
    }


def receipts_digest(election: Election) -> dict[str, Any]:
    receipts = sorted(Ballot.objects.filter(election=election).values_list("receipt_hash", flat=True))
    return {"sha256": sha256_hex("".join(r + "\n" for r in receipts).encode()), "count": len(receipts)}


def _paper_key() -> bytes:
    return hmac.new(settings.PB_HMAC_KEY.encode(), b"pb-paper-digest/1", hashlib.sha256).digest()


def paper_digest(election: Election) -> dict[str, Any]:
    rows = Ballot.objects.filter(election=election).values_list("pot__slug", "receipt_hash", "is_paper")
    lines, by_pot = [], {}
    for pot, receipt, is_paper in rows.iterator(chunk_size=20_000):
        lines.append(f"{pot}\t{receipt}\t{1 if is_paper else 0}\n")
        if is_paper:
            by_pot[pot] = by_pot.get(pot, 0) + 1
    lines.sort()
    mac = hmac.new(_paper_key(), "".join(lines).encode(), hashlib.sha256).hexdigest()
    return {"count": sum(by_pot.values()), "by_pot": by_pot, "hmac": mac}


def manifest_records(election: Election) -> dict[str, Any]:
    """The manifest keys this module owns."""
    return {
        "participations": participations_digest(election),
        "receipts": receipts_digest(election),
        "paper_ballots": paper_digest(election),
    }


def _roll_now(election: Election, want: Mapping[str, Any] | None) -> tuple[bool, str]:
    if want is None:
        n = VoterRollEntry.objects.filter(election=election).count()
        return n == 0, _("no roll was certified, the roll now has %(n)s entries") % {"n": n}
    entries, digest = roll.roll_digest(election)
    if (entries, digest) == (want["entries"], want["sha256"]):
        return True, _("%(n)s entries") % {"n": entries}
    # A roll frozen without a snapshot (ballots.definition._roll) hashed only the sorted reference hashes.
    refs = sorted(VoterRollEntry.objects.filter(election=election).values_list("ref_hash", flat=True))
    if (len(refs), sha256_hex("".join(r + "\n" for r in refs).encode())) == (want["entries"], want["sha256"]):
        return True, _("%(n)s entries") % {"n": len(refs)}
    return False, _(
        "the roll now has %(n)s entries hashing to %(h)s…, the manifest says %(m)s entries, %(w)s…"
    ) % {
        "n": entries,
        "h": digest[:16],
        "m": want["entries"],
        "w": want["sha256"][:16],
    }


def record_checks(election: Election, manifest: Mapping[str, Any]) -> list[tuple[str, bool | None, str]]:
    """(name, ok, detail) for each record the manifest covers, recomputed from the tables now. ok is None
    (SKIP) for a key an older manifest does not have."""
    out: list[tuple[str, bool | None, str]] = []
    ok, detail = _roll_now(election, manifest.get("roll_snapshot"))
    out.append((_("roll entries match the certified roll"), ok, detail))
    now = manifest_records(election)
    names = {
        "participations": _("participations match the manifest"),
        "receipts": _("receipt hashes match the manifest"),
        "paper_ballots": _("paper flags match the manifest"),
    }
    for key, name in names.items():
        want = manifest.get(key)
        if want is None:
            out.append((name, None, _("not in this manifest")))
            continue
        got = now[key]
        if got == want:
            out.append((name, True, _("%(n)s records") % {"n": got["count"]}))
            continue
        diff = [k for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)]
        out.append(
            (name, False, _("changed since certification (%(what)s differs)") % {"what": ", ".join(diff)})
        )
    return out
