"""Election state changes. Each is atomic, permission-checked, and audited."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from pb.core.audit import audit_checkpoint, audit_record
from pb.core.exceptions import DomainError, PermissionDenied, PhaseError
from pb.core.i18n import clean_translations
from pb.core.models import PHASE_ORDER, Category, Election, ElectionRole, Phase, Pot, Role
from pb.core.permissions import require

# Hooks other apps register to run inside the phase-change transaction (e.g. ballots snapshots the roll and
# tally freezes the definition when voting opens). Signature: hook(*, election, actor, to_phase) -> None.
PHASE_HOOKS: list = []

# Which MATRIX action a step into a phase needs: certifying and publishing belong to the council.
ADVANCE_ACTION: dict[str, str] = {
    Phase.CERTIFIED: "tally.certify",
    Phase.PUBLISHED: "election.publish",
}


def _phases(election: Election) -> tuple[str, ...]:
    """The phases this election goes through, in order (the supports phase only if it has one)."""
    if election.supports_enabled:
        return PHASE_ORDER
    return tuple(p for p in PHASE_ORDER if p != Phase.SUPPORTS)


def election_phases(election: Election) -> tuple[str, ...]:
    return _phases(election)


def next_phase(election: Election) -> str | None:
    phases = _phases(election)
    if election.phase not in phases:  # in the supports phase with supports switched off: cannot happen
        return None
    idx = phases.index(election.phase)
    return phases[idx + 1] if idx + 1 < len(phases) else None


@transaction.atomic
def election_advance(*, actor, election: Election, to_phase: str) -> Election:
    """Move the election exactly one phase forward."""
    # Lock the row: two officials clicking at once must not both advance (or skip a phase).
    election = Election.objects.select_for_update().get(pk=election.pk)
    require(actor, ADVANCE_ACTION.get(to_phase, "election.advance"), election)
    if to_phase not in PHASE_ORDER or to_phase != next_phase(election):
        raise PhaseError(
            _("Cannot go from “%(from)s” to “%(to)s”: phases change one step at a time, in order.")
            % {
                "from": Phase(election.phase).label,
                "to": Phase(to_phase).label if to_phase in PHASE_ORDER else to_phase,
            }
        )
    for hook in PHASE_HOOKS:
        hook(election=election, actor=actor, to_phase=to_phase)
    previous = election.phase
    election.phase = to_phase
    election.save(update_fields=["phase"])
    audit_record(
        actor=actor,
        action="election.phase",
        election=election,
        obj=election,
        data={"from": previous, "to": to_phase},
    )
    # Sign the head with the audit key at every phase change: entries up to here can no longer be rewritten,
    # inserted or deleted unnoticed, even with the whole chain after them recomputed (pb.core.audit).
    audit_checkpoint(reason=f"phase:{to_phase}", election=election)
    return election


# --- Roles per election ------------------------------------------------------------------------------------


def _require_role_admin(actor) -> None:
    """Roles are granted by the site's operator: from the shell (actor None) or a superuser (the admin)."""
    if actor is not None and not getattr(actor, "is_superuser", False):
        raise PermissionDenied(_("Only the site's administrators can grant or revoke roles."))


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise DomainError(
            _("“%(role)s” is not a role: use one of %(roles)s.")
            % {"role": role, "roles": ", ".join(Role.values)}
        )


@transaction.atomic
def election_role_grant(*, actor, user, role: str, election: Election | None = None) -> ElectionRole:
    """Give `user` the `role` on `election` (None: on every election). Granting twice changes nothing."""
    _require_role_admin(actor)
    _check_role(role)
    grant, created = ElectionRole.objects.get_or_create(user=user, role=role, election=election)
    if created:
        audit_record(
            actor=actor,
            action="role.grant",
            election=election,
            obj=grant,
            data={"user": user.get_username(), "role": role, "election": election.slug if election else "*"},
        )
    for attr in ("_pb_roles", "_pb_election_roles"):  # the user object's cached roles are stale now
        user.__dict__.pop(attr, None)
    return grant


@transaction.atomic
def election_role_revoke(*, actor, user, role: str, election: Election | None = None) -> int:
    """Take back a grant made with `election_role_grant` (group membership is managed in the admin).
    Returns how many grants were removed (0 or 1)."""
    _require_role_admin(actor)
    _check_role(role)
    grants = ElectionRole.objects.filter(user=user, role=role)
    grants = (
        grants.filter(election=election) if election is not None else grants.filter(election__isnull=True)
    )
    ids = list(grants.values_list("pk", flat=True))
    if ids:
        grants.delete()
        audit_record(
            actor=actor,
            action="role.revoke",
            election=election,
            data={"user": user.get_username(), "role": role, "election": election.slug if election else "*"},
        )
    for attr in ("_pb_roles", "_pb_election_roles"):
        user.__dict__.pop(attr, None)
    return len(ids)


# --- Translated names (display only) -----------------------------------------------------------------------


def _names(kind: str, objects: dict[str, Pot | Category], given: dict[str, dict]) -> dict[str, dict]:
    """{slug: cleaned translations} for the slugs in `given`; an unknown slug or bad text is a DomainError."""
    out: dict[str, dict] = {}
    for slug, values in given.items():
        if slug not in objects:
            raise DomainError(
                _("There is no %(kind)s “%(slug)s” in this election.") % {"kind": kind, "slug": slug}
            )
        try:
            out[slug] = clean_translations(values, max_length=120)
        except ValueError as exc:
            raise DomainError(
                _("The translation of “%(name)s” is not valid: %(problem)s.")
                % {"name": objects[slug].name, "problem": exc}
            ) from exc
    return out


@transaction.atomic
def election_names_translate(
    *,
    actor,
    election: Election,
    pots: dict[str, dict[str, str]] | None = None,
    categories: dict[str, dict[str, str]] | None = None,
) -> list[str]:
    """Set the translated names of the election's pots and categories ({slug: {language: name}}; an empty
    name removes that translation). Display only: the frozen definition keeps the original names, so this
    is allowed in every phase. Returns the slugs changed ("pot:<slug>", "category:<slug>")."""
    require(actor, "content.translate", election)
    changed: list[str] = []
    for kind, model, given in (("pot", Pot, pots or {}), ("category", Category, categories or {})):
        # Lock the rows: two officials saving at once must not interleave read-modify-write of one name.
        objects = {o.slug: o for o in model.objects.select_for_update().filter(election=election)}
        for slug, names in _names(kind, objects, given).items():
            obj = objects[slug]
            if obj.name_i18n == names:
                continue
            before = obj.name_i18n
            obj.name_i18n = names
            obj.save(update_fields=["name_i18n"])
            changed.append(f"{kind}:{slug}")
            audit_record(
                actor=actor,
                action=f"{kind}.translate",
                election=election,
                obj=obj,
                data={"slug": slug, "before": before, "after": names},
            )
    return changed
