import logging
import time
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation import gettext

from motcua.logging import accept_request_id, bind_request_id, unbind_request_id

access_logger = logging.getLogger("motcua.request")


class ChosenLanguageMiddleware(LocaleMiddleware):
    """Vietnamese unless the person chose another language with the switch (its cookie).

    Django's own middleware also follows the browser's Accept-Language, but many staff run
    English-language browsers and should still see the Vietnamese system by default.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        supported = {code for code, _name in settings.LANGUAGES}
        language = chosen if chosen in supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


class RequestIdMiddleware:
    """Gives each request an id and writes one access-log line for it (logger ``motcua.request``).

    An incoming ``X-Request-ID`` (from the proxy in front, or a client retrying) is kept when it
    is at most 64 characters of ``[A-Za-z0-9._-]``; otherwise a new id is made. The id is on
    ``request.request_id``, on every log record written while the request runs, in the tasks it
    enqueues, and echoed in the response's ``X-Request-ID`` header.
    """

    #: The orchestrator's probes would drown the log: their lines are DEBUG.
    QUIET_PATHS = ("/health/",)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = accept_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        token = bind_request_id(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            self.log(request, response.status_code, time.perf_counter() - started)
            return response
        finally:
            unbind_request_id(token)

    def log(self, request, status: int, seconds: float) -> None:
        if status >= 500:
            level = logging.WARNING
        elif request.path in self.QUIET_PATHS:
            level = logging.DEBUG
        else:
            level = logging.INFO
        if not access_logger.isEnabledFor(level):
            return
        try:
            user = getattr(request, "user", None)
            user_id = user.pk if user is not None and user.is_authenticated else None
        except Exception:  # the session store is down: the line is still worth writing
            user_id = None
        duration_ms = round(seconds * 1000, 1)
        access_logger.log(
            level, "%s %s %s %.1fms", request.method, request.path, status, duration_ms,
            extra={"method": request.method, "path": request.path, "status": status,
                   "duration_ms": duration_ms, "user_id": user_id},
        )


class RefuseNulMiddleware:
    """A NUL byte never belongs in a path or a query string, and PostgreSQL can neither store
    nor compare one: refuse it at the door (400) rather than fail deep in a query (500)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or b"\x00" in unquote_to_bytes(raw):
            message = gettext("Yêu cầu chứa ký tự không hợp lệ.")
            if request.path.startswith("/api/"):  # the API's own error format
                return JsonResponse({"code": "invalid_character", "detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
