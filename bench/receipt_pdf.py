#!/usr/bin/env python
"""Median render time of the receipt (Mẫu 01) PDF.

    .venv/bin/python bench/receipt_pdf.py [--renders 50] [--warmup 5] [--json FILE]

Builds the sample province of scripts/make_pdf_samples.py in a throwaway test database,
receives one dossier at the desk (four documents), then renders its receipt ``--warmup``
times (fonts, templates and the stylesheet get cached) and ``--renders`` times more, timing
each. Two figures: ``render`` — ``render_dossier_document`` on the dossier as the view holds
it (``selectors.dossier_get`` with its prefetches: context, QR code, HTML, layout, PDF with
font subsets) and ``view`` — the same plus ``dossier_get`` (what a request to
``/staff/dossiers/<code>/documents/receipt.pdf`` costs besides authentication). Prints the
medians and p95s; target: render median under 300 ms. Exits 1 when the target is missed.
"""

from __future__ import annotations

import os
import sys

# bench/ holds a calendar.py that would shadow the standard library's calendar module: drop
# this folder from the path before anything imports it, and put the project's root there.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(_HERE).parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motcua.settings")

TARGET_MS = 300.0


def _samples_module():
    spec = importlib.util.spec_from_file_location(
        "make_pdf_samples", ROOT / "scripts" / "make_pdf_samples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()

    samples = _samples_module()
    with samples.throwaway_database():
        import time_machine

        from dossiers.documents import render_dossier_document
        from dossiers.selectors import dossier_get
        from dossiers.services import dossier_receive_at_desk

        org = samples.build_org()
        architect, _birth = samples.build_procedures(org)
        with time_machine.travel(samples.at(24, 9, 15), tick=False):
            received = dossier_receive_at_desk(
                procedure_version=architect, channel="in_person",
                applicant=samples.APPLICANT, actor=org.clerk,
            )
        dossier = dossier_get(code=received.code, user=org.clerk)

        size = 0
        for _ in range(args.warmup):
            size = len(render_dossier_document(dossier=dossier, kind="receipt"))

        render_ms, view_ms = [], []
        for _ in range(args.renders):
            start = time.perf_counter()
            render_dossier_document(dossier=dossier, kind="receipt")
            render_ms.append((time.perf_counter() - start) * 1000)
        for _ in range(args.renders):
            start = time.perf_counter()
            fresh = dossier_get(code=received.code, user=org.clerk)
            render_dossier_document(dossier=fresh, kind="receipt")
            view_ms.append((time.perf_counter() - start) * 1000)

    median = statistics.median(render_ms)
    print(f"receipt PDF ({size / 1024:.0f} KiB), {args.renders} renders after "
          f"{args.warmup} warm-up:")
    print(f"  render: median {median:.1f} ms, p95 {_p95(render_ms):.1f} ms, "
          f"min {min(render_ms):.1f} ms")
    print(f"  view (dossier_get + render): median {statistics.median(view_ms):.1f} ms, "
          f"p95 {_p95(view_ms):.1f} ms")
    ok = median < TARGET_MS
    print(f"  target: median < {TARGET_MS:.0f} ms — {'met' if ok else 'MISSED'}")
    from motcua.pdf import font_subsetter

    subsetter = font_subsetter()
    print(f"  fonts subset by {subsetter}")
    if args.json:
        def figures(values: list[float]) -> dict[str, float]:
            return {"n": len(values), "median": statistics.median(values), "p95": _p95(values),
                    "min": min(values), "max": max(values)}

        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({
                "benchmark": "receipt_pdf", "bytes": size, "warmup": args.warmup,
                "render_ms": figures(render_ms), "view_ms": figures(view_ms),
                "targets": {"render_median_ms": TARGET_MS}, "passed": ok,
                "subsetter": subsetter,
            }, handle, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
