"""The district shapes: an official's upload page and the public GeoJSON the maps draw."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from pb.core.districts.shapes import election_shapes, max_bytes, pot_shape_set
from pb.core.errorpages import election_page
from pb.core.exceptions import DomainError
from pb.core.models import Election


@require_GET
def election_shapes_geojson(request, slug):
    election = get_object_or_404(Election, slug=slug)
    response = JsonResponse(election_shapes(election))
    response["Content-Type"] = "application/geo+json"
    response["Cache-Control"] = "public, max-age=300"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def election_districts(request, slug):
    """One upload form per district; a file replaces the district's shape, "Remove" clears it."""
    election, denied = election_page(request, slug, "election.manage")
    if denied:
        return denied
    pots = list(election.pots.all())
    errors: dict[int, str] = {}
    if request.method == "POST":
        pot = next((p for p in pots if p.slug == request.POST.get("pot")), None)
        upload = request.FILES.get("shape")
        if pot is None:
            messages.error(request, _("Choose a district."))
        elif "remove" not in request.POST and upload is None:
            errors[pot.pk] = _("Choose a GeoJSON file.")
        else:
            try:
                # One byte past the limit is enough for shape_parse to refuse a file that is too large.
                raw = None if "remove" in request.POST else upload.read(max_bytes() + 1)
                pot_shape_set(actor=request.user, pot=pot, raw=raw)
            except DomainError as exc:
                errors[pot.pk] = exc.message
            else:
                messages.success(request, _("Shape of %(name)s saved.") % {"name": pot.name})
                return redirect("core:districts", slug=slug)
    for pot in pots:
        pot.shape_error = errors.get(pot.pk, "")
    ctx = {"election": election, "pots": pots, "max_mb": round(max_bytes() / (1024 * 1024), 1)}
    return render(request, "core/district_shapes.html", ctx, status=400 if errors else 200)
