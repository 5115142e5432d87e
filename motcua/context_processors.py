from django.conf import settings

from motcua.permissions import roles_of


def staff(request):
    user = getattr(request, "user", None)
    return {
        "staff_roles": roles_of(user) if user is not None else set(),
        "province_name": settings.MOTCUA_PROVINCE_NAME,
    }
