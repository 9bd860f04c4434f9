"""What the open data API may show, read as plain dicts. Every function takes a published election (from
`published_election`): nothing here is reachable for an election before its results are published.

The results and the turnout are read exactly as the public results page reads them
(tally.certification.pdf.pot_views, tally.certification.pdf.turnout), so the API shows no more than the page:
ballots per pot, paper ballots only where no paper cell of the pot's turnout is merged away, turnout cells
under K merged."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from django.core.cache import cache
from django.db.models import F, QuerySet
from django.http import Http404
from django.urls import reverse

from ballots.casting.cells import RULE_VERSION
from pb.core.models import Election, Phase, Pot
from proposals.models import Proposal, ProposalStatus
from tally.models import Certification

# Published results do not change (publication is the last phase, the count is certified): their JSON is
# kept in the cache under the certification's manifest hash, without expiry (a new certification is a new
# key), so a busy results page costs one cache read instead of the ballot and turnout counts (bench/api.py
# measures both).
CACHE_SECONDS = None


class BadCursor(ValueError):
    """A pagination cursor this API did not write."""


def published_elections() -> QuerySet[Election]:
    # The manifest hash rides along: it keys the cached results (one query a cached request, not two).
    # Published implies certified (tally.publication.election_publish); a row that broke that is left out.
    return Election.objects.filter(phase=Phase.PUBLISHED, certification__isnull=False).annotate(
        published_manifest=F("certification__manifest_sha256")
    )


def published_election(slug: str) -> Election:
    """The election, once its results are published; otherwise 404, exactly as for one that does not exist
    (an unpublished election is not even confirmed to exist)."""
    election = published_elections().filter(slug=slug).first()
    if election is None:
        raise Http404("No such published election.")
    return election


def _certification(election: Election) -> Certification:
    """The certification's public facts, without the manifest text and the run's large JSON columns (read
    on every request: loading them cost most of a cached request's time)."""
    cert = (
        Certification.objects.filter(election=election)
        .select_related("run")
        .only("election_id", "manifest_sha256", "key_fingerprint", "certified_at", "pdf_name", "run__rule")
        .first()
    )
    if cert is None:  # published implies certified (tally.publication.election_publish); never serve half
        raise Http404("No certified result.")
    return cert


# --- cursor pagination -------------------------------------------------------------------------------------


def cursor_encode(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode().rstrip("=")


def cursor_decode(cursor: str | None) -> str | None:
    """The key a cursor stands for; BadCursor for anything this API did not write."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after = json.loads(raw.decode())["after"]
    except (binascii.Error, ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise BadCursor("invalid cursor") from exc
    if not isinstance(after, str) or len(after) > 200:
        raise BadCursor("invalid cursor")
    return after


def page_after(qs: QuerySet, *, field: str, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Keyset pagination on a unique `field`: the rows after the cursor's key, and the next cursor (None on
    the last page). Stable while rows are added, unlike offsets."""
    after = cursor_decode(cursor)
    if after is not None:
        qs = qs.filter(**{f"{field}__gt": after})
    rows = list(qs.order_by(field)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (cursor_encode(str(getattr(rows[-1], field))) if more and rows else None)


# --- elections, pots, proposals ----------------------------------------------------------------------------


def election_public(election: Election) -> dict[str, Any]:
    cert = _certification(election)
    slug = election.slug
    api = "/api/v1/elections/" + slug
    return {
        "slug": slug,
        "name": election.name,
        "description": election.description,
        "city": election.city,
        "currency": election.currency,
        "phase": election.phase,
        "rule": cert.run.rule,
        "certified_at": cert.certified_at,
        "manifest_sha256": cert.manifest_sha256,
        "council_key_fingerprint": cert.key_fingerprint,
        "links": {
            "page": reverse("tally:results", args=[slug]),
            "pdf": reverse("tally:file", args=[slug, cert.pdf_name]) if cert.pdf_name else None,
            "pots": api + "/pots",
            "proposals": api + "/proposals",
            "results": api + "/results",
            "turnout": api + "/turnout",
        },
    }


def pots_public(election: Election) -> list[dict[str, Any]]:
    return [
        {
            "slug": pot.slug,
            "name": pot.name,
            "is_citywide": pot.is_citywide,
            "budget": pot.budget,
            "ballot_type": pot.ballot_type,
            "min_selections": pot.min_selections,
            "max_selections": pot.max_selections,
            "points_total": pot.points_total,
            "points_max_per_project": pot.points_max_per_project,
            "embed": reverse("tally:embed", args=[election.slug, pot.slug]),
        }
        for pot in Pot.objects.filter(election=election).order_by("-is_citywide", "name")
    ]


def proposals_public(election: Election) -> QuerySet[Proposal]:
    """What anonymous visitors see on the proposal pages (proposals.selectors.proposals_public): all but
    drafts."""
    return (
        Proposal.objects.filter(election=election)
        .exclude(status=ProposalStatus.DRAFT)
        .select_related("election", "pot", "category", "merged_into")
    )


def proposal_public(proposal: Proposal) -> dict[str, Any]:
    """The fields the public proposal page shows, and no other (never the author). The cost note is shown
    there only next to an adjusted cost."""
    adjusted = proposal.adjusted_cost is not None
    return {
        "code": proposal.code,
        "title": proposal.title,
        "description": proposal.description,
        "language": proposal.language,
        "pot": proposal.pot.slug,
        "category": proposal.category.slug if proposal.category_id else None,
        "status": proposal.status,
        "cost": proposal.cost,
        "adjusted_cost": proposal.adjusted_cost,
        "cost_note": proposal.cost_note if adjusted else "",
        "location": proposal.location,
        "latitude": str(proposal.latitude) if proposal.latitude is not None else None,
        "longitude": str(proposal.longitude) if proposal.latitude is not None else None,
        "image": proposal.image.url if proposal.image else None,
        "review_reason": proposal.review_reason,
        "merged_into": proposal.merged_into.code if proposal.merged_into_id else None,
        "page": reverse("proposals:detail", args=[proposal.election.slug, proposal.code]),
    }


def proposal_by_code(election: Election, code: str) -> Proposal:
    proposal = proposals_public(election).filter(code=code).first()
    if proposal is None:
        raise Http404("No such proposal.")
    return proposal


# --- results and turnout -----------------------------------------------------------------------------------


def cached(kind: str, election: Election, build) -> Any:
    """`build()`, kept in the cache under the election's certification (its manifest hash): for what is
    fixed once the result is published (the count, the turnout, their JSON)."""
    manifest = getattr(election, "published_manifest", None) or _certification(election).manifest_sha256
    # The suppression rule's version too: a turnout (or a paper count) hidden under an older rule is rebuilt.
    key = f"pb-opendata:{kind}:{election.pk}:{manifest}:r{RULE_VERSION}"
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, CACHE_SECONDS)
    return value


def results_public(election: Election) -> dict[str, Any]:
    """The certified result per pot, as the results page shows it: funded and unfunded projects with cost,
    score and the reason, the rounds and tie-breaks as the engine explained them (passed through, including
    any structured `why` the engine adds), the share of voters with a funded project and the budget used."""
    return cached("results", election, lambda: _results_build(election))


def _results_build(election: Election) -> dict[str, Any]:
    from tally.certification import pdf

    cert = Certification.objects.select_related("run").get(election=election)
    definition = json.loads(election.definition_freeze.canonical)
    run = cert.run
    pots = []
    for view in pdf.pot_views(election, run, definition, with_metrics=True):
        res = run.results.get(view["slug"], {})
        why = res.get("unfunded_why") or {}
        metrics = view["metrics"] or {}
        pots.append(
            {
                "slug": view["slug"],
                "name": view["name"],
                "ballot_type": view["ballot_type"],
                "budget": view["budget"],
                "total_cost": view["total_cost"],
                "ballots": view["ballots"],
                # A number, or None where the page says "hidden" (a merged paper cell would give it back).
                "paper_ballots": view["paper"] if isinstance(view["paper"], int) else None,
                "under_k": view["under_k"],
                "anonymity_k": view["anonymity_k"],
                "funded": [
                    {"id": p["id"], "name": p["name"], "cost": p["cost"], "score": p["votes"]}
                    for p in view["funded"]
                ],
                "unfunded": [
                    {
                        "id": p["id"],
                        "name": p["name"],
                        "cost": p["cost"],
                        "score": p["votes"],
                        "reason": p["reason"],
                        "why": why.get(p["id"]),
                    }
                    for p in view["unfunded"]
                ],
                "rounds": view["rounds"],
                "tie_breaks": view["tie_breaks"],
                "voters_with_funded": _number(metrics.get("voters_with_funded")),
                "budget_used": _number(metrics.get("budget_used")),
            }
        )
    return {
        "election": election.slug,
        "rule": run.rule,
        "currency": election.currency,
        "certified_at": cert.certified_at.isoformat(),
        "manifest_sha256": cert.manifest_sha256,
        "pots": pots,
    }


def _number(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def turnout_public(election: Election) -> dict[str, Any]:
    """Voters per pot, channel and booth as the results page shows them: cells under K merged into one row
    per pot (ballots.casting.selectors.turnout_public), so no published count narrows anyone to fewer than
    K."""
    return cached("turnout", election, lambda: _turnout_build(election))


def _turnout_build(election: Election) -> dict[str, Any]:
    from ballots.ballotbox.pending import anonymity_k
    from tally.certification import pdf

    definition = json.loads(election.definition_freeze.canonical)
    rows = [
        {
            "pot": row["pot"].slug,
            "pot_name": row["pot__name"],
            "channel": row["channel"] or None,
            "booth": row["booth"] or None,
            "voters": row["n"],
            "merged": row["merged"],
            "under_k": row["under_k"],
            "merged_channels": row.get("merged_channels", []),
        }
        for row in pdf.turnout(election)
    ]
    return {"election": election.slug, "anonymity_k": anonymity_k(definition), "rows": rows}


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
