"""Satisfaction ratings (đánh giá mức độ hài lòng): one per returned dossier, given by the
citizen with proof (code + phone), on the criteria and scale of DOMAIN.md "Satisfaction".

One column per criterion so that reports aggregate in the database (share of satisfied answers
per criterion is one ``COUNT(*) FILTER``), not by reading JSON in Python."""

from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    VERY_SATISFIED = "very_satisfied", _("Rất hài lòng")
    SATISFIED = "satisfied", _("Hài lòng")
    DISSATISFIED = "dissatisfied", _("Không hài lòng")


# The criteria of DOMAIN.md, in the order they are asked; ``overall`` is the only one required.
CRITERIA = (
    ("overall", _("Mức độ hài lòng chung")),
    ("time", _("Thời gian giải quyết")),
    ("attitude", _("Thái độ của cán bộ")),
    ("guidance", _("Hướng dẫn rõ ràng, dễ hiểu")),
    ("publicity", _("Công khai thủ tục hành chính")),
)
SATISFIED_LEVELS = (Level.VERY_SATISFIED, Level.SATISFIED)


class Source(models.TextChoices):
    TRACKING = "tracking", _("Trang tra cứu")
    KIOSK = "kiosk", _("Máy đánh giá tại quầy")
    LINK = "link", _("Đường dẫn / mã QR trên giấy hẹn")
    API = "api", _("API công khai")


LEVEL_VALUES = [level.value for level in Level]
SOURCE_VALUES = [source.value for source in Source]


class Rating(models.Model):
    """The citizen's rating of one returned dossier (at most one: the unique dossier)."""

    dossier = models.OneToOneField(
        "dossiers.Dossier", on_delete=models.PROTECT, related_name="rating",
        verbose_name=_("hồ sơ"),
    )
    overall = models.CharField(_("mức độ hài lòng chung"), max_length=16, choices=Level.choices)
    time = models.CharField(
        _("thời gian giải quyết"), max_length=16, choices=Level.choices, blank=True
    )
    attitude = models.CharField(
        _("thái độ của cán bộ"), max_length=16, choices=Level.choices, blank=True
    )
    guidance = models.CharField(
        _("hướng dẫn rõ ràng"), max_length=16, choices=Level.choices, blank=True
    )
    publicity = models.CharField(
        _("công khai thủ tục"), max_length=16, choices=Level.choices, blank=True
    )
    comment = models.TextField(_("góp ý"), blank=True, max_length=2000)
    source = models.CharField(_("nơi đánh giá"), max_length=16, choices=Source.choices)
    created_at = models.DateTimeField(_("thời điểm đánh giá"), default=timezone.now)

    class Meta:
        verbose_name = _("đánh giá")
        verbose_name_plural = _("đánh giá")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at"], name="rating_created_idx")]
        # The service checks all of this; the database too, for every other road in (bulk
        # data, a script): a level outside the scale or an unknown source is never stored.
        constraints = [
            models.CheckConstraint(
                condition=models.Q(overall__in=LEVEL_VALUES), name="rating_overall_valid"
            ),
            *[
                models.CheckConstraint(
                    condition=models.Q(**{f"{name}__in": ["", *LEVEL_VALUES]}),
                    name=f"rating_{name}_valid",
                )
                for name in ("time", "attitude", "guidance", "publicity")
            ],
            models.CheckConstraint(
                condition=models.Q(source__in=SOURCE_VALUES), name="rating_source_valid"
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("comment"), 2000), name="rating_comment_length"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dossier_id}: {self.overall}"

    def answers(self) -> dict[str, str]:
        """``{criterion: level}`` of the criteria answered, in the order they are asked."""
        return {name: getattr(self, name) for name, _label in CRITERIA if getattr(self, name)}

    def answers_labelled(self) -> list[tuple[str, str]]:
        """``[(criterion label, level)]`` of the criteria answered, in the order they are asked."""
        return [(label, getattr(self, name)) for name, label in CRITERIA if getattr(self, name)]

    @property
    def has_dissatisfied(self) -> bool:
        """Some criterion was answered "Không hài lòng"."""
        return Level.DISSATISFIED in self.answers().values()
