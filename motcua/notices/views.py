"""Staff notices: the list page, the bell partial (htmx polls it), open and mark read."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from motcua.models import StaffNotice
from motcua.notices.services import notice_mark_read, notice_unread_count, notices_of

PAGE_SIZE = 30


@login_required
@require_safe
@never_cache
def notice_list(request):
    notices = notices_of(user=request.user)
    unread_only = request.GET.get("chua-doc") == "1"
    if unread_only:
        notices = notices.filter(read_at__isnull=True)
    page = Paginator(notices, PAGE_SIZE).get_page(request.GET.get("trang"))
    return render(request, "notices/list.html", {
        "page": page, "unread": notice_unread_count(user=request.user),
        "unread_only": unread_only,
    })


@login_required
@require_safe
@never_cache
def notice_bell(request):
    """The bell with the unread count (htmx swaps it in after the page loads, then every
    minute): the staff pages themselves do not pay a query for it."""
    return render(request, "notices/_bell.html", {
        "unread": notice_unread_count(user=request.user), "polling": True,
    })


@login_required
@require_POST
def notice_open(request, pk: int):
    notice = get_object_or_404(StaffNotice, pk=pk, user=request.user)
    notice_mark_read(user=request.user, notice_ids=[notice.pk])
    target = notice.url
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect("notice-list")
    return redirect(target)


@login_required
@require_POST
def notice_read_all(request):
    notice_mark_read(user=request.user)
    return redirect("notice-list")
