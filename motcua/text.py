"""Text helpers shared by every app."""

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold(text: str | None) -> str:
    """Lower-case, strip Vietnamese diacritics (đ → d) and collapse spaces, for search.

    "Cấp giấy phép  Xây dựng" → "cap giay phep xay dung".
    """
    if not text:
        return ""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped).strip().lower()


def person_name(user) -> str:
    """A person's name in Vietnamese order: family and middle names (``last_name``), then the
    given name (``first_name``) — the reverse of Django's ``get_full_name()``."""
    if not user:
        return ""
    parts = [(user.last_name or "").strip(), (user.first_name or "").strip()]
    return " ".join(p for p in parts if p) or user.get_username()
