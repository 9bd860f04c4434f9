"""Read-only admin views: every change to these rows goes through tally.services (audited, hash-checked)."""

from django.contrib import admin

from tally.models import (
    BallotLog,
    Certification,
    CloseRequest,
    DefinitionFreeze,
    ExportFile,
    LogBatch,
    SignOff,
    TallyRun,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


@admin.register(CloseRequest)
class CloseRequestAdmin(ReadOnlyAdmin):
    list_display = ("election", "requested_by", "requested_at", "confirmed_by", "confirmed_at", "cancelled")


@admin.register(ExportFile)
class ExportFileAdmin(ReadOnlyAdmin):
    list_display = ("election", "name", "kind", "size", "sha256")
    list_filter = ("election", "kind")


@admin.register(TallyRun)
class TallyRunAdmin(ReadOnlyAdmin):
    list_display = ("election", "rule", "official", "status", "created_at", "finished_at")
    list_filter = ("election", "official", "status")
    exclude = ("results",)


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyAdmin):
    list_display = ("election", "official", "method", "matched", "created_at")


@admin.register(Certification)
class CertificationAdmin(ReadOnlyAdmin):
    list_display = ("election", "manifest_sha256", "key_fingerprint", "certified_by", "certified_at")
