"""A leader sees and re-prints every apology letter of a dossier (issue 5, docs/deadlines.md):
the staff dossier page and the API detail list each letter (number, date, step and unit at
fault, old → new appointment) with the address of its own PDF (Mẫu 04), not only the latest.

The standard procedure takes 5 working days: received Monday 24/11/2025 09:00, due Monday 1/12
09:00. The sweep of Friday 28/11 10:00 issues letter 1 (new appointment Monday 8/12 09:00); the
sweep of Friday 5/12 10:00 issues letter 2 (Monday 15/12 09:00).
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import re
import subprocess
from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from dossiers.deadlines import deadline_sweep, dossier_apologies
from dossiers.models import Apology, ApologyImmutable, Dossier
from motcua.models import Role
from tests.dossier_factories import (  # noqa: F401
    TZ,
    act,
    frozen,
    org,
    receive,
    staff,
    version,
)

pytestmark = pytest.mark.django_db


def at(day: int, hour: int, month: int = 11) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=TZ)


FIRST_SWEEP = at(28, 10)
SECOND_SWEEP = at(5, 10, month=12)


def in_progress(org, version) -> Dossier:
    return act(receive(org, version), "start", org.officer)


def with_letters(org, version, count: int = 2) -> Dossier:
    """A dossier in appraisal that missed ``count`` appointments (1 or 2), one letter each."""
    dossier = in_progress(org, version)
    for moment in (FIRST_SWEEP, SECOND_SWEEP)[:count]:
        deadline_sweep(at=moment)
    assert dossier.apologies.count() == count
    return Dossier.objects.get(pk=dossier.pk)


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def page(client, dossier):
    return client.get(f"/staff/dossiers/{dossier.code}/")


def pdf_text(pdf: bytes, tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True
    ).stdout.decode("utf-8")
    return " ".join(out.split())


def apology_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-apology="(\d+)">', html)


# ---------------------------------------------------------------------------------------------
# The staff dossier page
# ---------------------------------------------------------------------------------------------


def test_the_page_lists_both_letters_after_two_missed_appointments(org, version, frozen, client):
    dossier = with_letters(org, version)
    client.force_login(org.leader)
    response = page(client, dossier)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Văn bản xin lỗi và hẹn lại ngày trả kết quả (Mẫu 04)" in html
    assert apology_rows(html) == ["1", "2"]
    # Each letter: its date, the step and unit at fault, old → new appointment, its own PDF.
    assert "10:00 28/11/2025" in html and "10:00 05/12/2025" in html
    assert "09:00 01/12/2025</s> → <strong>09:00 08/12/2025" in html
    assert "09:00 08/12/2025</s> → <strong>09:00 15/12/2025" in html
    assert html.count("Thẩm định hồ sơ") >= 2 and "Phòng chuyên môn" in html
    assert "Hệ thống tự động lập" in html
    for number in (1, 2):
        assert f'href="/staff/dossiers/{dossier.code}/documents/apology.pdf?number={number}"' in html
        assert f"In văn bản lần {number}" in html
    assert "css/issue5.css" in html


def test_each_letter_says_whether_it_came_before_or_after_the_missed_appointment(
    org, version, frozen, client
):
    early = in_progress(org, version)
    deadline_sweep(at=FIRST_SWEEP)  # predicted late: 7 working hours before 1/12 09:00
    late = act(act(in_progress(org, version), "forward", org.officer), "submit_for_approval",
               org.officer)  # awaiting approval: never predicted late, apologised once late
    deadline_sweep(at=at(1, 10, month=12))
    client.force_login(org.leader)
    html = page(client, early).content.decode()
    assert "trước khi trễ hẹn" in html and "sau khi trễ hẹn" not in html
    html = page(client, late).content.decode()
    assert "sau khi trễ hẹn" in html and "trước khi trễ hẹn" not in html
    assert "Phê duyệt, ký kết quả" in html and "Ban Lãnh đạo" in html


def test_a_dossier_without_letters_has_no_apology_section(org, version, frozen, client):
    dossier = in_progress(org, version)
    client.force_login(org.leader)
    html = page(client, dossier).content.decode()
    assert 'id="xin-loi"' not in html and apology_rows(html) == []


def test_a_leaders_own_letter_shows_who_signed_it_and_the_reason(org, version, frozen, client):
    from dossiers.services import dossier_issue_apology

    leader = staff("leader_tran", (org.units_a["LD"], Role.LEADER), first_name="Hùng",
                   last_name="Trần Văn")
    dossier = in_progress(org, version)
    dossier_issue_apology(
        dossier=dossier, actor=leader, reason="Chờ ý kiến của Sở Xây dựng.", at=at(26, 10)
    )
    client.force_login(org.leader)
    html = page(client, dossier).content.decode()
    assert apology_rows(html) == ["1"]
    assert "Chờ ý kiến của Sở Xây dựng." in html
    assert "Trần Văn Hùng" in html
    assert "Hệ thống tự động lập" not in html


def test_the_detail_page_query_count_does_not_grow_with_the_letters(
    org, version, frozen, client, monkeypatch
):
    from motcua import calendar

    two = with_letters(org, version, count=2)
    one = with_letters(org, version, count=1)  # after: the second sweep would give it two
    # The calendar asks its cheap change stamp at most every 2 s of real time; on a loaded
    # machine that moment can fall between the two pages. Hold that clock still.
    still = calendar._monotonic()
    monkeypatch.setattr(calendar, "_monotonic", lambda: still)
    client.force_login(org.leader)
    page(client, one)  # warm caches (session, calendar)
    counts = []
    for dossier in (one, two):
        with CaptureQueriesContext(connection) as queries:
            assert page(client, dossier).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_the_detail_page_stays_within_its_query_budget(
    org, version, frozen, client, django_assert_max_num_queries
):
    dossier = with_letters(org, version)
    client.force_login(org.leader)
    page(client, dossier)
    with django_assert_max_num_queries(15):  # 12 measured
        assert page(client, dossier).status_code == 200


# ---------------------------------------------------------------------------------------------
# The API detail
# ---------------------------------------------------------------------------------------------


def test_the_api_detail_lists_every_letter_with_its_pdf_address(org, version, frozen):
    dossier = with_letters(org, version)
    body = api_for(org.leader).get(f"/api/v1/dossiers/{dossier.code}/").json()
    letters = body["apologies"]
    assert [a["number"] for a in letters] == [1, 2]
    first, second = letters
    assert first["for_due_at"] == "2025-12-01T09:00:00+07:00"
    assert first["new_due_at"] == second["for_due_at"] == "2025-12-08T09:00:00+07:00"
    assert second["new_due_at"] == body["due_at"] == "2025-12-15T09:00:00+07:00"
    assert first["issued_at"] == "2025-11-28T10:00:00+07:00"
    assert (first["kind"], first["issued_by"], first["already_late"]) == ("auto", None, False)
    assert first["state"] == "in_progress"
    assert first["at_fault_step"] == {"position": 2, "name": "Thẩm định hồ sơ"}
    assert first["at_fault_unit"] == {"code": "CM", "name": "Phòng chuyên môn"}
    assert first["at_fault_officer"]["username"] == "officer_a"
    assert "dưới 8 giờ làm việc" in first["reason"]
    assert first["pdf_url"] == (
        f"http://testserver/api/v1/dossiers/{dossier.code}/documents/apology-1.pdf"
    )
    assert second["pdf_url"].endswith("/apology-2.pdf")


def test_the_api_detail_of_a_dossier_without_letters_has_an_empty_list(org, version, frozen):
    dossier = in_progress(org, version)
    body = api_for(org.clerk).get(f"/api/v1/dossiers/{dossier.code}/").json()
    assert body["apologies"] == []


def test_the_api_detail_query_count_does_not_grow_with_the_letters(org, version, frozen):
    two = with_letters(org, version, count=2)
    one = with_letters(org, version, count=1)
    client = api_for(org.leader)
    client.get(f"/api/v1/dossiers/{one.code}/")
    counts = []
    for dossier in (one, two):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/api/v1/dossiers/{dossier.code}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_a_transition_answer_carries_the_letters_too(org, version, frozen):
    dossier = with_letters(org, version, count=1)
    response = api_for(org.officer).post(
        f"/api/v1/dossiers/{dossier.code}/transitions/", {"transition": "forward"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert [a["number"] for a in response.json()["apologies"]] == [1]


# ---------------------------------------------------------------------------------------------
# Re-printing one letter
# ---------------------------------------------------------------------------------------------


def test_the_pdf_of_letter_one_and_of_letter_two_differ(org, version, frozen, tmp_path):
    dossier = with_letters(org, version)
    client = api_for(org.leader)
    base = f"/api/v1/dossiers/{dossier.code}/documents"
    one = client.get(f"{base}/apology-1.pdf")
    two = client.get(f"{base}/apology-2.pdf")
    assert one.status_code == two.status_code == 200
    assert one["Content-Type"] == "application/pdf" and one.content.startswith(b"%PDF-")
    assert f'filename="{dossier.code}-apology-1.pdf"' in one["Content-Disposition"]
    assert f'filename="{dossier.code}-apology-2.pdf"' in two["Content-Disposition"]
    text_one = pdf_text(one.content, tmp_path, "one")
    text_two = pdf_text(two.content, tmp_path, "two")
    assert text_one != text_two
    assert "ngày 08 tháng 12 năm 2025" in text_one and "ngày 15 tháng 12 năm 2025" not in text_one
    assert "ngày 15 tháng 12 năm 2025" in text_two
    # The same letter by either address, and re-printed identically.
    by_query = client.get(f"{base}/apology.pdf", {"number": 1})
    assert pdf_text(by_query.content, tmp_path, "query") == text_one
    assert f'filename="{dossier.code}-apology-1.pdf"' in by_query["Content-Disposition"]
    assert pdf_text(client.get(f"{base}/apology-1.pdf").content, tmp_path, "again") == text_one


def test_the_contract_address_still_prints_the_latest_letter(org, version, frozen, tmp_path):
    dossier = with_letters(org, version)
    response = api_for(org.leader).get(f"/api/v1/dossiers/{dossier.code}/documents/apology.pdf")
    assert response.status_code == 200
    assert f'filename="{dossier.code}-apology.pdf"' in response["Content-Disposition"]
    assert "ngày 15 tháng 12 năm 2025" in pdf_text(response.content, tmp_path, "latest")


@pytest.mark.parametrize("number", ["3", "0", "9999"])
def test_a_letter_the_dossier_does_not_have_is_not_found_at_its_address(org, version, frozen, number):
    dossier = with_letters(org, version)
    response = api_for(org.leader).get(
        f"/api/v1/dossiers/{dossier.code}/documents/apology-{number}.pdf",
        HTTP_ACCEPT="application/pdf",
    )
    expected = 400 if number == "0" else 404
    assert response.status_code == expected
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == ("invalid" if number == "0" else "not_found")


def test_a_dossier_without_letters_has_no_letter_one(org, version, frozen):
    dossier = in_progress(org, version)
    client = api_for(org.leader)
    base = f"/api/v1/dossiers/{dossier.code}/documents"
    assert client.get(f"{base}/apology-1.pdf").status_code == 404
    assert client.get(f"{base}/apology.pdf").status_code == 400


def test_a_supervisor_sees_and_reprints_every_letter(org, version, frozen):
    from motcua.models import Unit

    supervisor = staff("supervisor_t", (Unit.objects.get(agency=org.center, code="QT"), Role.SUPERVISOR))
    dossier = with_letters(org, version)
    client = api_for(supervisor)
    assert len(client.get(f"/api/v1/dossiers/{dossier.code}/").json()["apologies"]) == 2
    pdf = client.get(f"/api/v1/dossiers/{dossier.code}/documents/apology-2.pdf")
    assert pdf.status_code == 200


# ---------------------------------------------------------------------------------------------
# Who may see them
# ---------------------------------------------------------------------------------------------


def outsiders(org):
    """An officer of another agency, and an officer of another unit of the same agency (the
    leaders' unit, where no step of the process asks for an officer)."""
    return [
        org.officer_b,
        staff("officer_ld", (org.units_a["LD"], Role.OFFICER)),
    ]


def test_officers_of_another_unit_cannot_see_the_letters_anywhere(org, version, frozen, client):
    dossier = with_letters(org, version)
    for user in outsiders(org):
        client.force_login(user)
        assert page(client, dossier).status_code == 404
        staff_pdf = f"/staff/dossiers/{dossier.code}/documents/apology.pdf"
        assert client.get(staff_pdf, {"number": 1}).status_code == 404
        api = api_for(user)
        assert api.get(f"/api/v1/dossiers/{dossier.code}/").status_code == 404
        base = f"/api/v1/dossiers/{dossier.code}/documents"
        for url in (f"{base}/apology-1.pdf", f"{base}/apology.pdf?number=2", f"{base}/apology.pdf"):
            response = api.get(url)
            assert response.status_code == 404, (user.username, url)
            assert response.json()["code"] == "not_found"


def test_anonymous_callers_get_nothing(org, version, frozen, client):
    dossier = with_letters(org, version)
    assert APIClient().get(
        f"/api/v1/dossiers/{dossier.code}/documents/apology-1.pdf"
    ).status_code in (401, 403)
    response = page(client, dossier)
    assert response.status_code == 302 and "login" in response["Location"]


# ---------------------------------------------------------------------------------------------
# Nobody can silently delete one
# ---------------------------------------------------------------------------------------------


def test_a_letter_cannot_be_deleted_so_the_page_keeps_showing_it(org, version, frozen, client):
    dossier = with_letters(org, version)
    first = Apology.objects.get(dossier=dossier, number=1)
    with pytest.raises(ApologyImmutable):
        first.delete()
    with pytest.raises(ApologyImmutable):
        Apology.objects.filter(pk=first.pk).delete()
    assert [a.number for a in dossier_apologies(dossier=dossier)] == [1, 2]
    client.force_login(org.leader)
    assert apology_rows(page(client, dossier).content.decode()) == ["1", "2"]


def test_the_service_is_exported_with_the_other_dossier_writes():
    import dossiers.services
    from dossiers import deadlines

    assert dossiers.services.dossier_issue_apology is deadlines.dossier_issue_apology
    assert "dossier_issue_apology" in dossiers.services.__all__


# ---------------------------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_leader_finds_both_letters_on_the_dossier_page_and_reprints_the_first(
    org, version, live_server, page, tmp_path
):
    import time_machine
    from playwright.sync_api import expect

    from tests.dossier_factories import MONDAY_9, PASSWORD

    with time_machine.travel(MONDAY_9, tick=False):  # the letters; the browser runs on today
        dossier = with_letters(org, version)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill(org.leader.username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")
    page.goto(f"{live_server.url}/staff/dossiers/{dossier.code}/")

    card = page.locator("#xin-loi")
    expect(card.get_by_role("heading")).to_contain_text("Mẫu 04")
    rows = card.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("09:00 01/12/2025")
    expect(rows.nth(0)).to_contain_text("09:00 08/12/2025")
    expect(rows.nth(1)).to_contain_text("09:00 15/12/2025")
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "apology-letters.png"))

    link = rows.nth(0).get_by_role("link", name="In văn bản lần 1")
    expect(link).to_have_attribute("target", "_blank")
    pdf = page.request.get(live_server.url + link.get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.body(), tmp_path, "printed")
    assert "ngày 08 tháng 12 năm 2025" in text and "ngày 15 tháng 12 năm 2025" not in text
