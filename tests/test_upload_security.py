"""Uploads (issue 9): the type is read from the content, not the name; sizes are capped; files
live outside the web root and no URL serves them directly; the one view that serves them asks
the dossier's permission first.

Where the rules live: ``dossiers/validators.py`` (``check_upload``: magic bytes and size),
``dossiers/models.py`` (``attachment_path``: a random name under ``MEDIA_ROOT``),
``dossiers/views/detail.py`` (``attachment``: the ``dossier-file`` view). The table of every URL
and persona (tests/test_url_permissions.py) covers ``dossier-file`` too; this module goes
deeper on the file itself.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import Resolver404, resolve, reverse
from rest_framework.authtoken.models import Token

from dossiers.models import Attachment
from tests.dossier_factories import act, make_procedure, org, receive, staff  # noqa: F401
from tests.dossier_factories import version as version  # noqa: F401 - fixture

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def docx(*, complete: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        if complete:
            archive.writestr("word/document.xml", "<w:document/>")
        else:
            archive.writestr("payload.js", "alert(1)")
    return buffer.getvalue()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def dossier(org, version, media):  # noqa: F811
    return act(receive(org, version), "start", org.clerk)


def token_client(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
    return client


def upload(client, dossier, name: str, content: bytes, declared: str = "application/pdf"):
    return client.post(
        reverse("dossier-attachments", kwargs={"code": dossier.code}),
        {"kind": "scan", "file": SimpleUploadedFile(name, content, declared)},
    )


def stored(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# ---------------------------------------------------------------------------------------------
# Type by content
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, content", [
    ("to-khai.pdf", b"<html><script>alert(1)</script></html>"),
    ("anh-chup.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("anh-chup.jpg", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"),
    ("don.docx", docx(complete=False)),
    ("don.pdf", b"Day la van ban thuong, khong phai PDF"),
    ("don.pdf", b"%PD"),
])
def test_a_file_whose_content_is_not_an_allowed_type_is_refused_whatever_its_name(
        client, org, dossier, media, name, content):  # noqa: F811
    response = upload(token_client(client, org.clerk), dossier, name, content)
    assert response.status_code == 400
    assert response.json()["code"] == "upload_type"
    assert not dossier.attachments.exists()
    assert stored(media) == []


@pytest.mark.parametrize("name, content, content_type, extension", [
    ("virus.exe", PDF, "application/pdf", "pdf"),
    ("ban-quet.pdf", PNG, "image/png", "png"),
    ("anh", JPEG, "image/jpeg", "jpg"),
    ("don.pdf", docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     "docx"),
])
def test_an_allowed_file_is_typed_and_named_by_its_content(
        client, org, dossier, media, name, content, content_type, extension):  # noqa: F811
    response = upload(token_client(client, org.clerk), dossier, name, content,
                      declared="text/html")  # the browser's word counts for nothing
    assert response.status_code == 201, response.content
    attachment = dossier.attachments.get()
    assert attachment.content_type == content_type
    assert attachment.file.name.endswith(f".{extension}")
    assert attachment.original_name == name


# ---------------------------------------------------------------------------------------------
# Size
# ---------------------------------------------------------------------------------------------


def test_a_file_at_the_limit_is_kept_and_one_byte_more_is_refused(
        client, org, dossier, media, settings):  # noqa: F811
    settings.MOTCUA_UPLOAD_MAX_BYTES = 2048
    at_limit = PDF + b"0" * (2048 - len(PDF))
    api = token_client(client, org.clerk)
    assert upload(api, dossier, "vua-du.pdf", at_limit).status_code == 201
    response = upload(api, dossier, "qua-lon.pdf", at_limit + b"0")
    assert response.status_code == 400
    assert response.json()["code"] == "upload_too_large"
    assert list(dossier.attachments.values_list("original_name", flat=True)) == ["vua-du.pdf"]
    assert len(stored(media)) == 1


def test_the_desk_form_refuses_an_oversize_file_and_keeps_nothing(
        client, org, dossier, media, settings):  # noqa: F811
    settings.MOTCUA_UPLOAD_MAX_BYTES = 1024
    client.force_login(org.clerk)
    response = client.post(
        reverse("dossier-attach", kwargs={"code": dossier.code}),
        {"kind": "scan", "files": SimpleUploadedFile("qua-lon.pdf", PDF + b"0" * 2048)},
    )
    assert response.status_code in (200, 302, 400)
    assert not dossier.attachments.exists()
    assert stored(media) == []


# ---------------------------------------------------------------------------------------------
# Storage: outside the web root, under names that say nothing
# ---------------------------------------------------------------------------------------------


def _inside(path, root) -> bool:
    path, root = Path(path).resolve(), Path(root).resolve()
    return path == root or root in path.parents


def test_media_root_is_outside_everything_the_web_server_serves():
    media = django_settings.MEDIA_ROOT
    served = [django_settings.STATIC_ROOT, *django_settings.STATICFILES_DIRS,
              *django_settings.TEMPLATES[0]["DIRS"]]
    for root in served:
        assert not _inside(media, root), f"MEDIA_ROOT {media} lies inside {root}"
        assert not _inside(root, media), f"{root} lies inside MEDIA_ROOT {media}"
    assert not getattr(django_settings, "WHITENOISE_ROOT", None) or not _inside(
        media, django_settings.WHITENOISE_ROOT)


def test_the_stored_name_tells_nothing_and_ignores_the_path_given(client, org, dossier, media):  # noqa: F811
    response = upload(token_client(client, org.clerk), dossier, "../../../etc/Trần Văn An.pdf", PDF)
    assert response.status_code == 201
    attachment = dossier.attachments.get()
    assert attachment.original_name == "Trần Văn An.pdf"
    # dossiers/<year>/<month>/<32 random URL-safe characters>.<extension by content>
    assert re.fullmatch(r"dossiers/\d{4}/\d{2}/[A-Za-z0-9_-]{32}\.pdf", attachment.file.name)
    [path] = stored(media)
    assert _inside(path, media)


def test_no_url_serves_media_files_directly(client, org, dossier, media, settings):  # noqa: F811
    upload(token_client(client, org.clerk), dossier, "ban-quet.pdf", PDF)
    attachment = dossier.attachments.get()
    direct = django_settings.MEDIA_URL + attachment.file.name
    with pytest.raises(Resolver404):
        resolve(direct)
    client.force_login(org.clerk)
    assert client.get(direct).status_code == 404
    settings.DEBUG = True  # not even in development
    assert client.get(direct).status_code == 404


def test_pages_and_api_never_show_the_storage_path(client, org, dossier, media):  # noqa: F811
    api = token_client(client, org.clerk)
    upload(api, dossier, "ban-quet.pdf", PDF)
    name = dossier.attachments.get().file.name
    detail = api.get(reverse("dossier-detail", kwargs={"code": dossier.code})).content.decode()
    client.defaults.pop("HTTP_AUTHORIZATION")
    client.force_login(org.clerk)
    page = client.get(reverse("dossier-page", kwargs={"code": dossier.code})).content.decode()
    for body in (detail, page):
        assert name not in body
        assert django_settings.MEDIA_URL + "dossiers/" not in body


# ---------------------------------------------------------------------------------------------
# Serving: only through the view that checks the dossier
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def scan(org, dossier):  # noqa: F811
    from dossiers.services import dossier_attach

    return dossier_attach(dossier=dossier, file=SimpleUploadedFile("ban-quet.pdf", PDF),
                          kind=Attachment.Kind.SCAN, actor=org.clerk)


def file_url(dossier, attachment) -> str:
    return reverse("dossier-file", kwargs={"code": dossier.code, "pk": attachment.pk})


@pytest.mark.parametrize("who", ["clerk", "officer", "leader", "center_clerk", "superuser"])
def test_the_people_working_on_the_dossier_open_its_files_safely(client, org, dossier, scan, who):  # noqa: F811
    client.force_login(getattr(org, who))
    response = client.get(file_url(dossier, scan))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert "ban-quet.pdf" in response["Content-Disposition"]


def test_a_word_file_is_downloaded_not_opened_in_the_browser(client, org, dossier):  # noqa: F811
    from dossiers.services import dossier_attach

    item = dossier_attach(dossier=dossier, file=SimpleUploadedFile("don.docx", docx()),
                          kind=Attachment.Kind.SCAN, actor=org.clerk)
    client.force_login(org.officer)
    response = client.get(file_url(dossier, item))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize("who", ["officer_b", "leader_b", "clerk_b", "admin"])
def test_staff_who_may_not_see_the_dossier_get_the_same_404_as_for_nothing(
        client, org, dossier, scan, who):  # noqa: F811
    client.force_login(getattr(org, who))
    response = client.get(file_url(dossier, scan))
    missing = client.get(reverse("dossier-file", kwargs={"code": dossier.code, "pk": 999999}))
    assert response.status_code == missing.status_code == 404
    assert response.content == missing.content


def test_supervisors_see_that_files_exist_not_their_content(client, org, dossier, scan):  # noqa: F811
    supervisor = staff("supervisor_u", (org.units_a["LD"], "supervisor"))
    client.force_login(supervisor)
    assert client.get(reverse("dossier-page", kwargs={"code": dossier.code})).status_code == 200
    assert client.get(file_url(dossier, scan)).status_code == 404


def test_anonymous_visitors_are_sent_to_the_login_page(client, dossier, scan):
    response = client.get(file_url(dossier, scan))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_file_of_another_dossier_is_not_served_through_a_dossier_one_may_see(
        client, org, dossier, media):  # noqa: F811
    """The file's id alone proves nothing: it must belong to the dossier in the URL."""
    from dossiers.services import dossier_attach

    version_b = make_procedure(agency=org.b, code="1.000002.000.00.00.H01")
    other = act(receive(org, version_b, actor=org.clerk_b), "start", org.clerk_b)
    secret = dossier_attach(dossier=other, file=SimpleUploadedFile("mat.pdf", PDF),
                            kind=Attachment.Kind.SCAN, actor=org.clerk_b)
    for who in (org.clerk, org.center_clerk, org.superuser):
        client.force_login(who)
        assert client.get(file_url(dossier, secret)).status_code == 404
