"""Checks on what people type and upload. Each returns the clean value or raises
``motcua.errors.ValidationError`` with a Vietnamese message; :func:`clean_applicant` collects
every problem of a form at once (the clerk fixes them in one go)."""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from dossiers.models import IdType
from motcua.errors import ValidationError

NAME_MAX = 255
ADDRESS_MAX = 500
EMAIL_MAX = 254
COMMENT_MAX = 4000
DEFAULT_UPLOAD_MAX_BYTES = 10 * 1024 * 1024

_CITIZEN_ID = re.compile(r"^\d{12}$")
_OLD_ID_CARD = re.compile(r"^\d{9}$")
_PASSPORT = re.compile(r"^[A-Z0-9]{6,20}$")
_MOBILE = re.compile(r"^0[35789]\d{8}$")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")


def _has_control_chars(value: str, *, allow_newlines: bool = False) -> bool:
    for ch in value:
        if allow_newlines and ch in "\n\r\t":
            continue
        # Cc: control characters; Cf would also catch the zero-width joiners some keyboards
        # produce, which are harmless, so only the bidi overrides of Cf are refused.
        if unicodedata.category(ch) == "Cc" or ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
            return True
    return False


def clean_text(
    value, *, label: str, max_length: int, required: bool = False, multiline: bool = False
) -> str:
    """Trimmed, NFC-normalised text (Vietnamese typed on some systems arrives decomposed).

    Markup is kept as typed (``<script>`` is a name like any other here): output escapes it.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(_("%(label)s phải là chuỗi ký tự.") % {"label": label})
    value = unicodedata.normalize("NFC", value.strip())
    if required and not value:
        raise ValidationError(_("Vui lòng nhập %(label)s.") % {"label": label.lower()})
    if len(value) > max_length:
        raise ValidationError(
            _("%(label)s dài quá %(max)d ký tự.") % {"label": label, "max": max_length}
        )
    if _has_control_chars(value, allow_newlines=multiline):
        raise ValidationError(_("%(label)s có ký tự điều khiển không hợp lệ.") % {"label": label})
    return value


def clean_id_number(value, id_type: str = IdType.CITIZEN_ID) -> str:
    """A citizen's personal identification number (số định danh cá nhân, on the CCCD card):
    exactly 12 digits. The old 9-digit ID card (CMND) stopped being valid on 01/01/2025 (Law
    on Identification 2023, art. 46) and is refused with that reason. Foreigners give a
    passport number: 6–20 letters and digits."""
    raw = value if isinstance(value, str) else ""
    cleaned = re.sub(r"[\s.\-]", "", raw).upper()
    if not cleaned:
        raise ValidationError(_("Vui lòng nhập số giấy tờ tùy thân."))
    if id_type == IdType.PASSPORT:
        if not _PASSPORT.match(cleaned):
            raise ValidationError(_("Số hộ chiếu gồm 6 đến 20 chữ cái hoặc chữ số."))
        return cleaned
    if id_type != IdType.CITIZEN_ID:
        raise ValidationError(_("Loại giấy tờ tùy thân không hợp lệ."))
    if _OLD_ID_CARD.match(cleaned):
        raise ValidationError(
            _(
                "Chứng minh nhân dân 9 số đã hết giá trị sử dụng từ ngày 01/01/2025; "
                "vui lòng nhập số định danh cá nhân 12 chữ số."
            )
        )
    if not _CITIZEN_ID.match(cleaned) or cleaned == "0" * 12:
        raise ValidationError(_("Số định danh cá nhân (CCCD) phải gồm đúng 12 chữ số."))
    return cleaned


def clean_phone(value) -> str:
    """A Vietnamese mobile number, stored as ``0`` + 9 digits: ``+84 912 345 678``,
    ``84912345678`` and ``0912.345.678`` all become ``0912345678``. Mobile numbers only
    (03, 05, 07, 08, 09): results and tracking codes are sent by SMS."""
    raw = value if isinstance(value, str) else ""
    cleaned = _PHONE_SEPARATORS.sub("", raw)
    if not cleaned:
        raise ValidationError(_("Vui lòng nhập số điện thoại di động."))
    if cleaned.startswith("+84"):
        cleaned = "0" + cleaned[3:]
    elif cleaned.startswith("0084"):
        cleaned = "0" + cleaned[4:]
    elif cleaned.startswith("84") and len(cleaned) == 11:
        cleaned = "0" + cleaned[2:]
    if not _MOBILE.match(cleaned):
        raise ValidationError(
            _(
                "Số điện thoại di động không hợp lệ: cần 10 chữ số, bắt đầu bằng 03, 05, 07, 08 "
                "hoặc 09 (hoặc +84)."
            )
        )
    return cleaned


def clean_email(value) -> str:
    value = clean_text(value, label=_("Thư điện tử"), max_length=EMAIL_MAX)
    if not value:
        return ""
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValidationError(_("Địa chỉ thư điện tử không hợp lệ.")) from None
    return value.lower()


@dataclass(frozen=True)
class Applicant:
    name: str
    id_number: str
    phone: str
    id_type: str = IdType.CITIZEN_ID
    email: str = ""
    address: str = ""


APPLICANT_FIELDS = {"name", "id_number", "id_type", "phone", "email", "address"}


def clean_applicant(data) -> Applicant:
    """Every field checked; all problems reported together under ``applicant.<field>``."""
    if not isinstance(data, dict):
        raise ValidationError(_("Thiếu thông tin người nộp hồ sơ."), code="invalid_applicant")
    errors: dict[str, list[str]] = {}
    unknown = set(data) - APPLICANT_FIELDS
    if unknown:
        errors["applicant"] = [
            _("Trường không được hỗ trợ: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        ]
    id_type = data.get("id_type") or IdType.CITIZEN_ID
    checks = {
        "name": lambda: clean_text(
            data.get("name"), label=_("Họ và tên người nộp"), max_length=NAME_MAX, required=True
        ),
        "id_type": lambda: _clean_id_type(id_type),
        "id_number": lambda: clean_id_number(data.get("id_number"), id_type),
        "phone": lambda: clean_phone(data.get("phone")),
        "email": lambda: clean_email(data.get("email")),
        "address": lambda: clean_text(
            data.get("address"), label=_("Địa chỉ"), max_length=ADDRESS_MAX
        ),
    }
    clean = {}
    for field, check in checks.items():
        try:
            clean[field] = check()
        except ValidationError as exc:
            errors[f"applicant.{field}"] = [str(exc.message)]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationError(first, code="invalid_applicant", errors=errors)
    return Applicant(**clean)


def _clean_id_type(value) -> str:
    if value not in IdType.values:
        raise ValidationError(_("Loại giấy tờ tùy thân không hợp lệ."))
    return value


def clean_comment(value, *, label=None, required: bool = False) -> str:
    return clean_text(
        value, label=label or _("Ý kiến"), max_length=COMMENT_MAX, required=required,
        multiline=True,
    )


# ---------------------------------------------------------------------------------------------
# Uploads: the type comes from the content, never from the name or the browser's word.
# ---------------------------------------------------------------------------------------------

PDF, JPEG, PNG, DOCX = (
    "application/pdf",
    "image/jpeg",
    "image/png",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
)
EXTENSIONS = {PDF: "pdf", JPEG: "jpg", PNG: "png", DOCX: "docx"}
ALLOWED_DESCRIPTION = "PDF, JPEG, PNG, DOCX"


@dataclass(frozen=True)
class CheckedUpload:
    original_name: str
    content_type: str
    size: int
    sha256: str


def upload_max_bytes() -> int:
    return int(getattr(settings, "MOTCUA_UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX_BYTES))


def sniff_content_type(head: bytes, file) -> str | None:
    """The type by magic bytes: PDF, JPEG, PNG, or a DOCX (a zip holding
    ``[Content_Types].xml`` and ``word/document.xml``)."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"PK\x03\x04"):
        try:
            file.seek(0)
            with zipfile.ZipFile(file) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        finally:
            file.seek(0)
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return DOCX
    return None


def check_upload(file) -> CheckedUpload:
    """Size (``MOTCUA_UPLOAD_MAX_BYTES``, 10 MB by default), emptiness and type by content.

    ``file`` is a Django ``File``/``UploadedFile`` or any binary file object; it is read once
    in chunks (to hash it) and left at position 0.
    """
    limit = upload_max_bytes()
    name = getattr(file, "name", "") or "tep-dinh-kem"
    original_name = clean_text(
        name.replace("\\", "/").rsplit("/", 1)[-1], label=_("Tên tệp"), max_length=255
    ) or "tep-dinh-kem"
    size = getattr(file, "size", None)
    if size is not None and size > limit:
        raise _too_big(original_name, limit)
    file.seek(0)
    head = file.read(8)
    if not head:
        raise ValidationError(
            _("Tệp “%(name)s” rỗng.") % {"name": original_name}, code="empty_upload"
        )
    content_type = sniff_content_type(head, file if hasattr(file, "seek") else io.BytesIO(head))
    if content_type is None:
        raise ValidationError(
            _(
                "Tệp “%(name)s” không đúng định dạng cho phép (%(allowed)s). Hệ thống kiểm tra "
                "nội dung tệp, không dựa vào tên tệp."
            )
            % {"name": original_name, "allowed": ALLOWED_DESCRIPTION},
            code="upload_type",
        )
    file.seek(0)
    digest = hashlib.sha256()
    total = 0
    chunks = file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(65536), b"")
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise _too_big(original_name, limit)
        digest.update(chunk)
    file.seek(0)
    return CheckedUpload(
        original_name=original_name, content_type=content_type, size=total,
        sha256=digest.hexdigest(),
    )


def _too_big(name: str, limit: int) -> ValidationError:
    return ValidationError(
        _("Tệp “%(name)s” vượt quá dung lượng cho phép (%(limit)s MB).")
        % {"name": name, "limit": f"{limit / 1024 / 1024:g}"},
        code="upload_too_large",
    )
