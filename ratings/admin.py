"""Django admin for ratings: read-only. A rating is the citizen's word: nobody edits or deletes
it, and new ones come only through ``ratings.services.rating_submit``."""

from django.contrib import admin

from motcua.admin import ReadOnlyMixin
from ratings.models import Rating


@admin.register(Rating)
class RatingAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["dossier", "overall", "time", "attitude", "guidance", "publicity", "source",
                    "created_at"]
    list_filter = ["overall", "source", "created_at"]
    search_fields = ["dossier__code"]
    list_select_related = ["dossier"]
    date_hierarchy = "created_at"
    fields = ["dossier", "overall", "time", "attitude", "guidance", "publicity", "comment",
              "source", "created_at"]
    readonly_fields = fields
