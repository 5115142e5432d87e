"""Official documents as PDF (WeasyPrint), set in the bundled Times-compatible serif font.

Templates live in templates/pdf/ and extend pdf/base.html, which carries the national motto
header of Circular 03/2025/TT-VPCP forms. Rendering is pure: same context, same document.
"""

from __future__ import annotations

import atexit
import base64
import ctypes.util
import functools
from pathlib import Path

import segno
from django.conf import settings
from django.core import checks
from django.template.loader import render_to_string

FONT_DIR = Path(settings.BASE_DIR) / "static" / "fonts"


def harfbuzz_subset_available() -> bool:
    """Whether WeasyPrint will find HarfBuzz-Subset (Debian: ``libharfbuzz-subset0``). Without
    it WeasyPrint subsets the embedded fonts with fontTools, in Python: the receipt of a
    dossier with twelve documents took 675 ms instead of 247 ms (bench/receipt_pdf.py)."""
    return ctypes.util.find_library("harfbuzz-subset") is not None


def font_subsetter() -> str:
    """Which library subsets the embedded fonts, for the benches' figures."""
    if harfbuzz_subset_available():
        return "HarfBuzz-Subset"
    return "fontTools (libharfbuzz-subset0 missing: slow)"


def check_pdf_libraries(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """System check (registered in ``MotcuaConfig.ready``): warn when PDFs will be slow."""
    if harfbuzz_subset_available():
        return []
    return [checks.Warning(
        "HarfBuzz-Subset is not installed: WeasyPrint subsets fonts with fontTools and every "
        "PDF (receipts, letters, reports) renders several times slower.",
        hint="Install libharfbuzz-subset0 (Debian) or harfbuzz (other systems).",
        id="motcua.W001",
    )]


@functools.cache
def _font_config():
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


# Drop the cached configuration while the interpreter is still whole: WeasyPrint's
# FontConfiguration.__del__ calls into modules that are gone at the very end of shutdown.
atexit.register(_font_config.cache_clear)


@functools.cache
def _stylesheet():
    from weasyprint import CSS

    faces = []
    for weight, style, name in (
        ("normal", "normal", "Regular"), ("bold", "normal", "Bold"),
        ("normal", "italic", "Italic"), ("bold", "italic", "BoldItalic"),
    ):
        path = (FONT_DIR / f"LiberationSerif-{name}.ttf").as_uri()
        faces.append(
            f'@font-face {{ font-family: "MC Serif"; src: url("{path}"); '
            f"font-weight: {weight}; font-style: {style}; }}"
        )
    return CSS(string="\n".join(faces), font_config=_font_config())


atexit.register(_stylesheet.cache_clear)  # runs before the font configuration's (LIFO)


@functools.lru_cache(maxsize=1024)
def qr_data_uri(text: str, *, scale: int = 3) -> str:
    """A QR code as an inline PNG data URI (no file, no network). Cached: a reprinted receipt
    does not encode its tracking link again."""
    png = segno.make(text, error="m").png_data_uri(scale=scale, border=1)
    return png


def render_pdf(template: str, context: dict) -> bytes:
    """Render a template of templates/pdf/ to PDF bytes."""
    from weasyprint import HTML

    html = render_to_string(template, context)
    document = HTML(string=html, base_url=str(settings.BASE_DIR))
    return document.write_pdf(stylesheets=[_stylesheet()], font_config=_font_config())


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()
