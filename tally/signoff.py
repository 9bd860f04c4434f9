"""Stage 5, sign-off: officials confirm the official count by an independent re-count, on the server
(`signoff_recount`) or on their own machine with `python -m tally` (`signoff_upload`); a quorum of
different officials (PB_SIGNOFF_QUORUM) must agree before the council can certify. A sign-off can be
withdrawn with a reason; every step is audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.definition import frozen_definition
from pb.core.audit import audit_record
from pb.core.exceptions import DomainError, PermissionDenied, PhaseError
from pb.core.models import Election, Pot
from pb.core.permissions import require
from tally.counting import count_pot, official_run
from tally.engine import manifest as mf
from tally.filestore import stored_file
from tally.models import (
    SignOff,
    TallyRun,
)


def signoff_quorum() -> int:
    return int(getattr(settings, "PB_SIGNOFF_QUORUM", 2))


class AlreadySignedOff(DomainError):
    status_code = 409


# A withdrawal reason is public in the audit log: long enough to explain, short enough to read.
WITHDRAW_REASON_MAX = 1000


def _noop(**_kw) -> None:
    pass


def _recount(election: Election, progress: Callable[..., None] = _noop) -> dict[str, Any]:
    definition, _sha = frozen_definition(election)
    summary = {}
    pots = definition["pots"]
    for k, pot_def in enumerate(pots):
        progress(
            phase=_("Re-counting %(pot)s (%(k)s of %(n)s)")
            % {"pot": pot_def["name"], "k": k + 1, "n": len(pots)},
            done=k,
            total=len(pots),
        )
        data = stored_file(election, mf.pb_file(pot_def["slug"]))
        summary[pot_def["slug"]] = mf.pot_result(*count_pot(definition, data))
    return summary


def summary_differences(official: dict[str, Any], other: dict[str, Any]) -> list[dict[str, Any]]:
    """Pot by pot, where a re-count differs from the official count: the projects only the official count
    funds, those only the re-count funds, both total costs, and whether the funding order differs."""
    diffs = []
    for slug in sorted(set(official) | set(other)):
        want, got = official.get(slug) or {}, other.get(slug) or {}
        w_sel, g_sel = [str(p) for p in want.get("selected", [])], [str(p) for p in got.get("selected", [])]
        w_cost, g_cost = want.get("total_cost"), got.get("total_cost")
        if w_sel == g_sel and w_cost == g_cost:
            continue
        diffs.append(
            {
                "pot": slug,
                "missing": [p for p in w_sel if p not in g_sel],  # funded officially, not in the re-count
                "extra": [p for p in g_sel if p not in w_sel],  # funded in the re-count only
                "order": set(w_sel) == set(g_sel) and w_sel != g_sel,
                "official_cost": w_cost,
                "recount_cost": g_cost,
            }
        )
    return diffs


def _differences_text(diffs: list[dict[str, Any]], names: dict[str, str]) -> str:
    parts = []
    for d in diffs:
        bits = []
        if d["missing"]:
            bits.append(_("funded by the official count only: %(p)s") % {"p": ", ".join(d["missing"])})
        if d["extra"]:
            bits.append(_("funded by this re-count only: %(p)s") % {"p": ", ".join(d["extra"])})
        if d["order"]:
            bits.append(_("the same projects in another order"))
        if d["official_cost"] != d["recount_cost"]:
            bits.append(
                _("total cost %(a)s (official) vs %(b)s (re-count)")
                % {"a": d["official_cost"], "b": d["recount_cost"]}
            )
        parts.append(f"{names.get(d['pot'], d['pot'])}: {'; '.join(bits)}")
    return " · ".join(parts)


def _signoff_locked(actor, election: Election) -> tuple[Election, TallyRun]:
    """Permission gate, then the election row lock (sign-offs, withdrawals and certification queue on it, so
    a withdrawal cannot slip in while the council certifies), then the phase again on the locked row."""
    require(actor, "tally.signoff", election)
    election = Election.objects.select_for_update().get(pk=election.pk)
    require(actor, "tally.signoff", election)
    run = official_run(election)
    if run is None:
        raise PhaseError(_("There is no official count to sign off."))
    return election, run


def _refuse_second_signoff(actor, run: TallyRun) -> None:
    standing = SignOff.objects.filter(run=run, official=actor, withdrawn_at__isnull=True).first()
    if standing is not None:
        raise AlreadySignedOff(
            _(
                "You already signed off this count (%(when)s). One sign-off per official: withdraw it first "
                "if you want to sign off again."
            )
            % {"when": timezone.localtime(standing.created_at).strftime("%Y-%m-%d %H:%M")}
        )


def _signoff(actor, election, run, method, summary) -> SignOff:
    _refuse_second_signoff(actor, run)
    diffs = summary_differences(
        {k: {"selected": v["selected"], "total_cost": v["total_cost"]} for k, v in run.summary.items()},
        summary,
    )
    names = dict(Pot.objects.filter(election=election).values_list("slug", "name"))
    matched = not diffs
    s = SignOff(
        election=election,
        run=run,
        official=actor,
        method=method,
        matched=matched,
        summary=summary,
        detail=_differences_text(diffs, names),
        created_at=timezone.now(),
    )
    try:
        with transaction.atomic():  # the unique constraint is the last word if the check above raced
            s.save()
    except IntegrityError:
        raise AlreadySignedOff(_("You already signed off this count.")) from None
    audit_record(
        actor=actor,
        action="tally.signoff",
        election=election,
        obj=s,
        data={"method": method, "matched": matched, "differs_in": [d["pot"] for d in diffs]},
    )
    return s


def signoff_recount_precheck(*, actor, election: Election) -> None:
    """What refuses a re-count at once, on the locked election row, before a job is queued for it
    (tally.jobs): no permission, no official count, or a standing sign-off of this official."""
    require(actor, "tally.signoff", election)
    run = official_run(election)
    if run is None:
        raise PhaseError(_("There is no official count to sign off."))
    _refuse_second_signoff(actor, run)


@transaction.atomic
def signoff_recount(*, actor, election: Election, progress: Callable[..., None] = _noop) -> SignOff:
    """An official re-counts from the exported files on the server and signs off if the result matches.
    `progress(phase=..., done=..., total=...)` is told each pot (tally.jobs runs this as a job)."""
    election, run = _signoff_locked(actor, election)
    _refuse_second_signoff(actor, run)  # before a count that would be thrown away
    return _signoff(actor, election, run, SignOff.Method.SERVER, _recount(election, progress))


# An offline result is a few kilobytes per pot; anything far bigger is not one.
SIGNOFF_UPLOAD_MAX_BYTES = 5 * 1024 * 1024


def signoff_parse_upload(data: bytes, pots: list[str]) -> dict[str, dict[str, Any]]:
    """The uploaded offline result, checked for shape: {"<pot slug>": <python -m tally run --json output>}
    (a bare outcome is accepted when the election has one pot). Raises DomainError saying what is wrong."""
    if len(data) > SIGNOFF_UPLOAD_MAX_BYTES:
        raise DomainError(_("The file is too large to be the result of an offline count."))
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[..." nested too deep
        raise DomainError(_("The file is not JSON.")) from None
    if isinstance(doc, dict) and "selected" in doc and len(pots) == 1:
        doc = {pots[0]: doc}
    if not isinstance(doc, dict):
        raise DomainError(
            _("Expected one JSON object with one result per pot: %(pots)s.") % {"pots": ", ".join(pots)}
        )
    missing, unknown = sorted(set(pots) - set(doc)), sorted(set(doc) - set(pots))
    if missing or unknown:
        msg = _("Expected one result per pot: %(pots)s.") % {"pots": ", ".join(pots)}
        if missing:
            msg += " " + _("Missing: %(p)s.") % {"p": ", ".join(missing)}
        if unknown:
            msg += " " + _("Not a pot of this election: %(p)s.") % {
                "p": ", ".join(str(u)[:40] for u in unknown[:10])
            }
        raise DomainError(msg)
    summary = {}
    for slug in pots:
        out = doc[slug]
        selected = out.get("selected") if isinstance(out, dict) else None
        cost = out.get("total_cost") if isinstance(out, dict) else None
        if not isinstance(selected, list) or not all(isinstance(p, str | int) for p in selected):
            raise DomainError(
                _('The result for %(pot)s has no list of selected projects (the "selected" key).')
                % {"pot": slug}
            )
        if not isinstance(cost, int) or isinstance(cost, bool):
            raise DomainError(
                _('The result for %(pot)s has no total cost (the "total_cost" key, a whole number).')
                % {"pot": slug}
            )
        summary[slug] = {"selected": [str(p) for p in selected], "total_cost": cost}
    return summary


@transaction.atomic
def signoff_upload(*, actor, election: Election, data: bytes) -> SignOff:
    """Sign off with the JSON of an offline count: {"<pot slug>": <python -m tally run --json output>, ...}
    (a single outcome is accepted when the election has one pot), compared pot by pot."""
    election, run = _signoff_locked(actor, election)
    summary = signoff_parse_upload(data, sorted(run.summary))
    return _signoff(actor, election, run, SignOff.Method.UPLOAD, summary)


@transaction.atomic
def signoff_withdraw(*, actor, election: Election, signoff_id: int, reason: str) -> SignOff:
    """The official who gave a sign-off withdraws it, saying why: it no longer counts nor blocks, the row and
    the reason stay (audited), and they may sign off again."""
    election, run = _signoff_locked(actor, election)
    reason = " ".join((reason or "").split())
    s = SignOff.objects.filter(pk=signoff_id, election=election, run=run).first()
    if s is None:
        raise DomainError(_("There is no such sign-off of the current count."))
    if s.official_id != actor.pk:
        raise PermissionDenied(_("Only the official who gave a sign-off can withdraw it."))
    if s.withdrawn_at is not None:
        raise DomainError(_("This sign-off was already withdrawn."))
    if not reason:
        raise DomainError(_("Say why you withdraw your sign-off: the reason is kept in the audit log."))
    if len(reason) > WITHDRAW_REASON_MAX:
        raise DomainError(_("Keep the reason under %(n)s characters.") % {"n": WITHDRAW_REASON_MAX})
    s.withdrawn_at, s.withdrawn_reason = timezone.now(), reason
    s.save(update_fields=["withdrawn_at", "withdrawn_reason"])
    audit_record(
        actor=actor,
        action="tally.signoff_withdrawn",
        election=election,
        obj=s,
        data={"matched": s.matched, "method": s.method, "reason": reason},
    )
    return s


def signoff_status(election: Election) -> dict[str, Any]:
    """Standing (not withdrawn) sign-offs of the official count: the quorum counts matching ones, and any
    standing mismatch blocks certification until withdrawn by its author."""
    run = official_run(election)
    offs = list(SignOff.objects.filter(election=election, run=run).select_related("official")) if run else []
    standing = [s for s in offs if s.withdrawn_at is None]
    matched = {s.official_id for s in standing if s.matched}
    mismatched = [s for s in standing if not s.matched]
    if run is not None:
        want = {k: {"selected": v["selected"], "total_cost": v["total_cost"]} for k, v in run.summary.items()}
        for s in offs:
            s.differences = [] if s.matched else summary_differences(want, s.summary)
    return {
        "quorum": signoff_quorum(),
        "matched": len(matched),
        "mismatched": mismatched,
        "signoffs": standing,
        "withdrawn": [s for s in offs if s.withdrawn_at is not None],
        "reached": len(matched) >= signoff_quorum() and not mismatched,
    }
