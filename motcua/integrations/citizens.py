"""The national population database (Cơ sở dữ liệu quốc gia về dân cư), behind a small
interface: the desk looks a person up by their 12-digit personal identification number to
prefill the applicant form.

``settings.MOTCUA_CITIZEN_DIRECTORY`` (a dotted path to a :class:`CitizenDirectory` class)
chooses the adapter; the default is :class:`DemoCitizenDirectory`, ten fictitious people, so
the demo and the tests work offline. A real adapter (VNeID / the provincial data-sharing
platform LGSP) implements :meth:`CitizenDirectory.lookup` and raises
:class:`CitizenDirectoryUnavailable` when the service cannot answer, so that the desk carries on
by hand.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_DIRECTORY = "motcua.integrations.citizens.DemoCitizenDirectory"
_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Citizen:
    id_number: str
    full_name: str
    date_of_birth: date
    gender: str  # "male" / "female"
    address: str  # permanent residence (nơi thường trú)
    phone: str = ""
    email: str = ""

    def as_applicant(self) -> dict:
        """The fields of the applicant form this person fills (the shape the dossier services
        take)."""
        return {
            "name": self.full_name, "id_number": self.id_number, "phone": self.phone,
            "email": self.email, "address": self.address,
        }


class CitizenDirectoryUnavailable(Exception):
    """The directory could not answer (network, credentials, maintenance)."""


class CitizenDirectory(ABC):
    """Looks people up by personal identification number."""

    @abstractmethod
    def lookup(self, id_number: str) -> Citizen | None:
        """The person with this 12-digit number, or ``None`` if there is none (or the number is
        malformed). Raises :class:`CitizenDirectoryUnavailable` if the directory is down."""


# Fictitious people. Numbers follow the real layout (province of birth registration, a digit for
# sex and century, two for the year of birth, six more); 089 = An Giang, 091 = the former Kiên
# Giang, 001 = Hà Nội. Addresses use the communes of An Giang after 1 July 2025.
_PEOPLE = [
    Citizen("089085000123", "Nguyễn Văn An", date(1985, 3, 14), "male",
            "12 Trần Hưng Đạo, phường Long Xuyên, tỉnh An Giang", "0912345678",
            "an.nguyen@example.vn"),
    Citizen("089190004567", "Trần Thị Bích Ngọc", date(1990, 7, 2), "female",
            "45 Nguyễn Huệ, phường Long Xuyên, tỉnh An Giang", "0987654321"),
    Citizen("089078001234", "Lê Văn Hùng", date(1978, 11, 20), "male",
            "Ấp Mỹ Phú, xã Mỹ Hòa Hưng, tỉnh An Giang", "0356789012"),
    Citizen("089195012345", "Phạm Thị Thu Hà", date(1995, 1, 30), "female",
            "8 Thủ Khoa Nghĩa, phường Châu Đốc, tỉnh An Giang", "0778123456",
            "thuha.pham@example.vn"),
    Citizen("089201003456", "Huỳnh Minh Khoa", date(2001, 9, 9), "male",
            "27 Lê Lợi, phường Châu Đốc, tỉnh An Giang", "0832456789"),
    Citizen("089302007890", "Võ Thị Kim Ngân", date(2002, 5, 17), "female",
            "Khu phố 3, phường Long Xuyên, tỉnh An Giang", "0398765432"),
    Citizen("091088002468", "Đặng Quốc Bảo", date(1988, 12, 1), "male",
            "14 Trần Hưng Đạo, đặc khu Phú Quốc, tỉnh An Giang", "0945112233"),
    Citizen("089165009876", "Nguyễn Thị Hồng", date(1965, 4, 25), "female",
            "Ấp Mỹ An, xã Mỹ Hòa Hưng, tỉnh An Giang", "0563334455"),
    Citizen("001092005555", "Bùi Đức Thắng", date(1992, 8, 19), "male",
            "60 Hùng Vương, phường Long Xuyên, tỉnh An Giang", "0707888999",
            "thang.bui@example.vn"),
    Citizen("089070001111", "Chau Ty", date(1970, 2, 10), "male",
            "Phum Soài Chếk, xã Tri Tôn, tỉnh An Giang", "0868111222"),
]


class DemoCitizenDirectory(CitizenDirectory):
    """Ten fictitious people, answered from memory (offline demo and tests)."""

    people = {person.id_number: person for person in _PEOPLE}

    def lookup(self, id_number: str) -> Citizen | None:
        number = re.sub(r"[\s.\-]", "", id_number or "")
        if not _ID.match(number):
            return None
        return self.people.get(number)


@lru_cache(maxsize=4)
def _directory(path: str) -> CitizenDirectory:
    return import_string(path)()


def get_citizen_directory() -> CitizenDirectory:
    """The configured adapter (``MOTCUA_CITIZEN_DIRECTORY``), one instance per process."""
    return _directory(getattr(settings, "MOTCUA_CITIZEN_DIRECTORY", DEFAULT_DIRECTORY))


def citizen_lookup(id_number: str) -> Citizen | None:
    """Shortcut for the desk: the configured directory's answer."""
    return get_citizen_directory().lookup(id_number)
