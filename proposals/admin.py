from django.contrib import admin

from proposals.models import Proposal


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    """Read-only: every change goes through proposals.services so it is checked and audited."""

    list_display = ("code", "title", "election", "pot", "status", "cost", "adjusted_cost")
    list_filter = ("election", "status", "pot")
    search_fields = ("code", "title")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
