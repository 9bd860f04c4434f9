from django.contrib import admin

from pb.core import services
from pb.core.models import ElectionRole


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows that change only through audited services (the admin shows them, never edits them)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ElectionRole)
class ElectionRoleAdmin(admin.ModelAdmin):
    """Grants go through the services so each one is audited; a grant is replaced, not edited."""

    list_display = ("user", "role", "election", "granted_at")
    list_filter = ("role", "election")
    search_fields = ("user__username", "election__slug")
    raw_id_fields = ("user",)

    # Only superusers grant roles (the service refuses anyone else): staff with model permissions must not
    # reach a form whose save would be refused.
    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.is_superuser

    def save_model(self, request, obj, form, change):
        grant = services.election_role_grant(
            actor=request.user, user=obj.user, role=obj.role, election=obj.election
        )
        obj.pk = grant.pk

    def delete_model(self, request, obj):
        services.election_role_revoke(actor=request.user, user=obj.user, role=obj.role, election=obj.election)

    def delete_queryset(self, request, queryset):
        for obj in queryset.select_related("user", "election"):
            self.delete_model(request, obj)
