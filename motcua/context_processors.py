from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from motcua.permissions import roles_of

# The citizen's menu (templates/public/_nav.html): URL name, label, the URL names it covers.
PUBLIC_NAV = (
    ("public-track", _("Tra cứu hồ sơ"), ("public-track",)),
    ("public-submit-start", _("Nộp hồ sơ trực tuyến"), ("public-submit-start", "public-submit")),
    ("public-rate", _("Đánh giá hài lòng"), ("public-rate",)),
    ("public-figures", _("Số liệu giải quyết"), ("public-figures",)),
)


def _public_nav() -> list[dict]:
    items = []
    for name, label, names in PUBLIC_NAV:
        try:
            items.append({"url": reverse(name), "label": label, "names": names})
        except NoReverseMatch:  # a part not installed (yet)
            continue
    return items


def staff(request):
    user = getattr(request, "user", None)
    return {
        "staff_roles": roles_of(user) if user is not None else set(),
        "province_name": settings.MOTCUA_PROVINCE_NAME,
        "public_nav": SimpleLazyObject(_public_nav),
    }
