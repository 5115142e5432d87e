"""One allowance per client address for rating, the pages and the API together: scope
``public_rating`` (``PUBLIC_RATING_THROTTLE_RATE``, 10/min by default), counted like tracking's
(``dossiers.public.tracking.TrackThrottle``: a fixed window in the shared cache, keyed by the
address as ``dossiers.public.proof.client_ip`` reads it — X-Forwarded-For is believed only
behind configured proxies)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from dossiers.public.tracking import TrackThrottle
from motcua.errors import DomainError


class RatingThrottle(TrackThrottle):
    scope = "public_rating"


class RatingThrottled(DomainError):
    code = "throttled"
    status = 429

    def __init__(self, wait: float | None):
        self.wait = max(1, int(wait or 60))
        minutes = max(1, -(-self.wait // 60))
        super().__init__(
            _("Ông/bà đã gửi quá nhiều lần. Vui lòng thử lại sau %(n)d phút.") % {"n": minutes}
        )


def check_rating_throttle(request) -> None:
    """Raise :class:`RatingThrottled` beyond the client's allowance (the pages' POSTs)."""
    throttle = RatingThrottle()
    if not throttle.allow_request(request, None):
        raise RatingThrottled(throttle.wait())
