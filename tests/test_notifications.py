"""Who is told what (motcua.notify): citizens by SMS and e-mail when their dossier is received,
needs a supplement, is refused, gets an apology, has its result ready (and is stopped), in
Vietnamese with the code and the tracking link; staff by in-app notices when a dossier is
assigned to them, reaches their unit's step, or is due soon. A failing gateway never breaks the
transition that caused the message."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories / outbox_fixtures

from __future__ import annotations

import io
import logging
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from dossiers.documents import tracking_url
from dossiers.models import Dossier, DossierEvent
from motcua.models import DemoSms, DueSoonNotified, OutboxMessage, StaffNotice
from motcua.notify import unaccent
from motcua.outbox import outbox_record_due_soon, outbox_record_events
from motcua.text import person_name
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    PASSWORD,
    TZ,
    act,
    dossier_in,
    eager_celery,
    frozen,
    org,
    receive,
    submit_online,
    version,
)
from tests.outbox_fixtures import deliver, providers  # noqa: F401

Channel = OutboxMessage.Channel
Status = OutboxMessage.Status


def citizen_messages(dossier, topic=None):
    rows = OutboxMessage.objects.filter(dossier=dossier, channel__in=[Channel.SMS, Channel.EMAIL])
    if topic:
        rows = rows.filter(topic=topic)
    return {row.channel: row for row in rows}


def notices_for(dossier, kind=None):
    rows = OutboxMessage.objects.filter(dossier=dossier, channel=Channel.NOTICE)
    if kind:
        rows = rows.filter(topic=kind)
    return rows


# ---------------------------------------------------------------------------------------------
# Citizens
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_dossier_received_at_the_desk_is_announced_by_sms_and_email(org, version, frozen):
    dossier = receive(org, version)
    messages = citizen_messages(dossier, "received")
    assert set(messages) == {Channel.SMS, Channel.EMAIL}
    sms, email = messages[Channel.SMS], messages[Channel.EMAIL]
    assert sms.recipient == APPLICANT["phone"] and email.recipient == APPLICANT["email"]
    assert email.subject == f"Hồ sơ {dossier.code} đã được tiếp nhận"
    assert "Kính gửi ông/bà Nguyễn Văn An" in email.body
    assert "Cấp giấy phép thử nghiệm" in email.body
    assert "Hẹn trả kết quả: 09:00 ngày 01/12/2025" in email.body  # Monday 09:00 + 5 working days
    assert tracking_url(dossier.code) in email.body
    # The SMS goes without diacritics by default (MOTCUA_SMS_UNACCENTED), on one line.
    assert sms.body == (
        f"So Tu phap thu nghiem: Ho so {dossier.code} da duoc tiep nhan. Hen tra ket qua: "
        f"09:00 ngay 01/12/2025. Tra cuu: {tracking_url(dossier.code)}"
    )


@pytest.mark.django_db
def test_the_sms_keeps_its_diacritics_when_the_gateway_takes_unicode(org, version, frozen, settings):
    settings.MOTCUA_SMS_UNACCENTED = False
    dossier = receive(org, version)
    assert citizen_messages(dossier)[Channel.SMS].body.startswith(
        f"Sở Tư pháp thử nghiệm: Hồ sơ {dossier.code} đã được tiếp nhận."
    )


def test_unaccent_keeps_the_case_and_folds_d_with_stroke():
    assert unaccent("Đã tiếp nhận hồ sơ Ở ĐÂY") == "Da tiep nhan ho so O DAY"


@pytest.mark.django_db
def test_a_citizen_without_an_email_gets_only_the_sms(org, version):
    dossier = receive(org, version, applicant={**APPLICANT, "email": ""})
    assert set(citizen_messages(dossier)) == {Channel.SMS}


@pytest.mark.django_db
def test_texts_are_vietnamese_even_when_the_clerk_works_in_english(org, version, frozen):
    from django.utils import translation

    with translation.override("en"):
        dossier = receive(org, version)
    assert citizen_messages(dossier)[Channel.EMAIL].subject.startswith("Hồ sơ ")


@pytest.mark.django_db
def test_an_online_submission_is_announced_when_the_desk_receives_it_with_its_real_code(org, version, frozen):
    dossier = submit_online(org, version)
    assert not citizen_messages(dossier)
    dossier = act(dossier, "receive", org.clerk)
    messages = citizen_messages(dossier, "received")
    assert set(messages) == {Channel.SMS, Channel.EMAIL}
    assert dossier.code.startswith(org.a.code)
    assert dossier.code in messages[Channel.EMAIL].subject


@pytest.mark.django_db
def test_a_supplement_request_lists_the_missing_documents(org, version, frozen):
    dossier = dossier_in(org, version, "supplement_requested")
    messages = citizen_messages(dossier, "supplement")
    assert set(messages) == {Channel.SMS, Channel.EMAIL}
    assert "  1. Bản sao sổ hộ khẩu" in messages[Channel.EMAIL].body
    assert "tạm dừng" in messages[Channel.EMAIL].body
    assert "Ban sao so ho khau" in messages[Channel.SMS].body


@pytest.mark.django_db
def test_a_refusal_gives_the_reasons(org, version):
    dossier = dossier_in(org, version, "refused")
    messages = citizen_messages(dossier, "refused")
    assert "  - Không thuộc thẩm quyền" in messages[Channel.EMAIL].body
    assert "Ly do: Khong thuoc tham quyen" in messages[Channel.SMS].body


@pytest.mark.django_db
def test_a_result_ready_is_announced_once_whether_granted_or_denied(org, version):
    granted = dossier_in(org, version, "result_ready")
    assert set(citizen_messages(granted, "result_ready")) == {Channel.SMS, Channel.EMAIL}
    assert "Mời ông/bà đến Bộ phận Một cửa" in citizen_messages(granted, "result_ready")[Channel.EMAIL].body

    denied = dossier_in(org, version, "awaiting_approval")
    denied = act(denied, "deny", org.leader, reasons=["Không đủ điều kiện"])
    email = citizen_messages(denied, "result_ready")[Channel.EMAIL]
    assert "lý do không giải quyết" in email.body


@pytest.mark.parametrize(
    "transition, from_state, to_state, topic",
    [
        ("approve", "awaiting_approval", "result_ready", "result_ready"),
        ("deny", "awaiting_approval", "result_ready", "result_ready"),
        # inter-agency follow-up after the signature: the last forward brings the result
        ("forward", "in_progress", "result_ready", "result_ready"),
        ("approve", "awaiting_approval", "awaiting_approval", None),  # the next leader signs
        ("approve", "awaiting_approval", "in_progress", None),  # the next agency works on
        ("apology", "result_ready", "result_ready", "apology"),
        ("return_result", "result_ready", "returned", None),
        ("withdraw", "in_progress", "withdrawn", None),
    ],
)
def test_the_citizen_hears_of_a_result_whichever_event_brings_it(transition, from_state, to_state, topic):
    from types import SimpleNamespace

    from motcua.notify import citizen_topic

    event = SimpleNamespace(transition=transition, from_state=from_state, to_state=to_state)
    assert citizen_topic(event) == topic


@pytest.mark.django_db
def test_internal_steps_tell_the_citizen_nothing(org, version):
    dossier = dossier_in(org, version, "awaiting_approval")  # start, forward, submit
    assert set(OutboxMessage.objects.filter(dossier=dossier, channel__in=["sms", "email"])
               .values_list("topic", flat=True)) == {"received"}


@pytest.mark.django_db
def test_stopping_a_dossier_tells_the_citizen_the_legal_basis(org, version):
    dossier = dossier_in(org, version, "stopped")
    assert "Căn cứ: Khoản 2 Điều 20 Nghị định 118/2025/NĐ-CP" in (
        citizen_messages(dossier, "stopped")[Channel.EMAIL].body
    )


@pytest.mark.django_db
def test_an_apology_tells_the_citizen_the_new_appointment(org, version, frozen):
    from dossiers.deadlines import dossier_issue_apology

    dossier = dossier_in(org, version, "in_progress")
    apology = dossier_issue_apology(dossier=dossier, actor=org.leader, reason="Cần xác minh thêm")
    messages = citizen_messages(dossier, "apology")
    assert set(messages) == {Channel.SMS, Channel.EMAIL}
    email = messages[Channel.EMAIL]
    new_due = timezone.localtime(apology.new_due_at, TZ)
    assert f"Ngày hẹn trả kết quả mới: {new_due:%H:%M} ngày {new_due:%d/%m/%Y}" in email.body
    assert "thành thật xin lỗi" in email.body
    assert "Lý do: Cần xác minh thêm" in email.body
    assert f"Ngay hen tra moi: {new_due:%H:%M} ngay {new_due:%d/%m/%Y}" in messages[Channel.SMS].body


@pytest.mark.django_db
def test_events_inserted_in_bulk_get_their_messages_from_one_call(org, version, frozen):
    """The deadline sweep writes its letters' events with one SQL statement, then records
    their messages with one ``outbox_record_events`` call (dossiers.publish_events)."""
    dossiers = [dossier_in(org, version, "in_progress") for _ in range(3)]
    new_due = datetime(2025, 12, 5, 17, 0, tzinfo=TZ)
    with transaction.atomic():
        events = [
            DossierEvent.objects.create(
                dossier=d, at=timezone.now(), transition="apology", from_state=d.state,
                to_state=d.state, data={"new_due_at": new_due.isoformat(), "reason": "trễ"},
            )
            for d in dossiers
        ]
        ids = [e.pk for e in events]
        assert outbox_record_events(event_ids=ids) == 9  # SMS, e-mail, portal × 3
        assert outbox_record_events(event_ids=ids) == 0  # once only
    for dossier in dossiers:
        body = citizen_messages(dossier, "apology")[Channel.EMAIL].body
        assert "Ngày hẹn trả kết quả mới: 17:00 ngày 05/12/2025" in body
        sequences = list(
            OutboxMessage.objects.filter(dossier=dossier, channel="portal").order_by("id")
            .values_list("payload__sequence", flat=True)
        )
        assert sequences == [1, 2, 3]


# ---------------------------------------------------------------------------------------------
# Delivery to citizens
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_delivered_email_carries_a_stable_message_id_and_the_idempotency_key(org, version, mailoutbox):
    dossier = receive(org, version)
    deliver()
    row = citizen_messages(dossier)[Channel.EMAIL]
    [email] = mailoutbox
    assert email.to == [APPLICANT["email"]]
    assert email.subject == row.subject
    assert email.extra_headers["X-Motcua-Idempotency-Key"] == row.key
    assert email.extra_headers["Message-ID"] == row.provider_ref
    assert email.message()["Message-ID"] == row.provider_ref


@pytest.mark.django_db
def test_the_demo_gateway_records_each_sms_once(org, version):
    dossier = receive(org, version)
    deliver()
    deliver()
    [sms] = DemoSms.objects.all()
    row = citizen_messages(dossier)[Channel.SMS]
    assert (sms.to, sms.text, sms.key) == (APPLICANT["phone"], row.body, row.key)
    assert row.provider_ref == f"demo-sms-{sms.pk}"


@pytest.mark.django_db
def test_the_console_gateway_prints_the_message(org, version, settings):
    from motcua.integrations.sms import ConsoleSmsBackend, get_sms_backend

    settings.MOTCUA_SMS_BACKEND = "motcua.integrations.sms.ConsoleSmsBackend"
    backend = get_sms_backend()
    assert isinstance(backend, ConsoleSmsBackend)
    backend.stream = io.StringIO()
    try:
        receive(org, version)
        assert deliver().sent == 3
        printed = backend.stream.getvalue()
    finally:
        backend.stream = None
    assert f"SMS to {APPLICANT['phone']}" in printed and "da duoc tiep nhan" in printed


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_a_failing_gateway_never_breaks_the_transition_and_the_message_goes_later(org, version, providers, caplog):
    providers.sms.fail_next(ConnectionError("Viettel SMS gateway timeout"))
    with caplog.at_level(logging.WARNING, logger="motcua.outbox"):
        dossier = receive(org, version)  # on commit: publish_event delivers at once (eager)
    assert Dossier.objects.filter(pk=dossier.pk, state="received").exists()
    sms = citizen_messages(dossier)[Channel.SMS]
    assert (sms.status, sms.attempts) == (Status.FAILED, 1)
    assert "Viettel SMS gateway timeout" in sms.last_error
    assert citizen_messages(dossier)[Channel.EMAIL].status == Status.SENT
    assert len(mail.outbox) == 1

    # Later transitions still work while the SMS waits for its retry …
    act(dossier, "start", org.clerk)
    # … and the beat's run after the back-off sends it, once.
    report = deliver(now=sms.next_attempt_at)
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == (Status.SENT, 2)
    assert providers.sms.keys.count(sms.key) == 2 and report.sent >= 1


# ---------------------------------------------------------------------------------------------
# Staff notices
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_dossier_handed_to_a_unit_notifies_each_officer_there_but_not_the_one_acting(org, version):
    dossier = act(receive(org, version), "start", org.clerk)  # the desk hands it to CM
    rows = notices_for(dossier, "arrived")
    assert sorted(rows.values_list("user_id", flat=True)) == sorted([org.officer.pk, org.officer2.pk])
    title = rows.first().subject
    assert title == f"Hồ sơ {dossier.code} chuyển đến bước “Thẩm định hồ sơ”"
    assert not notices_for(dossier).filter(user=org.clerk).exists()


@pytest.mark.django_db
def test_an_officer_taking_a_dossier_from_the_desk_gets_no_notice_about_it(org, version):
    dossier = act(receive(org, version), "start", org.officer)
    assert not notices_for(dossier).exists()


@pytest.mark.django_db
def test_the_handler_alone_is_told_when_the_next_step_is_already_theirs(org, version):
    dossier = act(receive(org, version), "start", org.officer)
    act(dossier, "forward", org.officer)  # same officer, no handler on the next step yet
    assert sorted(notices_for(dossier, "arrived").values_list("user_id", flat=True)) == [org.officer2.pk]


@pytest.mark.django_db
def test_submitting_for_approval_tells_the_leaders_and_a_result_tells_the_desk(org, version):
    dossier = dossier_in(org, version, "awaiting_approval")
    assert org.leader.pk in notices_for(dossier, "arrived").values_list("user_id", flat=True)
    dossier = act(dossier, "approve", org.leader)
    last = notices_for(dossier, "arrived").order_by("-id").first()
    assert last.user_id == org.clerk.pk
    assert "Trả kết quả" in last.subject


@pytest.mark.django_db
def test_an_assignment_tells_the_officer_assigned(org, version):
    from dossiers.services import dossier_assign

    dossier = act(receive(org, version), "start", org.clerk)
    dossier_assign(dossier=dossier, officer=org.officer2, actor=org.leader)
    [row] = notices_for(dossier, "assigned")
    assert row.user_id == org.officer2.pk
    assert row.subject == f"Được phân công xử lý hồ sơ {dossier.code}"
    assert f"{person_name(org.leader)} đã phân công" in row.body


@pytest.mark.django_db
def test_delivering_a_notice_creates_it_once_for_the_staff_member(org, version):
    dossier = act(receive(org, version), "start", org.clerk)
    deliver()
    deliver()
    notice = StaffNotice.objects.get(user=org.officer)
    assert notice.kind == "arrived" and notice.dossier_id == dossier.pk
    assert notice.url == reverse("dossier-page", args=[dossier.code])
    assert notice.read_at is None
    assert StaffNotice.objects.count() == 2


@pytest.mark.django_db
def test_due_soon_dossiers_are_noticed_once_per_appointment(org, version, frozen):
    dossier = act(receive(org, version), "start", org.officer)  # officer_a holds it
    other = dossier_in(org, version, "in_progress")  # nobody holds it: the unit's officers
    Dossier.objects.filter(pk__in=[dossier.pk, other.pk]).update(is_due_soon=True)  # the sweep

    assert outbox_record_due_soon() == 2
    assert list(notices_for(dossier, "due_soon").values_list("user_id", flat=True)) == [org.officer.pk]
    assert sorted(notices_for(other, "due_soon").values_list("user_id", flat=True)) == sorted(
        [org.officer.pk, org.officer2.pk]
    )
    assert outbox_record_due_soon() == 0  # the next sweep: nothing new
    assert notices_for(dossier, "due_soon").count() == 1

    # An apology moved the appointment and the new one is near too: one more notice.
    Dossier.objects.filter(pk=dossier.pk).update(due_at=dossier.due_at + timedelta(days=3))
    assert outbox_record_due_soon() == 1
    assert notices_for(dossier, "due_soon").count() == 2
    assert DueSoonNotified.objects.filter(dossier=dossier).count() == 2


@pytest.mark.django_db
def test_the_due_soon_task_uses_the_sweeps_flags_and_delivers_the_notices(org, version, frozen):
    from dossiers.deadlines import deadline_sweep
    from motcua.tasks import notice_due_soon

    dossier = dossier_in(org, version, "awaiting_approval")  # due Monday 01/12 09:00
    deadline_sweep(at=datetime(2025, 11, 28, 10, 0, tzinfo=TZ))  # Friday: 7.5 working h left
    assert Dossier.objects.get(pk=dossier.pk).is_due_soon
    result = notice_due_soon.apply().result
    assert result["dossiers"] == 1 and result["sent"] >= 1
    notice = StaffNotice.objects.get(user=org.leader, kind="due_soon")
    assert notice.title == f"Hồ sơ {dossier.code} sắp đến hạn trả kết quả"
    assert notice_due_soon.apply().result["dossiers"] == 0


# ---------------------------------------------------------------------------------------------
# The notices screens
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def notices(org, version):
    dossier = act(receive(org, version), "start", org.clerk)
    dossier_in(org, version, "in_progress")
    deliver()
    return dossier


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.django_db
def test_the_bell_shows_the_unread_count_and_the_staff_pages_load_it_lazily(client, org, notices):
    login(client, org.officer)
    page = client.get(reverse("staff-home"))
    assert b'hx-get="/staff/notices/chuong/"' in page.content
    bell = client.get(reverse("notice-bell"))
    assert bell.status_code == 200
    assert bell.context["unread"] == 2
    assert 'class="badge badge-late notice-count">2<' in bell.content.decode()
    assert 'hx-trigger="every 60s"' in bell.content.decode()


@pytest.mark.django_db
def test_the_list_shows_only_ones_own_notices(client, org, notices):
    login(client, org.officer)
    page = client.get(reverse("notice-list"))
    assert page.status_code == 200
    listed = list(page.context["page"].object_list)
    assert len(listed) == 2 and {n.user_id for n in listed} == {org.officer.pk}
    assert notices.code in page.content.decode()


@pytest.mark.django_db
def test_opening_a_notice_marks_it_read_and_goes_to_the_dossier(client, org, notices):
    login(client, org.officer)
    notice = StaffNotice.objects.filter(user=org.officer, dossier=notices).get()
    response = client.post(reverse("notice-open", args=[notice.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("dossier-page", args=[notices.code])
    notice.refresh_from_db()
    assert notice.read_at is not None
    assert client.get(reverse("notice-bell")).context["unread"] == 1
    assert len(client.get(reverse("notice-list") + "?chua-doc=1").context["page"].object_list) == 1


@pytest.mark.django_db
def test_nobody_opens_or_marks_another_persons_notice(client, org, notices):
    login(client, org.officer_b)
    notice = StaffNotice.objects.filter(user=org.officer).first()
    assert client.post(reverse("notice-open", args=[notice.pk])).status_code == 404
    client.post(reverse("notice-read-all"))
    assert StaffNotice.objects.filter(user=org.officer, read_at__isnull=True).count() == 2
    assert client.get(reverse("notice-open", args=[notice.pk])).status_code == 405


@pytest.mark.django_db
def test_mark_all_read(client, org, notices):
    login(client, org.officer2)
    response = client.post(reverse("notice-read-all"))
    assert response.status_code == 302
    assert not StaffNotice.objects.filter(user=org.officer2, read_at__isnull=True).exists()
    assert StaffNotice.objects.filter(user=org.officer, read_at__isnull=True).count() == 2


@pytest.mark.django_db
def test_the_notices_need_a_login(client):
    for name in ("notice-list", "notice-bell"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/staff/login/" in response["Location"]


@pytest.mark.django_db
def test_the_list_page_query_count_does_not_grow_with_notices(client, org, version, notices,
                                                              django_assert_max_num_queries):
    login(client, org.officer)
    with django_assert_max_num_queries(8):
        client.get(reverse("notice-list"))
    for _ in range(5):
        act(receive(org, version), "start", org.clerk)
    deliver()
    with django_assert_max_num_queries(8):
        page = client.get(reverse("notice-list"))
    assert len(page.context["page"].object_list) == 7
