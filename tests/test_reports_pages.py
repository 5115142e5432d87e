"""The staff report pages, the drill-down, exports (xlsx, PDF) and the public figures page."""

from __future__ import annotations

import io
import os

import pytest
import time_machine
from openpyxl import load_workbook

from motcua.models import Role
from tests.dossier_factories import eager_celery, org, staff, version  # noqa: F401
from tests.reports_factories import NOW, awkward_data

W48 = {"start": "2025-11-24", "end": "2025-11-30"}
W49 = {"start": "2025-12-01", "end": "2025-12-07"}


@pytest.fixture
def supervisor(org):  # noqa: F811
    return staff("giamsat", (org.units_a["LD"], Role.SUPERVISOR))


@pytest.fixture
def data(org, version):  # noqa: F811
    return awkward_data(org, version)


@pytest.fixture
def get(client):
    def _get(user, url, **params):
        if user is not None:
            client.force_login(user)
        with time_machine.travel(NOW, tick=False):
            return client.get(url, params)
    return _get


def _sheet_rows(response):
    content = b"".join(response.streaming_content) if response.streaming else response.content
    book = load_workbook(io.BytesIO(content))
    return [row for row in book.worksheets[0].iter_rows(values_only=True)]


def test_dashboard_shows_charts_table_and_drill_links(data, supervisor, get):
    response = get(supervisor, "/staff/reports/", **W49)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and 'role="img"' in html
    assert 'id="report-table"' in html
    assert "figure=resolved_late" in html
    assert "Cán bộ cần niềm nở hơn." not in html  # rated in W48, not W49
    html48 = get(supervisor, "/staff/reports/", **W48).content.decode()
    assert "Cán bộ cần niềm nở hơn." in html48


def test_dashboard_escapes_citizen_comments(data, supervisor, get):
    from ratings.models import Rating

    Rating.objects.filter(pk=data.rating.pk).update(comment="<script>alert(1)</script>")
    html = get(supervisor, "/staff/reports/", **W48).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_drill_down_lists_the_late_dossier_and_exports_it(data, supervisor, get):
    response = get(supervisor, "/staff/reports/ho-so/", figure="resolved_late", **W49)
    assert response.status_code == 200
    assert data.apologised.code in response.content.decode()
    assert data.boundary.code not in response.content.decode()
    export = get(supervisor, "/staff/reports/ho-so/xuat.xlsx", figure="resolved_late", **W49)
    rows = _sheet_rows(export)
    assert any(data.apologised.code in (row[1] or "") for row in rows[2:] if row[1])


def test_drill_down_of_an_unknown_figure_is_404(data, supervisor, get):
    assert get(supervisor, "/staff/reports/ho-so/", figure="colour").status_code == 404


def test_summary_export_has_one_row_per_agency_and_totals(data, supervisor, get, org):  # noqa: F811
    rows = _sheet_rows(get(supervisor, "/staff/reports/xuat.xlsx", **W48))
    labels = [row[0] for row in rows[2:]]
    assert org.a.name in labels and org.b.name in labels and labels[-1] == "Tổng cộng"
    assert rows[-1][1] == 8  # received


def test_staff_performance_page_and_export(data, supervisor, get, org):  # noqa: F811
    response = get(supervisor, "/staff/reports/can-bo/", start="2025-11-24", end="2025-12-07")
    assert response.status_code == 200
    assert 'id="staff-table"' in response.content.decode()
    rows = _sheet_rows(get(supervisor, "/staff/reports/can-bo/", start="2025-11-24",
                           end="2025-12-07", by="unit", format="xlsx"))
    assert any(row[0] and row[0].startswith("Phòng chuyên môn") for row in rows[2:])


def test_register_as_pdf_and_xlsx(data, supervisor, get):
    page = get(supervisor, "/staff/reports/so-theo-doi/", **W48)
    assert page.status_code == 200 and data.early.code in page.content.decode()
    pdf = get(supervisor, "/staff/reports/so-theo-doi/", format="pdf", **W48)
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
    if os.environ.get("REPORT_SAMPLES"):  # docs/samples: look at it
        with open(os.path.join(os.environ["REPORT_SAMPLES"], "register.pdf"), "wb") as out:
            out.write(pdf.content)
    rows = _sheet_rows(get(supervisor, "/staff/reports/so-theo-doi/", format="xlsx", **W48))
    codes = [row[1] for row in rows[2:]]
    # In order of reception; the refused submission was never received.
    assert codes[0] == data.early.code and len(codes) == 8
    assert data.refused.code not in codes


def test_control_sheet_xlsx_lists_the_hand_overs(data, supervisor, get, org):  # noqa: F811
    response = get(org.clerk, f"/staff/reports/phieu-kiem-soat/{data.early.code}.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    handovers = list(book.worksheets[1].iter_rows(values_only=True))[2:]
    assert len(handovers) >= 4
    # Staff of another agency see nothing of it.
    assert get(org.clerk_b, f"/staff/reports/phieu-kiem-soat/{data.early.code}.xlsx"
               ).status_code == 404


def test_report_pages_are_for_supervisors_and_leaders_only(org, get):  # noqa: F811
    for url in ("/staff/reports/", "/staff/reports/can-bo/", "/staff/reports/so-theo-doi/",
                "/staff/reports/xuat.xlsx"):
        assert get(org.clerk, url).status_code == 403
        assert get(org.leader, url).status_code == 200
    assert get(org.leader, "/staff/reports/tuan/").status_code == 403


def test_anonymous_is_sent_to_login(db, client):
    response = client.get("/staff/reports/")
    assert response.status_code == 302 and "/staff/login/" in response["Location"]


def test_public_figures_page_shows_headline_shares(data, get, org):  # noqa: F811
    from django.core.cache import cache

    cache.clear()
    with time_machine.travel(NOW, tick=False):
        from django.test import Client

        response = Client().get("/so-lieu/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Hồ sơ giải quyết đúng hạn" in html
    assert org.a.name in html
    assert data.early.applicant_name not in html


def test_dashboard_query_count_is_flat(data, supervisor, client, django_assert_max_num_queries):
    client.force_login(supervisor)
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(40):
        assert client.get("/staff/reports/", {**W48, "group_by": "unit"}).status_code == 200


def test_xlsx_keeps_a_formula_typed_by_a_citizen_as_text(org, version, supervisor, get):  # noqa: F811
    from tests.dossier_factories import APPLICANT, receive

    with time_machine.travel(NOW, tick=False):
        receive(org, version, applicant={**APPLICANT, "name": '=HYPERLINK("http://x","a")'})
    export = get(supervisor, "/staff/reports/ho-so/xuat.xlsx", figure="received",
                 start="2025-12-03", end="2025-12-03")
    content = b"".join(export.streaming_content) if export.streaming else export.content
    book = load_workbook(io.BytesIO(content))
    cell = next(c for row in book.worksheets[0].iter_rows(min_row=3) for c in row
                if isinstance(c.value, str) and "HYPERLINK" in c.value)
    assert cell.data_type == "s"


def test_public_figures_serve_the_last_copy_while_one_request_recomputes(db, monkeypatch):
    from django.core.cache import cache

    from reports import views

    cache.clear()
    first = views.public_figures_data()
    cache.delete(f"reports:public:{first['period'].end.isoformat()}")  # the fresh copy expired
    cache.add("reports:public:lock", 1, 120)  # another request is recomputing
    monkeypatch.setattr(views, "report_summary", lambda **kw: pytest.fail("recomputed"))
    assert views.public_figures_data() == first


def test_leader_drill_down_stays_in_their_units(data, get, org):  # noqa: F811
    response = get(org.leader_b, "/staff/reports/ho-so/", figure="received", group_by="agency",
                   key=org.a.id, **W48)
    assert response.status_code == 200
    assert data.early.code not in response.content.decode()
    own = get(org.leader_b, "/staff/reports/ho-so/", figure="received", **W48)
    assert data.other.code in own.content.decode()


def test_dashboard_with_an_inverted_period_says_so(data, supervisor, get):
    response = get(supervisor, "/staff/reports/", start="2025-12-07", end="2025-12-01")
    assert response.status_code == 200
    assert "Ngày kết thúc phải sau hoặc bằng ngày bắt đầu." in response.content.decode()
