"""Who sees what: visibility (404 beyond it) and the work queues of clerks, officers and
leaders; the state graph drawn from the code; the citizen directory adapter."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

from pathlib import Path

import pytest

from dossiers import permissions, selectors
from dossiers.models import Dossier
from dossiers.validators import clean_applicant
from motcua.integrations.citizens import CitizenDirectory
from motcua.models import Role, StaffRole
from tests.dossier_factories import dossier_in, frozen, org, version  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def codes(qs) -> set[str]:
    return set(qs.values_list("code", flat=True))


@pytest.fixture
def dossiers(org, version, frozen):
    return {state: dossier_in(org, version, state) for state in (
        "submitted", "received", "in_progress", "supplement_requested", "awaiting_approval",
        "result_ready", "returned",
    )}


@pytest.mark.django_db
class TestQueues:
    def test_officer_sees_the_dossiers_at_their_step(self, org, dossiers):
        # A received dossier waits for the officers of its first processing step to start it.
        assert codes(selectors.dossier_queue(user=org.officer)) == {
            dossiers["received"].code, dossiers["in_progress"].code,
            dossiers["supplement_requested"].code,
        }

    def test_officer_of_another_unit_sees_nothing_of_this_unit(self, org, dossiers):
        assert codes(selectors.dossier_queue(user=org.officer_b)) == set()
        assert codes(selectors.dossier_visible_to(org.officer_b)) == set()
        assert codes(selectors.dossier_search(user=org.officer_b, filters={"q": "Nguyễn"})) == set()

    def test_leader_sees_what_awaits_approval(self, org, dossiers):
        assert codes(selectors.dossier_queue(user=org.leader)) == {dossiers["awaiting_approval"].code}

    def test_leader_sees_what_to_assign(self, org, dossiers):
        queue = selectors.dossier_queue(user=org.leader, filters={"to_assign": True})
        assert codes(queue) == {dossiers["in_progress"].code, dossiers["supplement_requested"].code}
        assert codes(selectors.dossier_queue(user=org.leader_b, filters={"to_assign": True})) == set()
        assert codes(selectors.dossier_queue(user=org.officer, filters={"to_assign": True})) == set()

    def test_the_desk_sees_its_work(self, org, dossiers):
        expected = {dossiers[s].code for s in (
            "submitted", "received", "supplement_requested", "result_ready",
        )}
        assert codes(selectors.dossier_queue(user=org.clerk)) == expected
        assert codes(selectors.dossier_queue(user=org.center_clerk)) == expected
        assert codes(selectors.dossier_queue(user=org.clerk_b)) == set()

    def test_queue_is_ordered_by_appointment_and_filters_apply(self, org, version, dossiers, frozen):
        from datetime import timedelta

        frozen.shift(timedelta(days=1))
        later = dossier_in(org, version, "in_progress")
        queue = list(selectors.dossier_queue(user=org.officer, filters={"state": "in_progress"}))
        assert queue == [Dossier.objects.get(pk=dossiers["in_progress"].pk), later]
        Dossier.objects.filter(pk=later.pk).update(is_due_soon=True)
        assert codes(selectors.dossier_queue(user=org.officer, filters={"due_soon": True})) == {later.code}

    def test_closed_dossiers_leave_every_queue(self, org, dossiers):
        returned = dossiers["returned"].code
        for user in (org.clerk, org.officer, org.leader, org.superuser):
            assert returned not in codes(selectors.dossier_queue(user=user))
        assert returned in codes(selectors.dossier_visible_to(org.clerk))

    def test_queue_query_count_is_constant(self, org, version, dossiers, django_assert_max_num_queries):
        from django.contrib.auth import get_user_model

        officer = get_user_model().objects.get(pk=org.officer.pk)
        with django_assert_max_num_queries(2):  # roles once, then the page
            rows = list(selectors.dossier_queue(user=officer))
            for dossier in rows:
                _ = (dossier.procedure_version.procedure.code, dossier.agency.code,
                     dossier.current_unit.name, dossier.current_handler)


@pytest.mark.django_db
class TestVisibility:
    def test_supervisors_and_superusers_see_everything(self, org, dossiers):
        supervisor = StaffRole.objects.create(
            user=org.admin, unit=org.units_b["LD"], role=Role.SUPERVISOR
        ).user
        permissions.forget(supervisor)
        assert selectors.dossier_visible_to(supervisor).count() == len(dossiers)
        assert selectors.dossier_visible_to(org.superuser).count() == len(dossiers)

    def test_catalogue_admin_and_anonymous_see_nothing(self, org, dossiers):
        from django.contrib.auth.models import AnonymousUser

        assert selectors.dossier_visible_to(org.admin).count() == 0
        assert selectors.dossier_visible_to(AnonymousUser()).count() == 0

    def test_officers_see_the_dossiers_their_unit_works_on_not_the_online_ones(self, org, dossiers):
        visible = codes(selectors.dossier_visible_to(org.officer))
        assert dossiers["submitted"].code not in visible
        assert dossiers["received"].code in visible and dossiers["returned"].code in visible

    def test_get_answers_404_for_what_the_user_may_not_see(self, org, dossiers):
        from django.http import Http404

        code = dossiers["received"].code
        assert selectors.dossier_get(code=code, user=org.clerk).code == code
        with pytest.raises(Http404):
            selectors.dossier_get(code=code, user=org.officer_b)
        with pytest.raises(Http404):
            selectors.dossier_get(code="nope", user=org.superuser)

    def test_timeline_in_order(self, org, dossiers):
        events = list(selectors.dossier_timeline(dossiers["result_ready"]))
        assert [e.transition for e in events] == [
            "receive", "start", "forward", "submit_for_approval", "approve",
        ]


def test_state_graph_in_docs_is_drawn_from_the_code():
    from dossiers.management.commands.graph_dossier_states import dossier_states_dot, refresh_doc

    dot = dossier_states_dot()
    assert (ROOT / "docs" / "dossier-states.dot").read_text(encoding="utf-8") == dot, (
        "run: python manage.py graph_dossier_states"
    )
    page = (ROOT / "docs" / "dossier-lifecycle.md").read_text(encoding="utf-8")
    assert refresh_doc(page) == page, "run: python manage.py graph_dossier_states"
    assert "submitted -> refused" in dot and "awaiting_approval -> in_progress" in dot
    assert 'returned [label="returned\\nĐã trả kết quả", peripheries=2]' in dot


def test_demo_citizen_directory():
    from motcua.integrations.citizens import citizen_lookup, get_citizen_directory

    directory = get_citizen_directory()
    people = list(directory.people.values())
    assert len(people) >= 10
    found = citizen_lookup("089 085 000 123")
    assert found.full_name == "Nguyễn Văn An"
    assert citizen_lookup("089085000124") is None
    assert citizen_lookup("12345") is None
    for person in people:  # every sample fills a valid applicant form
        assert clean_applicant(person.as_applicant()).id_number == person.id_number


def test_citizen_directory_is_configurable(settings):
    from motcua.integrations.citizens import get_citizen_directory

    settings.MOTCUA_CITIZEN_DIRECTORY = "tests.test_dossier_permissions.EmptyDirectory"
    assert isinstance(get_citizen_directory(), EmptyDirectory)
    assert issubclass(EmptyDirectory, CitizenDirectory)


class EmptyDirectory(CitizenDirectory):
    """A directory that knows nobody (a stand-in for a real adapter)."""

    def lookup(self, id_number):
        return None
