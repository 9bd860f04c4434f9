from django.contrib import admin

from ballots.models import (
    BallotLog,
    DefinitionFreeze,
    ImportJob,
    LogBatch,
    PaperBatch,
    RollSnapshot,
    ThrottleBucket,
    VoterRollEntry,
    VotingCode,
)
from pb.core.admin import ReadOnlyAdmin

# --- Roll helper: the roll, codes, snapshots, imports and throttle buckets are read-only here. ------------
# The roll changes only through the audited import service (and never after voting opened); codes only
# through generate/void/reissue. The admin shows hashes, never identifiers in clear (there are none).


@admin.register(VoterRollEntry)
class VoterRollEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "election", "district", "birth_year", "age_eligible", "booth")
    list_filter = ("election", "age_eligible")
    search_fields = ("ref_hash",)
    list_select_related = ("election", "district")


@admin.register(VotingCode)
class VotingCodeAdmin(ReadOnlyAdmin):
    list_display = ("id", "election", "voter_id", "batch", "status")
    list_filter = ("election", "status", "batch")


@admin.register(RollSnapshot)
class RollSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("election", "entries", "sha256", "taken_at")


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ("filename", "election", "status", "rows_total", "error_count", "imported", "created_at")
    list_filter = ("status",)


@admin.register(ThrottleBucket)
class ThrottleBucketAdmin(ReadOnlyAdmin):
    list_display = ("key", "failures", "window_start", "locked_until")

    def has_delete_permission(self, request, obj=None):
        return True  # an operator may lift a lock-out


# --- end of the roll helper's block -----------------------------------------------------------------------

# --- Casting helper: no partial results in the admin ------------------------------------------------------
# `Ballot` (contents) and `PaperEntry` (typed paper ballots) are deliberately NOT registered: before the
# results are published nobody may browse ballot contents or count them per project (tests/ballots/
# test_secrecy.py checks it). Paper batches show their counts only, not their lines.


@admin.register(PaperBatch)
class PaperBatchAdmin(ReadOnlyAdmin):
    list_display = ("label", "booth", "pot", "election", "status", "lines_total", "lines_valid")
    list_filter = ("election", "status")
    exclude = ("rejected", "resolution")


# --- end of the casting helper's block --------------------------------------------------------------------


# --- The frozen definition and the ballot log: written only by ballots.definition and ballots.ballotbox. ---


@admin.register(DefinitionFreeze)
class DefinitionFreezeAdmin(ReadOnlyAdmin):
    list_display = ("election", "sha256", "frozen_at")


@admin.register(BallotLog)
class BallotLogAdmin(ReadOnlyAdmin):
    list_display = ("election", "seq", "ballots", "head")


@admin.register(LogBatch)
class LogBatchAdmin(ReadOnlyAdmin):
    list_display = ("election", "seq", "hash")
    list_filter = ("election",)
