"""The signed result document: WeasyPrint PDF/A-3a (tagged) with manifest.json and manifest.sig attached, then
a PAdES signature (pyHanko) over the whole file by the council's certificate, the one the signed manifest
names ("pdf_signing_certificate"): the document, not only its attachments, is the signed object.

Reproducible: the same certification gives the same bytes before the PAdES step (every date in the PDF is the
certification time, via SOURCE_DATE_EPOCH, the dcterms metadata and the attachment dates; WeasyPrint derives
the file identifier from the content). The PAdES signature is appended as an incremental update, so the
unsigned rendering is a prefix of the signed file; ECDSA and its signing time make the appended part differ on
every run, which is why verification rests on the signatures, never on re-rendering.
"""

from __future__ import annotations

import io
import json
import os
import threading
from typing import Any

import qrcode
import qrcode.image.svg
from django.db.models import Count
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ballots.ballotbox.pending import anonymity_k
from ballots.casting.selectors import turnout_public
from ballots.casting.validation import money
from ballots.models import Ballot, Channel
from pb.core.i18n import localized
from pb.core.models import Election, Pot
from proposals.models import Proposal
from tally import explain
from tally.engine import manifest as mf
from tally.models import Certification, TallyRun
from tally.selectors import reconciliation_resolutions

_ENV_LOCK = threading.Lock()


def qr_svg(text: str) -> str:
    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=6, border=2)
    return img.to_string(encoding="unicode")


def bar_chart_svg(rows: list[tuple[str, int, bool]], *, width: int = 360, bar: int = 16) -> str:
    """Horizontal bars (label, value, highlighted). Server-side SVG: no JavaScript, works in the PDF.

    Hidden from screen readers: the tables next to it carry the same figures (a role="img" without a
    name was announced as an unlabelled image)."""
    if not rows:
        return ""
    top = max(v for _l, v, _h in rows) or 1
    # 360 wide with 12-unit text: on a 390px phone the chart is drawn at ~90 %, so labels stay readable
    # (at 480 wide with 10-unit text they shrank to ~6px).
    label_w, gap = 48, 4
    height = len(rows) * (bar + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-hidden="true" class="chart">'
    ]
    for i, (label, value, hi) in enumerate(rows):
        y = gap + i * (bar + gap)
        w = int((width - label_w - 60) * value / top)
        colour = "#2f6f3e" if hi else "#b8b8b8"
        parts.append(
            f'<text x="0" y="{y + bar - 4}" font-size="12">{_esc(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar}" fill="{colour}"/>'
            f'<text x="{label_w + w + 4}" y="{y + bar - 4}" font-size="12">{explain.number(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def score_labels(ballot_type: str) -> dict[str, str]:
    """What a project's score is, by the pot's ballot type: approval and knapsack ballots give votes, points
    ballots points, ranked ballots a rank score (a points pot said "5 votes" for one voter's 5 points)."""
    if ballot_type == "points":
        return {"score_label": _("Points"), "chart_caption": _("Points per project")}
    if ballot_type == "ranked":
        return {"score_label": _("Rank score"), "chart_caption": _("Rank score per project")}
    return {"score_label": _("Votes"), "chart_caption": _("Votes per project")}


def score_text(ballot_type: str, n: int | None) -> str:
    """A project's score with its unit ("5 points", "1 vote", "rank score 12")."""
    if n is None:
        return ""
    if ballot_type == "points":
        return ngettext("%(n)s point", "%(n)s points", n) % {"n": n}
    if ballot_type == "ranked":
        return _("rank score %(n)s") % {"n": n}
    return ngettext("%(n)s vote", "%(n)s votes", n) % {"n": n}


def pot_views(
    election: Election, run: TallyRun, definition: dict, *, with_metrics: bool = True
) -> list[dict]:
    """Per pot: funded and unfunded projects with costs, votes and reasons, rounds, chart, metrics."""
    from ballots.ballotbox.sealing import secrecy_summary

    paper = dict(
        Ballot.objects.filter(election=election, is_paper=True)
        .values_list("pot__slug")
        .annotate(n=Count("id"))
    )
    k = anonymity_k(definition)
    weak = set(secrecy_summary(definition, run.summary, election)["pots_under_k"])
    # A pot's paper ballot count is shown only when no paper cell of its turnout is merged away: otherwise it
    # would give back a count under K (the paper count minus the booths shown).
    paper_merged = {
        row["pot"].slug
        for row in turnout_public(election, anonymity_k=k)
        if row["merged"] and Channel.PAPER in row["merged_channels"]
    }
    out = []
    for pot_def in definition["pots"]:
        slug = pot_def["slug"]
        res = run.results.get(slug)
        if res is None or "skipped" in res:
            continue
        ballot_type = pot_def.get("ballot_type", "approval")
        names = {p["id"]: p["name"] for p in pot_def["projects"]}
        costs = {p["id"]: p["cost"] for p in pot_def["projects"]}
        scores = res.get("scores", {})
        funded = [
            {"id": pid, "name": names.get(pid, pid), "cost": costs.get(pid), "votes": scores.get(pid)}
            for pid in res["selected"]
        ]
        unfunded = [
            {
                "id": p["id"],
                "name": p["name"],
                "cost": p["cost"],
                "votes": scores.get(p["id"]),
                "reason": res["unfunded"].get(p["id"], ""),
                "why": (res.get("unfunded_why") or {}).get(p["id"]),
            }
            for p in pot_def["projects"]
            if p["id"] not in res["selected"]
        ]
        unfunded.sort(key=lambda r: -(r["votes"] or 0))
        ranked = sorted(pot_def["projects"], key=lambda p: -int(scores.get(p["id"], 0) or 0))
        chart = bar_chart_svg(
            [(p["id"], int(scores.get(p["id"], 0) or 0), p["id"] in res["selected"]) for p in ranked]
        )
        met = run.metrics.get(slug) if with_metrics else None
        out.append(
            {
                "slug": slug,
                "name": pot_def["name"],
                "budget": pot_def["budget"],
                "total_cost": res["total_cost"],
                "ballots": run.summary[slug]["ballots"],
                "paper": paper.get(slug, 0) if slug not in paper_merged else _("hidden"),
                # Fewer than K ballots in all: sealed as one batch, so its secrecy is weaker (flagged).
                "under_k": slug in weak,
                "anonymity_k": k,
                "funded": funded,
                "unfunded": unfunded,
                "rounds": res.get("rounds", []),
                "tie_breaks": res.get("tie_breaks", []),
                "chart": mark_safe(chart),  # noqa: S308 - built here from escaped labels and integers
                "metrics": met,
                "ballot_type": ballot_type,
                **score_labels(ballot_type),
            }
        )
    return out


def turnout(election: Election) -> list[dict[str, Any]]:
    """Published turnout per pot, channel and booth, cells under the frozen K merged into "other"
    (ballots.casting.selectors.turnout_public): no published count narrows anyone to fewer than K voters."""
    from ballots.definition import frozen_definition

    k = anonymity_k(frozen_definition(election)[0])
    return turnout_public(election, anonymity_k=k)


def _percent(share) -> str:
    return f"{number_format(float(share) * 100, decimal_pos=1)} %" if share is not None else ""


def content_names(election: Election) -> dict[str, dict[str, dict]]:
    """The officials' translations of pot names and project titles ({"pots": {slug: {lang: name}},
    "projects": {code: {lang: title}}}). Read at display time, never from the frozen definition: they are
    display only and may be corrected after voting opens."""
    return {
        "pots": dict(Pot.objects.filter(election=election).values_list("slug", "name_i18n")),
        "projects": dict(Proposal.objects.filter(election=election).values_list("code", "title_i18n")),
    }


def readable_pots(pots: list[dict], currency: str, names: dict[str, dict] | None = None) -> list[dict]:
    """Amounts with grouping and currency and shares as percentages, as the ballot shows them (the page and
    the PDF showed "300000" and "0.983333"); counts grouped the same way; decision codes and reasons in
    words (tally.explain); pot names and project titles in the reader's language where officials
    translated them (`names`: content_names). Call it under the language the text is rendered in."""
    names = names or {}
    for pot in pots:
        pot["name"] = localized(pot["name"], names.get("pots", {}).get(pot["slug"]))
        for project in pot["funded"] + pot["unfunded"]:
            project["name"] = localized(project["name"], names.get("projects", {}).get(project["id"]))
        pot["ballots_text"] = explain.number(pot["ballots"])
        if isinstance(pot.get("paper"), int):
            pot["paper_text"] = explain.number(pot["paper"])
        else:
            pot["paper_text"] = pot.get("paper", "")
        explain.explain_pot(pot, currency)
        pot["budget_text"] = money(pot["budget"], currency)
        pot["cost_text"] = money(pot["total_cost"], currency)
        for project in pot["funded"] + pot["unfunded"]:
            project["cost_text"] = money(project["cost"], currency) if project["cost"] is not None else ""
            project["votes_text"] = score_text(pot.get("ballot_type", "approval"), project["votes"])
        if pot["metrics"]:
            pot["share_text"] = _percent(pot["metrics"].get("voters_with_funded"))
            pot["used_text"] = _percent(pot["metrics"].get("budget_used"))
    return pots


def readable_turnout(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Channel labels ("Paper ballot") instead of stored values ("paper"); each pot's merged row named."""
    for row in rows:
        if isinstance(row.get("pot"), Pot):
            row["pot__name"] = row["pot"].local_name
        if row.get("merged"):
            row["channel"] = (
                _("All channels (fewer voters than the anonymity set: secrecy is weaker)")
                if row.get("under_k")
                else _("Other channels and booths, merged (each under the anonymity set)")
            )
        elif row["channel"] in Channel.values:
            row["channel"] = Channel(row["channel"]).label
    return rows


VERIFY_COMMAND = "python -m tally verify RESULT.pdf --key council.pub --ballots DIR"


def verify_note() -> str:
    """The note on checking the attachments, its command set apart (monospace, never broken or hyphenated
    at its dashes: it is typed by hand). The command is the same in every language's text."""
    text = escape(
        _(
            "This PDF carries manifest.json and manifest.sig as attachments. Check them with: python -m "
            "tally verify RESULT.pdf --key council.pub --ballots DIR (see docs/verification.md)."
        )
    )
    return mark_safe(text.replace(VERIFY_COMMAND, f'<span class="cmd">{VERIFY_COMMAND}</span>'))  # noqa: S308


def render_result_pdf(*, election: Election, certification: Certification, sign: bool = True) -> bytes:
    """The result PDF, PAdES-signed with the certificate its manifest names (sign=False: the unsigned
    rendering, which is the first bytes of the signed file)."""
    from weasyprint import HTML, Attachment

    from ballots.definition import frozen_definition

    manifest = json.loads(certification.manifest)
    definition, _sha = frozen_definition(election)
    at = certification.certified_at
    context = {
        "election": election,
        "manifest": manifest,
        "resolutions": reconciliation_resolutions(manifest),
        "cert": certification,
        "turnout": turnout(election),
        "qr": mark_safe(qr_svg(f"pb-manifest:sha256:{certification.manifest_sha256}")),  # noqa: S308
        "created": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with translation.override(getattr(election, "language", None) or translation.get_language()):
        context["pots"] = readable_pots(
            pot_views(election, certification.run, definition), election.currency, content_names(election)
        )
        context["turnout"] = readable_turnout(context["turnout"])
        context["verify_note"] = verify_note()
        html = render_to_string("tally/result_pdf.html", context)
    attachments = [
        Attachment(
            file_obj=io.BytesIO(certification.manifest.encode()),
            name=mf.MANIFEST_FILE,
            description="Result manifest (canonical JSON), signed by the council",
            created=at,
            modified=at,
            relationship="Data",
        ),
        Attachment(
            file_obj=io.BytesIO((certification.signature + "\n").encode()),
            name=mf.SIGNATURE_FILE,
            description="Ed25519 signature of manifest.json, hex",
            created=at,
            modified=at,
            relationship="Supplement",
        ),
    ]
    # SOURCE_DATE_EPOCH is process-wide: serialise renders that set it.
    with _ENV_LOCK:
        old = os.environ.get("SOURCE_DATE_EPOCH")
        os.environ["SOURCE_DATE_EPOCH"] = str(int(at.timestamp()))
        try:
            # PDF/A-3a: PDF/A-3 (attachments allowed) at level A, which means a tagged, structured PDF that
            # screen readers can follow (WeasyPrint writes the structure tree and marks its content).
            pdf = HTML(string=html).write_pdf(pdf_variant="pdf/a-3a", attachments=attachments)
        finally:
            if old is None:
                os.environ.pop("SOURCE_DATE_EPOCH", None)
            else:
                os.environ["SOURCE_DATE_EPOCH"] = old
    if not sign:
        return pdf
    return pades_sign(pdf, expected_sha256=(manifest.get("pdf_signing_certificate") or {}).get("sha256"))


def pades_sign(pdf: bytes, *, expected_sha256: str | None) -> bytes:
    """Sign the whole PDF (PAdES baseline B, field CouncilSignature) with the configured certificate, which
    must be the one the signed manifest names (a certificate swapped between manifest and PDF would give a
    PDF that never verifies)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    from tally.certification.signing import KeyMissing, load_pades_certificate

    cert = load_pades_certificate()
    if expected_sha256 != cert.sha256:
        raise KeyMissing(
            _("The PDF signing certificate (%(got)s) is not the one the manifest names (%(want)s).")
            % {"got": cert.sha256, "want": expected_sha256 or "-"}
        )
    signer = signers.SimpleSigner.load(str(cert.key_file), str(cert.cert_file))
    if signer is None:
        raise KeyMissing(_("The PDF signing certificate or its key cannot be read."))
    meta = signers.PdfSignatureMetadata(
        field_name="CouncilSignature",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="Certified participatory budgeting result",
    )
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), meta, signer=signer)
    return out.getvalue()
