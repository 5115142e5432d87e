"""Proof that a citizen may see a dossier: its code (or provisional code) and the phone number
given at submission. Wrong code and wrong phone look the same to the caller, and repeated
guessing locks the client (by IP address), the code and the phone number out for a while.

Used by the tracking page and API and by ratings; nothing else decides who may see a dossier
without an account.

The rules (docs/citizen-portal.md, "Tracking"):

- one answer for everything that is not a match — an unknown code, a wrong phone, a malformed
  code or phone, a locked-out client or code: ``None`` (the callers say 404 / one generic
  message), and the same single query for a wrong code as for a wrong phone;
- every failure counts against the client's IP address, the code and the phone number (each
  in its own counter, for ``PUBLIC_PROOF_LOCK_SECONDS``, 15 minutes by default). The client
  is locked after ``PUBLIC_PROOF_MAX_FAILURES`` failures (5), a code or a phone number after
  ``PUBLIC_PROOF_TARGET_MAX_FAILURES`` (10: guessing spread over many addresses). While
  locked, even the right pair gets ``None``: a lock-out must not tell a guesser on another
  address that he has just found the pair;
- a rating kiosk at the desk is one address for every citizen who uses it: the addresses in
  ``PUBLIC_KIOSK_ADDRESSES`` (IPs or small networks) are locked only after
  ``PUBLIC_PROOF_KIOSK_MAX_FAILURES`` misses (50), so that a few people's slips do not lock the
  kiosk for the next ones. The code and phone limits stay the same for them: a guesser at the
  kiosk still locks the dossier he is trying;
- a success clears nothing: otherwise anyone could reset his counter with his own dossier
  between guesses;
- the counters live in the cache shared by every web process (Redis in production), under
  keys that hold no personal data (HMAC of the code, phone and address).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet

from dossiers.models import Dossier
from dossiers.validators import clean_phone
from motcua.errors import ValidationError

__all__ = [
    "CODE_MAX_LENGTH",
    "client_ip",
    "code_is_well_formed",
    "dossier_by_proof",
    "is_kiosk",
    "lock_minutes",
    "max_failures",
    "normalise_code",
    "proof_cache_key",
    "proof_locked",
]

T = TypeVar("T")

CODE_MAX_LENGTH = 64
#: Official codes (``000.00.00.H30-251123-0007``) and provisional ones (``TT-251123-AB3D5F7H``):
#: letters, digits, dots and hyphens. Anything else cannot be a code, whatever the database holds.
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9.\-]*$")
_SPACES = re.compile(r"\s+")


def max_failures(ip: str | None = None) -> int:
    """How many misses lock the client at ``ip`` out (for the messages too): a kiosk's
    allowance for a kiosk address, else the usual one (also without an address)."""
    if ip and is_kiosk(ip):
        return int(getattr(settings, "PUBLIC_PROOF_KIOSK_MAX_FAILURES", 50))
    return int(getattr(settings, "PUBLIC_PROOF_MAX_FAILURES", 5))


def is_kiosk(ip: str) -> bool:
    """``ip`` is one of the desk's kiosks (``PUBLIC_KIOSK_ADDRESSES``: addresses or networks,
    a list or one comma-separated string). An IPv4 address written as IPv6 (``::ffff:a.b.c.d``,
    as a dual-stack server may see it) is the IPv4 address. Anything unreadable is no kiosk."""
    configured = getattr(settings, "PUBLIC_KIOSK_ADDRESSES", None)
    if not configured or not ip:
        return False
    if isinstance(configured, str):
        configured = configured.split(",")
    networks = _networks(tuple(configured))
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return any(address in network for network in networks)


@lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    # Checked at start by the settings; here an unreadable entry (a test's override) is skipped
    # rather than failing a citizen's request.
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            continue
    return tuple(out)


def _target_max_failures() -> int:
    return int(getattr(settings, "PUBLIC_PROOF_TARGET_MAX_FAILURES", 10))


def _lock_seconds() -> int:
    return int(getattr(settings, "PUBLIC_PROOF_LOCK_SECONDS", 15 * 60))


def lock_minutes() -> int:
    """How long a lock-out lasts, in whole minutes (for the messages)."""
    return max(1, -(-_lock_seconds() // 60))


def normalise_code(code) -> str:
    """The code as stored: spaces removed (people copy ``000.00.00.H30 - 251123 - 0007``),
    upper case. Not validated (see :func:`code_is_well_formed`)."""
    return _SPACES.sub("", code if isinstance(code, str) else "").upper()


def code_is_well_formed(code: str) -> bool:
    """``code`` (normalised) could be a dossier code: 1–64 letters, digits, dots, hyphens."""
    return 0 < len(code) <= CODE_MAX_LENGTH and bool(_CODE.match(code))


def client_ip(request) -> str:
    """The client's address: ``REMOTE_ADDR``; behind ``REST_FRAMEWORK["NUM_PROXIES"]`` = n > 0
    proxies, the address the first of them saw (n-th from the right of X-Forwarded-For).
    Unlike DRF's default (``NUM_PROXIES`` unset), X-Forwarded-For is never believed without
    proxies: anyone can send it, and each invented address would get a fresh allowance."""
    from rest_framework.settings import api_settings

    remote = request.META.get("REMOTE_ADDR") or ""
    proxies = api_settings.NUM_PROXIES or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote


def proof_cache_key(kind: str, value: str) -> str:
    """A cache key for ``value`` (an address, a code, a phone) that does not hold it."""
    mac = hmac.new(settings.SECRET_KEY.encode(), f"{kind}:{value}".encode(), hashlib.sha256)
    return f"proof:{kind}:{mac.hexdigest()[:32]}"


def _digest(kind: str, value: str) -> str:
    return proof_cache_key(f"fail:{kind}", value)


def _keys(*, ip: str, code: str, phone: str | None) -> dict[str, int]:
    """Counter key → its limit."""
    keys = {_digest("ip", ip or "-"): max_failures(ip)}
    if code:
        keys[_digest("code", code)] = _target_max_failures()
    if phone:
        keys[_digest("phone", phone)] = _target_max_failures()
    return keys


def _clean_phone(phone) -> str | None:
    try:
        return clean_phone(phone)
    except (ValidationError, DjangoValidationError):
        return None


def proof_locked(*, ip: str, code="", phone=None) -> bool:
    """True while the client, the code or the phone number has failed too often (checked
    before any lookup). One cache round trip."""
    number = _clean_phone(phone) if phone else None
    return _locked(_keys(ip=ip, code=normalise_code(code), phone=number))


def _locked(keys: dict[str, int]) -> bool:
    counts = cache.get_many(list(keys))
    return any(int(n) >= keys[key] for key, n in counts.items())


def _failed(keys: dict[str, int]) -> None:
    seconds = _lock_seconds()
    for key, limit in keys.items():
        if cache.add(key, 1, seconds):
            continue
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, seconds)
            continue
        if count == limit:
            # Locked from now on for the whole period, not just what is left of the window
            # that the first failure opened.
            cache.touch(key, seconds)


def dossier_by_proof(
    *, code, phone, ip: str, queryset: QuerySet[Dossier] | None = None,
    lookup: Callable[[str, str], T | None] | None = None,
) -> Dossier | T | None:
    """The dossier whose code (or provisional code) and phone both match, else ``None`` — the
    same ``None`` for an unknown code, a wrong phone, a malformed input and a locked-out
    client, code or phone. A failure counts towards the lock-out of all three; a success
    clears nothing. ``queryset``: where to look (to ``select_related`` what the caller shows,
    in the same single query); the dossiers by default. ``lookup(code, phone)``: the caller's
    own single query instead (both arguments clean; it must match the code or the provisional
    code *and* the phone, and return ``None`` otherwise) — its answer is returned."""
    code = normalise_code(code)
    number = _clean_phone(phone)
    well_formed = code_is_well_formed(code)
    keys = _keys(ip=ip, code=code if well_formed else "", phone=number)
    if _locked(keys):
        return None
    found = None
    if well_formed and number and lookup is not None:
        found = lookup(code, number)
    elif well_formed and number:
        qs = Dossier.objects.all() if queryset is None else queryset
        found = (
            qs.filter(Q(code=code) | Q(provisional_code=code), applicant_phone=number)
            .order_by()
            .first()
        )
    if found is None:
        _failed(keys)
    return found
