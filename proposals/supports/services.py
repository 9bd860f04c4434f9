"""The supports phase: residents support submitted proposals, and the election's rule decides which go on to
review (CONSUL's "selecting" phase, Decidim's supports with thresholds).

- `proposal_support` / `proposal_support_withdraw`: a signed-in resident, in the supports phase, on a
  submitted proposal; one support per proposal (a unique constraint), at most `supports_per_resident` in the
  election (counted under a lock on the resident's row, so parallel requests cannot exceed it), and proposals
  of one district pot besides the citywide ones. Supports are not audited one by one: they are a resident's
  act, not an official's, and their counts are public.
- `supports_decide`: run by the phase hook when the election leaves the supports phase for review, inside the
  phase change's transaction. Per pot: with a threshold, a proposal goes on with at least that many
  supports; with a top N, the N most supported go on, and every proposal tied with the N-th too (nothing is
  decided by lot); with neither, all go on. The others become "not enough support". Each decision is written
  on the proposal (its figures, shown on its page) and in the audit log.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from pb.core.audit import audit_record
from pb.core.models import Election, Phase
from pb.core.permissions import require
from proposals.exceptions import SupportRefused
from proposals.models import Proposal, ProposalStatus
from proposals.supports.models import Support, SupportDistrict


def _hold_phase(election: Election) -> Election:
    """The election as it is now, with its phase held until this transaction ends.

    FOR KEY SHARE conflicts only with the FOR UPDATE that election_advance takes: supports do not wait for
    each other, but a support and the end of the phase are serialised, so no support lands after the
    decision counted them. (SQLite runs one writer at a time: nothing to take there.)"""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM core_election WHERE id = %s FOR KEY SHARE", [election.pk])
    return Election.objects.get(pk=election.pk)


def _lock_resident(actor) -> None:
    # Row lock on the resident: their supports are counted one request after another (the per-resident limit).
    list(get_user_model().objects.select_for_update().filter(pk=actor.pk).values_list("pk", flat=True))


@transaction.atomic
def proposal_support(*, actor, proposal: Proposal) -> Support:
    election = _hold_phase(proposal.election)
    require(actor, "proposal.support", election)
    _lock_resident(actor)
    proposal = Proposal.objects.select_related("pot").get(pk=proposal.pk)
    if proposal.status != ProposalStatus.SUBMITTED:
        raise SupportRefused(_("Only submitted proposals can be supported."))
    if Support.objects.filter(proposal=proposal, user=actor).exists():
        raise SupportRefused(_("You already support this proposal."))
    limit = election.supports_per_resident
    if limit is not None and Support.objects.filter(election=election, user=actor).count() >= limit:
        raise SupportRefused(
            _("You have used all %(n)s of your supports: take one back to support this proposal.")
            % {"n": limit}
        )
    if not proposal.pot.is_citywide:
        district = SupportDistrict.objects.filter(election=election, user=actor).select_related("pot").first()
        if district is None:
            SupportDistrict.objects.create(election=election, user=actor, pot=proposal.pot)
        elif district.pot_id != proposal.pot_id:
            raise SupportRefused(
                _(
                    "You support proposals of %(pot)s: you can support those and citywide ones, as on the "
                    "ballot, where you vote in one district."
                )
                % {"pot": district.pot.name}
            )
    try:
        with transaction.atomic():
            return Support.objects.create(proposal=proposal, election=election, user=actor)
    except IntegrityError:  # the same support from a second tab, committed meanwhile
        raise SupportRefused(_("You already support this proposal.")) from None


@transaction.atomic
def proposal_support_withdraw(*, actor, proposal: Proposal) -> None:
    election = _hold_phase(proposal.election)
    require(actor, "proposal.support", election)
    _lock_resident(actor)
    deleted, _rows = Support.objects.filter(proposal=proposal, user=actor).delete()
    if not deleted:
        raise SupportRefused(_("You do not support this proposal."))
    # With no district support left, the resident may choose another district.
    if not Support.objects.filter(election=election, user=actor, proposal__pot__is_citywide=False).exists():
        SupportDistrict.objects.filter(election=election, user=actor).delete()


@transaction.atomic
def election_supports_configure(
    *,
    actor,
    election: Election,
    enabled: bool,
    per_resident: int | None = None,
    threshold: int | None = None,
    top_n: int | None = None,
) -> Election:
    """Set the supports phase and its rules; only before it starts (election.edit: draft, proposals open)."""
    election = Election.objects.select_for_update().get(pk=election.pk)
    require(actor, "election.edit", election)
    if threshold is not None and top_n is not None:
        raise SupportRefused(
            _("Choose a number of supports needed or a number of proposals per pot, not both.")
        )
    for value in (per_resident, threshold, top_n):
        if value is not None and not 1 <= value <= 1_000_000:
            raise SupportRefused(_("Numbers of supports must be between 1 and 1,000,000."))
    election.supports_enabled = bool(enabled)
    election.supports_per_resident = per_resident if enabled else None
    election.supports_threshold = threshold if enabled else None
    election.supports_top_n = top_n if enabled else None
    election.save(
        update_fields=["supports_enabled", "supports_per_resident", "supports_threshold", "supports_top_n"]
    )
    audit_record(
        actor=actor,
        action="election.supports_configure",
        election=election,
        obj=election,
        data={
            "enabled": election.supports_enabled,
            "per_resident": election.supports_per_resident,
            "threshold": election.supports_threshold,
            "top_n": election.supports_top_n,
        },
    )
    return election


def _decisions(election: Election, counts: list[tuple[Proposal, int]]) -> list[tuple[Proposal, dict]]:
    """The decision for each proposal of one pot, from (proposal, supports) pairs."""
    if election.supports_threshold is not None:
        need = election.supports_threshold
        return [
            (p, {"advanced": n >= need, "supports": n, "rule": "threshold", "threshold": need})
            for p, n in counts
        ]
    if election.supports_top_n is not None:
        top = election.supports_top_n
        ordered = sorted((n for _p, n in counts), reverse=True)
        cutoff = ordered[top - 1] if len(ordered) >= top else 0  # ties with the N-th go on too
        return [
            (
                p,
                {
                    "advanced": n >= cutoff,
                    "supports": n,
                    "rule": "top_n",
                    "top_n": top,
                    "rank": 1 + sum(1 for m in ordered if m > n),
                    "cutoff": cutoff,
                },
            )
            for p, n in counts
        ]
    return [(p, {"advanced": True, "supports": n, "rule": "none"}) for p, n in counts]


def supports_decide(*, actor, election: Election) -> dict[str, int]:
    """Decide which submitted proposals go on to review (called inside the phase change's transaction, which
    holds the election row: no support can be added or taken back meanwhile).
    Returns the numbers {"advanced", "not_selected"}."""
    submitted = (
        Proposal.objects.select_for_update()
        .filter(election=election, status=ProposalStatus.SUBMITTED)
        .order_by("pot_id", "code")
    )
    counted = dict(
        Support.objects.filter(proposal__in=submitted.values("pk"))
        .values_list("proposal")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_pot: dict[int, list[tuple[Proposal, int]]] = {}
    for proposal in submitted:
        by_pot.setdefault(proposal.pot_id, []).append((proposal, counted.get(proposal.pk, 0)))
    totals = {"advanced": 0, "not_selected": 0}
    for pairs in by_pot.values():
        for proposal, decision in _decisions(election, pairs):
            proposal.supports_decision = decision
            fields = ["supports_decision", "updated_at"]
            if not decision["advanced"]:
                proposal.status = ProposalStatus.NOT_SELECTED
                fields.append("status")
            proposal.save(update_fields=fields)
            totals["advanced" if decision["advanced"] else "not_selected"] += 1
            audit_record(
                actor=actor,
                action="proposal.supports_decision",
                election=election,
                obj=proposal,
                data={"code": proposal.code, **decision},
            )
    return totals


def supports_phase_hook(*, election: Election, actor, to_phase: str) -> None:
    """PHASE_HOOK (proposals.apps): leaving the supports phase for review decides what goes on."""
    if election.phase == Phase.SUPPORTS and to_phase == Phase.REVIEW:
        supports_decide(actor=actor, election=election)
