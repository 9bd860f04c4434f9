"""Read-only admin views: every change to these rows goes through the stage services (tally.counting,
tally.signoff, tally.certification, ...) (audited, hash-checked)."""

from django.contrib import admin

from pb.core.admin import ReadOnlyAdmin
from tally.models import Certification, CloseRequest, ExportFile, SignOff, TallyRun


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
