"""Demo organisation and users for `seed_demo`.

The province is An Giang after the 2025 merger (two tiers: province and communes). Agency codes
follow the national identifier format (mã định danh, QĐ 20/2020/QĐ-TTg) but the numbers are
illustrative, not the official registry's.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from motcua.models import Agency, Role, StaffRole, Unit

DEFAULT_DEMO_PASSWORD = "MotCua@2026"
PROVINCE_CODE = "000.00.00.H01"

# (code, name, short name, kind, [(unit code, unit name, is_reception)])
_RECEPTION = ("MC", "Bộ phận tiếp nhận và trả kết quả", True)
_LEADERS = ("LD", "Ban Lãnh đạo", False)
AGENCIES = [
    (PROVINCE_CODE, "Ủy ban nhân dân tỉnh An Giang", "UBND tỉnh", Agency.Kind.PROVINCE,
     [("VP", "Văn phòng UBND tỉnh", False), ("KSTTHC", "Phòng Kiểm soát thủ tục hành chính", False)]),
    ("000.00.01.H01", "Trung tâm Phục vụ hành chính công tỉnh An Giang", "TTPVHCC", Agency.Kind.CENTER,
     [("QT", "Quầy tiếp nhận và trả kết quả", True), _LEADERS]),
    ("000.00.10.H01", "Sở Tư pháp tỉnh An Giang", "Sở Tư pháp", Agency.Kind.DEPARTMENT,
     [_RECEPTION, ("HCTP", "Phòng Hành chính tư pháp", False), _LEADERS]),
    ("000.00.11.H01", "Sở Tài chính tỉnh An Giang", "Sở Tài chính", Agency.Kind.DEPARTMENT,
     [_RECEPTION, ("DKKD", "Phòng Đăng ký kinh doanh", False), _LEADERS]),
    ("000.00.12.H01", "Sở Xây dựng tỉnh An Giang", "Sở Xây dựng", Agency.Kind.DEPARTMENT,
     [_RECEPTION, ("QLXD", "Phòng Quản lý hoạt động xây dựng", False),
      ("KT", "Phòng Quy hoạch - Kiến trúc", False), _LEADERS]),
    ("000.00.13.H01", "Sở Nông nghiệp và Môi trường tỉnh An Giang", "Sở NN&MT", Agency.Kind.DEPARTMENT,
     [_RECEPTION, ("VPDKDD", "Văn phòng Đăng ký đất đai", False),
      ("QLDD", "Phòng Quản lý đất đai", False), _LEADERS]),
    ("000.00.14.H01", "Công an tỉnh An Giang", "Công an tỉnh", Agency.Kind.DEPARTMENT,
     [_RECEPTION, ("LLTP", "Phòng Hồ sơ nghiệp vụ (Lý lịch tư pháp)", False),
      ("QLXNC", "Phòng Quản lý xuất nhập cảnh", False), _LEADERS]),
    ("000.00.15.H01", "Sở Giáo dục và Đào tạo tỉnh An Giang", "Sở GD&ĐT", Agency.Kind.DEPARTMENT,
     [_RECEPTION, ("QLCL", "Phòng Quản lý chất lượng", False), _LEADERS]),
    ("000.00.16.H01", "Sở Y tế tỉnh An Giang", "Sở Y tế", Agency.Kind.DEPARTMENT,
     [_RECEPTION, ("NVY", "Phòng Nghiệp vụ Y", False), _LEADERS]),
    ("000.20.01.H01", "Ủy ban nhân dân phường Long Xuyên", "UBND P. Long Xuyên", Agency.Kind.COMMUNE,
     [_RECEPTION, ("VHXH", "Phòng Văn hóa - Xã hội", False), ("KT", "Phòng Kinh tế, Hạ tầng và Đô thị", False), _LEADERS]),
    ("000.20.02.H01", "Ủy ban nhân dân phường Châu Đốc", "UBND P. Châu Đốc", Agency.Kind.COMMUNE,
     [_RECEPTION, ("VHXH", "Phòng Văn hóa - Xã hội", False), ("KT", "Phòng Kinh tế, Hạ tầng và Đô thị", False), _LEADERS]),
    ("000.20.03.H01", "Ủy ban nhân dân xã Mỹ Hòa Hưng", "UBND xã Mỹ Hòa Hưng", Agency.Kind.COMMUNE,
     [_RECEPTION, ("VHXH", "Phòng Văn hóa - Xã hội", False), ("KT", "Phòng Kinh tế", False), _LEADERS]),
    ("000.20.04.H01", "Ủy ban nhân dân đặc khu Phú Quốc", "UBND ĐK Phú Quốc", Agency.Kind.COMMUNE,
     [_RECEPTION, ("VHXH", "Phòng Văn hóa - Xã hội", False), ("KT", "Phòng Kinh tế, Hạ tầng và Đô thị", False), _LEADERS]),
]

# username, full name, role
DEMO_USERS = [
    ("clerk1", "Nguyễn Thị Lan", Role.CLERK),
    ("officer1", "Trần Văn Minh", Role.OFFICER),
    ("leader1", "Lê Hoàng Phúc", Role.LEADER),
    ("admin1", "Phạm Thu Hà", Role.CATALOGUE_ADMIN),
    ("supervisor1", "Võ Quốc Bảo", Role.SUPERVISOR),
]


def seed_organisation() -> list[Agency]:
    """Create or update the demo agencies and units (idempotent)."""
    agencies = []
    province = None
    for code, name, short, kind, units in AGENCIES:
        agency, _ = Agency.objects.update_or_create(
            code=code,
            defaults={"name": name, "short_name": short, "kind": kind,
                      "parent": province if kind != Agency.Kind.PROVINCE else None},
        )
        if kind == Agency.Kind.PROVINCE:
            province = agency
        for ucode, uname, is_reception in units:
            Unit.objects.update_or_create(
                agency=agency, code=ucode, defaults={"name": uname, "is_reception": is_reception}
            )
        agencies.append(agency)
    return agencies


def seed_users(*, password: str) -> list[tuple[str, str]]:
    """One user per role. officer1 and leader1 hold their role in every agency's units so that
    they can carry any single-agency demo procedure through all of its steps."""
    User = get_user_model()
    out = []
    for username, full_name, role in DEMO_USERS:
        first, _, last = full_name.rpartition(" ")
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": last, "last_name": first}
        )
        user.first_name, user.last_name = last, first
        user.is_staff = role == Role.CATALOGUE_ADMIN
        user.set_password(password)
        user.save()
        if role == Role.CATALOGUE_ADMIN:
            user.groups.add(catalogue_admin_group())
        for unit in _units_for(role):
            StaffRole.objects.get_or_create(user=user, unit=unit, role=role)
        out.append((username, role.label))
    return out


def _units_for(role: str):
    units = Unit.objects.select_related("agency")
    if role == Role.CLERK:
        return units.filter(is_reception=True)
    if role == Role.OFFICER:
        return units.filter(is_reception=False).exclude(code="LD").exclude(agency__kind=Agency.Kind.PROVINCE)
    if role == Role.LEADER:
        return units.filter(code="LD")
    if role == Role.CATALOGUE_ADMIN:
        return units.filter(agency__code=PROVINCE_CODE, code="KSTTHC")
    return units.filter(agency__code=PROVINCE_CODE, code="VP")


CATALOGUE_ADMIN_GROUP = "Cán bộ kiểm soát TTHC"


def catalogue_admin_group() -> Group:
    """The Django-admin permissions a catalogue admin needs: the catalogue, the calendar and the
    organisation (our own pages check the role; Django's admin checks these)."""
    group, _ = Group.objects.get_or_create(name=CATALOGUE_ADMIN_GROUP)
    perms = Permission.objects.filter(content_type__app_label="procedures") | Permission.objects.filter(
        content_type__app_label="motcua",
        content_type__model__in=["agency", "unit", "staffrole", "calendarday"],
    )
    group.permissions.set(perms)
    return group
