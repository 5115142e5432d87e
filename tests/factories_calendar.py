"""Factories for the calendar tests: an agency, a unit, staff with a role."""

import factory
from django.contrib.auth import get_user_model

from motcua.models import Agency, CalendarDay, Role, StaffRole, Unit


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency
        django_get_or_create = ("code",)

    code = "000.00.00.H01"
    name = "Ủy ban nhân dân tỉnh An Giang"
    short_name = "UBND tỉnh"
    kind = Agency.Kind.PROVINCE


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit
        django_get_or_create = ("agency", "code")

    agency = factory.SubFactory(AgencyFactory)
    code = "KSTTHC"
    name = "Phòng Kiểm soát thủ tục hành chính"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"canbo{n}")
    first_name = "Nguyễn Văn"
    last_name = "An"
    # Tests log in with force_login: no password to hash (hashing costs half a second).
    password = factory.PostGenerationMethodCall("set_unusable_password")


def staff(username: str, role: str, unit: Unit | None = None):
    """A user holding ``role`` in ``unit`` (the province's administrative control unit)."""
    user = UserFactory(username=username)
    user.save()
    StaffRole.objects.create(user=user, unit=unit or UnitFactory(), role=role)
    return user


def catalogue_admin(username: str = "kiemsoat1"):
    return staff(username, Role.CATALOGUE_ADMIN)


def clerk(username: str = "tiepnhan1"):
    return staff(username, Role.CLERK, UnitFactory(code="MC", name="Bộ phận một cửa",
                                                   is_reception=True))


class CalendarDayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CalendarDay

    kind = CalendarDay.Kind.DAY_OFF
    note = "Quyết định của UBND tỉnh"
