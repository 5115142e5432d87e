"""Proof that a citizen may see a dossier: its code (or provisional code) and the phone number
given at submission. Wrong code and wrong phone look the same to the caller, and repeated
guessing locks the client (by IP address) and the code out for a while.

Used by the tracking page and API and by ratings; nothing else decides who may see a dossier
without an account."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Q

from dossiers.models import Dossier
from dossiers.validators import clean_phone

MAX_FAILURES = getattr(settings, "PUBLIC_PROOF_MAX_FAILURES", 5)
LOCK_SECONDS = getattr(settings, "PUBLIC_PROOF_LOCK_SECONDS", 15 * 60)


def normalise_code(code) -> str:
    return (code if isinstance(code, str) else "").strip().upper()[:64]


def _keys(ip: str, code: str) -> list[str]:
    return [f"proof-fail:ip:{ip}", f"proof-fail:code:{code}"]


def proof_locked(*, ip: str, code: str) -> bool:
    """True while the client or the code has failed too often (checked before any lookup)."""
    counts = cache.get_many(_keys(ip, normalise_code(code)))
    return any(n >= MAX_FAILURES for n in counts.values())


def _failed(ip: str, code: str) -> None:
    for key in _keys(ip, code):
        if cache.add(key, 1, LOCK_SECONDS):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, LOCK_SECONDS)


def dossier_by_proof(*, code, phone, ip: str) -> Dossier | None:
    """The dossier whose code (or provisional code) and phone both match, else ``None`` — the
    same ``None`` for an unknown code, a wrong phone, a malformed input and a locked-out client.
    A failure counts towards the lock-out of the client and of the code."""
    code = normalise_code(code)
    if not code or proof_locked(ip=ip, code=code):
        return None
    try:
        number = clean_phone(phone)
    except ValidationError:
        number = None
    found = None
    if number:
        found = Dossier.objects.filter(
            Q(code=code) | Q(provisional_code=code), applicant_phone=number
        ).order_by().first()
    if found is None:
        _failed(ip, code)
    return found
