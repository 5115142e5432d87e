"""Who may do what: roles held through StaffRole, scoped by unit and agency."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from motcua.models import Role, StaffRole


def roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """The set of role codes a user holds anywhere; cached on the user object per request."""
    if not user or not user.is_authenticated:
        return set()
    cached = getattr(user, "_motcua_roles", None)
    if cached is None:
        cached = set(StaffRole.objects.filter(user=user).values_list("role", flat=True))
        user._motcua_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    return bool(roles_of(user) & set(roles))


def units_where(user, *roles: str) -> list[int]:
    """Ids of the units in which the user holds any of ``roles``."""
    if not user or not user.is_authenticated:
        return []
    return list(
        StaffRole.objects.filter(user=user, role__in=roles).values_list("unit_id", flat=True)
    )


def is_catalogue_admin(user) -> bool:
    return has_role(user, Role.CATALOGUE_ADMIN)
