"""Reads of the voting reminders: counts for the officials (never an address)."""

from __future__ import annotations

from typing import Any

from ballots.models import BallotReminder, ReminderPlan
from pb.core.models import Election, Phase
from pb.core.permissions import allowed


def reminders_waiting(election: Election) -> int:
    return BallotReminder.objects.filter(election=election, sent_at__isnull=True).count()


def reminders_dashboard(user, election: Election) -> dict[str, Any]:
    """The reminders part of the official's dashboard (pb.core.navigation.DASHBOARD_HOOKS): how many wait,
    how many went out, the plan; only while voting is open."""
    if election.phase != Phase.VOTING_OPEN or not allowed(user, "ballot.remind", election):
        return {}
    rows = BallotReminder.objects.filter(election=election)
    return {
        "reminders": {
            "waiting": rows.filter(sent_at__isnull=True).count(),
            "sent": rows.filter(sent_at__isnull=False).count(),
            "plan": ReminderPlan.objects.filter(election=election).first(),
        }
    }
