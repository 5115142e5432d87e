"""Bad input gets a clear Vietnamese error with a stable code, and nothing is stored half: no
dossier, no number taken, no file left behind."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dossiers import validators
from dossiers.models import Attachment, Dossier, DossierCounter, DossierEvent, IdType
from dossiers.services import dossier_attach
from motcua.errors import PermissionDenied, TransitionNotAllowed, ValidationError
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    act,
    dossier_in,
    frozen,
    make_procedure,
    org,
    receive,
    submit_online,
    version,
)

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
EXE = b"MZ\x90\x00" + b"\x00" * 64


def docx_bytes(*, word: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        if word:
            archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def upload(content: bytes, name: str = "scan.pdf", content_type: str = "application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


def nothing_stored():
    return not Dossier.objects.exists() and not DossierCounter.objects.exists() and not DossierEvent.objects.exists()


def code_of(excinfo) -> str:
    return excinfo.value.code


# ---------------------------------------------------------------------------------------------
# The procedure and the channel
# ---------------------------------------------------------------------------------------------


def test_unknown_procedure(org, frozen):
    from dossiers.services import dossier_receive_at_desk

    with pytest.raises(ValidationError) as info:
        dossier_receive_at_desk(procedure="9.999999", applicant=APPLICANT, actor=org.clerk)
    assert code_of(info) == "unknown_procedure"
    assert "9.999999" in str(info.value.message)
    assert nothing_stored()


def test_inactive_procedure(org, frozen):
    version = make_procedure(agency=org.a, active=False)
    with pytest.raises(ValidationError) as info:
        receive(org, version)
    assert code_of(info) == "procedure_inactive"
    assert "không áp dụng" in str(info.value.message)
    assert nothing_stored()


def test_outdated_version_is_refused(org, version, frozen):
    from procedures.models import ProcedureVersion

    newer = ProcedureVersion.objects.get(pk=version.pk)
    newer.pk, newer.number = None, 2
    newer.save()
    version.procedure.current_version = newer
    version.procedure.save()
    with pytest.raises(ValidationError) as info:
        receive(org, version)
    assert code_of(info) == "procedure_version_outdated"


@pytest.mark.parametrize("channel", ["post", "carrier-pigeon"])
def test_a_channel_the_procedure_does_not_take(org, version, frozen, channel):
    with pytest.raises(ValidationError) as info:
        receive(org, version, channel=channel)
    assert code_of(info) in ("channel_not_accepted", "invalid_channel")
    assert nothing_stored()


def test_online_dossiers_are_not_typed_in_at_the_desk(org, version, frozen):
    with pytest.raises(ValidationError) as info:
        receive(org, version, channel="online")
    assert code_of(info) == "channel_not_accepted"


def test_online_submission_needs_a_procedure_open_online(org, frozen):
    version = make_procedure(agency=org.a, accepts_online=False)
    with pytest.raises(ValidationError) as info:
        submit_online(org, version)
    assert code_of(info) == "channel_not_accepted"
    assert "trực tuyến" in str(info.value.message)


def test_wrong_agency_for_the_procedure(org, version, frozen):
    with pytest.raises(ValidationError) as info:
        receive(org, version, agency=org.b)
    assert code_of(info) == "wrong_agency"


def test_commune_procedure_needs_its_commune(org, frozen):
    version = make_procedure(agency=None, level="commune")
    with pytest.raises(ValidationError) as info:
        receive(org, version, actor=org.center_clerk)
    assert code_of(info) == "agency_required"
    with pytest.raises(ValidationError) as info:
        receive(org, version, agency=org.a)  # a department is not a commune
    assert code_of(info) == "wrong_agency"


def test_only_the_desk_receives(org, version, frozen):
    for user in (org.officer, org.leader, org.clerk_b, org.admin):
        with pytest.raises(PermissionDenied):
            receive(org, version, actor=user)
    assert nothing_stored()
    assert receive(org, version, actor=org.center_clerk).code.endswith("-0001")


def test_a_process_that_does_not_fit_the_organisation(org, frozen):
    from motcua.models import Role

    steps = [("Thẩm định", "XYZ", Role.OFFICER, Decimal(40), None)]
    version = make_procedure(agency=org.a, steps=steps)
    with pytest.raises(ValidationError) as info:
        receive(org, version)
    assert code_of(info) == "process_misconfigured"
    assert "XYZ" in str(info.value.message)
    assert nothing_stored()
    empty = make_procedure(code="1.000009.000.00.00.H01", agency=org.a, steps=[])
    with pytest.raises(ValidationError) as info:
        receive(org, empty)
    assert code_of(info) == "process_missing"


# ---------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------


def test_an_incomplete_dossier_is_not_received_and_the_slip_lists_everything_missing(org, version, frozen):
    optional = version.documents.get(is_mandatory=False).pk
    with pytest.raises(ValidationError) as info:
        receive(org, version, documents=[optional])
    assert code_of(info) == "incomplete_dossier"
    assert info.value.errors["documents"] == ["Đơn đề nghị cấp phép", "Bản sao giấy tờ pháp lý"]
    assert "Phiếu yêu cầu bổ sung" in str(info.value.message)
    assert nothing_stored()


def test_documents_of_another_procedure_are_refused(org, version, frozen):
    with pytest.raises(ValidationError) as info:
        receive(org, version, documents=[10**9])
    assert code_of(info) == "invalid_documents"


def test_checklist_with_extra_papers_and_counts(org, version, frozen):
    ids = list(version.documents.order_by("position").values_list("pk", flat=True))
    dossier = receive(org, version, documents=[
        {"required_document": ids[0], "originals": 2, "copies": 1}, ids[1],
        {"name": "Ảnh thẻ 3x4", "originals": 2},
    ])
    rows = list(dossier.documents.order_by("position").values_list("name", "originals", "copies", "received"))
    assert rows == [
        ("Đơn đề nghị cấp phép", 2, 1, True), ("Bản sao giấy tờ pháp lý", 1, 0, True),
        ("Giấy ủy quyền (nếu có)", 0, 0, False), ("Ảnh thẻ 3x4", 2, 0, True),
    ]


# ---------------------------------------------------------------------------------------------
# The applicant
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("id_number", "089085000", "hết giá trị sử dụng từ ngày 01/01/2025"),
        ("id_number", "08908500012", "đúng 12 chữ số"),
        ("id_number", "0890850001234", "đúng 12 chữ số"),
        ("id_number", "08908500012A", "đúng 12 chữ số"),
        ("id_number", "000000000000", "đúng 12 chữ số"),
        ("id_number", "", "Vui lòng nhập số giấy tờ"),
        ("phone", "0212345678", "không hợp lệ"),
        ("phone", "091234567", "không hợp lệ"),
        ("phone", "02963852741", "không hợp lệ"),  # a landline: results go by SMS
        ("phone", "+1 202 555 0100", "không hợp lệ"),
        ("phone", "", "Vui lòng nhập"),
        ("name", "", "Vui lòng nhập"),
        ("name", "A" * 256, "dài quá 255"),
        ("name", "Nguyễn\x00Văn An", "ký tự điều khiển"),
        ("name", "Nguyễn\u202eVăn An", "ký tự điều khiển"),
        ("email", "not-an-email", "không hợp lệ"),
        ("address", "x" * 501, "dài quá 500"),
    ],
)
def test_bad_applicant_data_is_refused_with_a_vietnamese_message(org, version, frozen, field, value, fragment):
    with pytest.raises(ValidationError) as info:
        receive(org, version, applicant={**APPLICANT, field: value})
    assert code_of(info) == "invalid_applicant"
    assert fragment in info.value.errors[f"applicant.{field}"][0]
    assert nothing_stored()


def test_every_applicant_problem_is_reported_at_once(org, version, frozen):
    with pytest.raises(ValidationError) as info:
        receive(org, version, applicant={"name": "", "id_number": "123", "phone": "abc", "fax": "1"})
    assert set(info.value.errors) == {
        "applicant", "applicant.name", "applicant.id_number", "applicant.phone",
    }


@pytest.mark.parametrize(
    "raw, clean",
    [("+84 912 345 678", "0912345678"), ("84912345678", "0912345678"), ("0912.345.678", "0912345678"),
     ("(+84) 386-123-456", "0386123456"), ("0084 703 123 456", "0703123456"), ("0587123456", "0587123456")],
)
def test_phone_numbers_are_normalised(raw, clean):
    assert validators.clean_phone(raw) == clean


def test_passports_for_foreigners(org, version, frozen):
    dossier = receive(org, version, applicant={
        **APPLICANT, "name": "John Smith", "id_type": IdType.PASSPORT, "id_number": "n 1234567 8",
    })
    assert (dossier.applicant_id_type, dossier.applicant_id_number) == ("passport", "N12345678")
    with pytest.raises(ValidationError):
        validators.clean_id_number("AB-1", IdType.PASSPORT)


def test_decomposed_vietnamese_is_stored_composed(org, version, frozen):
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Hoà")
    dossier = receive(org, version, applicant={**APPLICANT, "name": decomposed})
    assert dossier.applicant_name == unicodedata.normalize("NFC", "Nguyễn Thị Hoà")


def test_script_tags_in_a_name_are_stored_as_typed(org, version, frozen):
    name = '<script>alert("x")</script> Lê Văn B'
    dossier = receive(org, version, applicant={**APPLICANT, "name": name})
    assert Dossier.objects.get(pk=dossier.pk).applicant_name == name


# ---------------------------------------------------------------------------------------------
# Transition input
# ---------------------------------------------------------------------------------------------


def test_unknown_transition_and_unknown_arguments(org, version, frozen):
    dossier = receive(org, version)
    with pytest.raises(ValidationError) as info:
        act(dossier, "teleport", org.clerk)
    assert code_of(info) == "unknown_transition"
    with pytest.raises(ValidationError) as info:
        act(dossier, "start", org.clerk, legal_basis="x")
    assert code_of(info) == "invalid_payload"
    with pytest.raises(ValidationError):
        act(dossier, "start", org.clerk, expected_version="abc")


@pytest.mark.parametrize(
    "state, transition, who",
    [
        ("submitted", "refuse", "clerk"),
        ("in_progress", "request_supplement", "officer"),
        ("awaiting_approval", "deny", "leader"),
        ("awaiting_approval", "send_back", "leader"),
        ("received", "withdraw", "clerk"),
        ("received", "stop", "leader"),
    ],
)
def test_transitions_that_need_a_reason(org, version, frozen, state, transition, who):
    dossier = dossier_in(org, version, state)
    with pytest.raises(ValidationError) as info:
        act(dossier, transition, getattr(org, who))
    assert code_of(info) == "required"
    assert Dossier.objects.get(pk=dossier.pk).version == dossier.version


def test_a_comment_with_control_characters_is_refused(org, version, frozen):
    dossier = receive(org, version)
    with pytest.raises(ValidationError):
        act(dossier, "start", org.clerk, comment="ok\x07")
    assert act(dossier, "start", org.clerk, comment="Dòng 1\nDòng 2").state == "in_progress"


def test_received_at_in_the_future_is_refused(org, version, frozen):
    from datetime import timedelta

    from django.utils import timezone

    with pytest.raises(ValidationError):
        receive(org, version, received_at=timezone.now() + timedelta(hours=1))


# ---------------------------------------------------------------------------------------------
# Uploads
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, name, content_type",
    [
        (PDF, "giay-to.PDF", "application/pdf"),
        (PNG, "anh.png", "image/png"),
        (JPEG, "anh.jpeg", "image/jpeg"),
        (docx_bytes(), "don.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (PNG, "anh-dat-ten-sai.pdf", "image/png"),  # the content decides
    ],
)
def test_accepted_uploads_are_typed_by_content(org, version, frozen, media, content, name, content_type):
    dossier = receive(org, version)
    attachment = dossier_attach(dossier=dossier, file=upload(content, name, "application/octet-stream"),
                                kind="scan", actor=org.clerk)
    assert attachment.content_type == content_type
    assert attachment.original_name == name and attachment.size == len(content)
    import hashlib

    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    path = attachment.file.name
    assert name.rsplit(".", 1)[0] not in path and dossier.code not in path
    assert path.startswith("dossiers/2025/11/") and len(path.rsplit("/", 1)[1]) >= 32
    assert attachment.file.read() == content
    assert dossier.events.latest("id").transition == "attach"


@pytest.mark.parametrize(
    "content, name",
    [
        (EXE, "giay-phep.pdf"),  # an executable dressed as a PDF
        (b"<html><script>x</script></html>", "scan.jpg"),
        (docx_bytes(word=False), "don.docx"),  # a zip, not a Word document
        (b"PK\x03\x04garbage", "don.docx"),
    ],
)
def test_wrong_type_uploads_are_refused_whatever_their_name(org, version, frozen, media, content, name):
    dossier = receive(org, version)
    with pytest.raises(ValidationError) as info:
        dossier_attach(dossier=dossier, file=upload(content, name), kind="scan", actor=org.clerk)
    assert code_of(info) == "upload_type"
    assert "không đúng định dạng" in str(info.value.message)
    assert not Attachment.objects.exists() and stored_files(media) == []


def test_oversize_and_empty_uploads_are_refused(org, version, frozen, media, settings):
    settings.MOTCUA_UPLOAD_MAX_BYTES = 1024
    dossier = receive(org, version)
    with pytest.raises(ValidationError) as info:
        dossier_attach(dossier=dossier, file=upload(PDF + b"0" * 2000), kind="scan", actor=org.clerk)
    assert code_of(info) == "upload_too_large"
    assert "vượt quá dung lượng" in str(info.value.message)
    with pytest.raises(ValidationError) as info:
        dossier_attach(dossier=dossier, file=upload(b""), kind="scan", actor=org.clerk)
    assert code_of(info) == "empty_upload"
    assert stored_files(media) == []


def test_the_size_limit_holds_when_the_declared_size_lies(settings):
    settings.MOTCUA_UPLOAD_MAX_BYTES = 100
    file = io.BytesIO(PDF + b"0" * 500)
    file.name, file.size = "x.pdf", 10
    with pytest.raises(ValidationError) as info:
        validators.check_upload(file)
    assert code_of(info) == "upload_too_large"


def test_upload_permissions_and_closed_dossiers(org, version, frozen, media):
    dossier = receive(org, version)
    with pytest.raises(PermissionDenied):
        dossier_attach(dossier=dossier, file=upload(PDF), kind="scan", actor=org.officer_b)
    with pytest.raises(ValidationError):
        dossier_attach(dossier=dossier, file=upload(PDF), kind="photo", actor=org.clerk)
    returned = dossier_in(org, version, "returned")
    with pytest.raises(TransitionNotAllowed):
        dossier_attach(dossier=returned, file=upload(PDF), kind="scan", actor=org.clerk)
    assert stored_files(media) == []


def test_a_failed_reception_leaves_no_file_and_no_number(org, version, frozen, media, monkeypatch):
    from dossiers.services import reception

    def fail(**kwargs):
        raise RuntimeError("disk full after the files were written")

    monkeypatch.setattr(reception, "append_event", fail)
    with pytest.raises(RuntimeError):
        receive(org, version, attachments=[upload(PDF), upload(PNG, "b.png")])
    assert stored_files(media) == []
    assert nothing_stored()
    monkeypatch.undo()
    assert receive(org, version).code.endswith("-0001")


def test_a_bad_scan_refuses_the_whole_reception(org, version, frozen, media):
    with pytest.raises(ValidationError):
        receive(org, version, attachments=[upload(PDF), upload(EXE, "b.pdf")])
    assert stored_files(media) == [] and nothing_stored()


def test_scans_received_with_the_dossier(org, version, frozen, media):
    dossier = receive(org, version, attachments=[upload(PDF), upload(JPEG, "b.jpg")])
    assert list(dossier.attachments.values_list("kind", "content_type")) == [
        ("scan", "application/pdf"), ("scan", "image/jpeg"),
    ]
    assert dossier.events.get().data["attachments"] == 2
    assert len(stored_files(media)) == 2


def test_online_uploads_come_from_the_citizen(org, version, frozen, media):
    dossier = submit_online(org, version, attachments=[upload(PDF)])
    attachment = dossier.attachments.get()
    assert attachment.kind == "upload" and attachment.uploaded_by is None
    dossier_attach(dossier=dossier, file=upload(PNG, "x.png"), kind="upload", actor=None)
    received = act(dossier, "receive", org.clerk)
    with pytest.raises(PermissionDenied):
        dossier_attach(dossier=received, file=upload(PDF), kind="upload", actor=None)
