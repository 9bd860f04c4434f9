"""Tracking for the demo's published election (riverton-2025, called by `manage.py demo_load` right after it
is published): each funded project at a different stage, with milestones, updates and one photo, so the
"what we built" page, a project's page and the feed have something to show at first run."""

from __future__ import annotations

import datetime as dt
import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw

from pb.core.models import Election
from tally.tracking.models import ProjectTracking, TrackingStatus
from tally.tracking.services import milestone_add, tracking_update, update_post

# (status, progress, department, spend as a share of the voted cost or None, milestones, update)
STAGES = [
    (
        TrackingStatus.DONE,
        100,
        "Parks department",
        0.96,
        [("Works start", 30), ("Opened to the public", 120)],
        "Finished and opened to the public; it came in a little under its cost.",
    ),
    (
        TrackingStatus.CONSTRUCTION,
        60,
        "Public works",
        None,
        [("Permit granted", 20), ("Works start", 45)],
        "Works are under way; the contractor expects to finish in the spring.",
    ),
    (
        TrackingStatus.PROCUREMENT,
        25,
        "Procurement office",
        None,
        [("Call for tenders published", 25)],
        "The call for tenders is open until the end of the month.",
    ),
    (TrackingStatus.DESIGN, 10, "City architects", None, [], "Residents are invited to the design workshop."),
]


def _photo() -> SimpleUploadedFile:
    img = Image.new("RGB", (640, 360), (46, 125, 50))
    draw = ImageDraw.Draw(img)
    draw.rectangle((40, 220, 600, 300), fill=(121, 85, 72))
    draw.ellipse((420, 40, 520, 140), fill=(255, 235, 59))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return SimpleUploadedFile("opening.jpg", out.getvalue(), content_type="image/jpeg")


def load_tracking_demo(*, election: Election, official, start: dt.date) -> int:
    """Fill the tracking of the election's funded projects (created at publication). Returns how many."""
    trackings = list(ProjectTracking.objects.filter(election=election).select_related("proposal"))
    for i, tracking in enumerate(trackings):
        status, progress, department, spend, milestones, text = STAGES[i % len(STAGES)]
        actual = round(tracking.voted_cost * spend) if spend else None
        tracking_update(
            actor=official,
            tracking=tracking,
            status=status,
            progress=progress,
            department=department,
            actual_spend=actual,
            spend_note="Materials cost less than estimated."
            if actual and actual != tracking.voted_cost
            else "",
        )
        for title, days in milestones:
            milestone_add(
                actor=official, tracking=tracking, title=title, done_on=start + dt.timedelta(days=days)
            )
        photo = _photo() if i == 0 else None
        update_post(
            actor=official,
            tracking=tracking,
            text=text,
            photo=photo,
            photo_alt="The finished project on opening day" if photo else "",
        )
    return len(trackings)
