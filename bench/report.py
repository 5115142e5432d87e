"""Reports at scale: the summary for one year by agency and by procedure over 3,000,000
dossiers, against a hand-written SQL ``GROUP BY`` giving the same numbers (same run, same
database), and the weekly report with its PDF and xlsx.

    .venv/bin/python bench/report.py [--dossiers 3000000] [--repeat 3] [--database-url URL]
                                     [--json FILE]

The database is ``motcua_bench_report`` (created, migrated and filled by ``seed_bulk`` when it
holds fewer dossiers; ratings of returned dossiers added by ``dossiers.bulk.seed_bulk_ratings``).
Targets: each summary within 2× of its hand-written SQL; the weekly report under 10 s.
Exits non-zero when a target is missed or the numbers differ.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import common

DEFAULT_DB = "motcua_bench_report"
RATIO_TARGET = 2.0
WEEKLY_TARGET_S = 10.0

#: The dossier figures the hand-written SQL computes, in its column order.
FIGURES = (
    "received", "received_in_person", "received_online", "received_post", "carried_over",
    "resolved_early", "resolved_on_time", "resolved_late", "pending_in_time", "pending_overdue",
    "supplements", "refusals", "withdrawals", "stops",
)

HAND_SQL = """
SELECT {key} AS k,
  count(*) FILTER (WHERE d.received_at >= %(s)s AND d.received_at < %(e)s),
  count(*) FILTER (WHERE d.received_at >= %(s)s AND d.received_at < %(e)s AND d.channel = 'in_person'),
  count(*) FILTER (WHERE d.received_at >= %(s)s AND d.received_at < %(e)s AND d.channel = 'online'),
  count(*) FILTER (WHERE d.received_at >= %(s)s AND d.received_at < %(e)s AND d.channel = 'post'),
  count(*) FILTER (WHERE d.received_at < %(s)s
                     AND (d.result_ready_at IS NULL OR d.result_ready_at >= %(s)s)
                     AND (d.closed_at IS NULL OR d.closed_at >= %(s)s)),
  count(*) FILTER (WHERE d.result_ready_at >= %(s)s AND d.result_ready_at < %(e)s
                     AND NOT (d.result_ready_at > d.due_at OR d.supplement_requests >= 2
                              OR a.dossier_id IS NOT NULL)
                     AND d.result_ready_at < date_trunc('day', d.due_at AT TIME ZONE %(tz)s)
                                             AT TIME ZONE %(tz)s),
  count(*) FILTER (WHERE d.result_ready_at >= %(s)s AND d.result_ready_at < %(e)s
                     AND NOT (d.result_ready_at > d.due_at OR d.supplement_requests >= 2
                              OR a.dossier_id IS NOT NULL)
                     AND d.result_ready_at >= date_trunc('day', d.due_at AT TIME ZONE %(tz)s)
                                              AT TIME ZONE %(tz)s),
  count(*) FILTER (WHERE d.result_ready_at >= %(s)s AND d.result_ready_at < %(e)s
                     AND (d.result_ready_at > d.due_at OR d.supplement_requests >= 2
                          OR a.dossier_id IS NOT NULL)),
  count(*) FILTER (WHERE d.received_at < %(asof)s
                     AND (d.result_ready_at IS NULL OR d.result_ready_at >= %(asof)s)
                     AND (d.closed_at IS NULL OR d.closed_at >= %(asof)s)
                     AND NOT ((d.due_at < %(asof)s AND NOT (d.state = 'supplement_requested'
                                                           AND d.paused_at < %(asof)s))
                              OR COALESCE(a.issued_at < %(asof)s, false))),
  count(*) FILTER (WHERE d.received_at < %(asof)s
                     AND (d.result_ready_at IS NULL OR d.result_ready_at >= %(asof)s)
                     AND (d.closed_at IS NULL OR d.closed_at >= %(asof)s)
                     AND ((d.due_at < %(asof)s AND NOT (d.state = 'supplement_requested'
                                                       AND d.paused_at < %(asof)s))
                          OR COALESCE(a.issued_at < %(asof)s, false))),
  count(*) FILTER (WHERE d.received_at >= %(s)s AND d.received_at < %(e)s
                     AND d.supplement_requests > 0),
  count(*) FILTER (WHERE d.closed_at >= %(s)s AND d.closed_at < %(e)s AND d.state = 'refused'),
  count(*) FILTER (WHERE d.closed_at >= %(s)s AND d.closed_at < %(e)s AND d.state = 'withdrawn'),
  count(*) FILTER (WHERE d.closed_at >= %(s)s AND d.closed_at < %(e)s AND d.state = 'stopped')
FROM dossiers_dossier d
{join}
LEFT JOIN dossiers_apology a ON a.dossier_id = d.id AND a.number = 1
WHERE (d.received_at < %(e)s AND (d.result_ready_at IS NULL OR d.result_ready_at >= %(s)s)
       AND (d.closed_at IS NULL OR d.closed_at >= %(s)s))
   OR (d.state = 'refused' AND d.closed_at >= %(s)s AND d.closed_at < %(e)s)
GROUP BY 1
"""
HAND_APOLOGIES = """
SELECT {key} AS k, count(*) FROM dossiers_apology ap JOIN dossiers_dossier d ON d.id = ap.dossier_id
{join} WHERE ap.issued_at >= %(s)s AND ap.issued_at < %(e)s GROUP BY 1
"""
HAND_RATINGS = """
SELECT {key} AS k, count(*),
       count(*) FILTER (WHERE r.overall IN ('very_satisfied', 'satisfied'))
FROM ratings_rating r JOIN dossiers_dossier d ON d.id = r.dossier_id
{join} WHERE r.created_at >= %(s)s AND r.created_at < %(e)s GROUP BY 1
"""
HAND_DISTINCT = """
SELECT {key} AS k, count(DISTINCT x.dossier_id) FROM {table} x
JOIN dossiers_dossier d ON d.id = x.dossier_id {join}
WHERE d.received_at >= %(s)s AND d.received_at < %(e)s {extra} GROUP BY 1
"""
SLICES = {
    "agency": ("d.agency_id", ""),
    "procedure": ("v.procedure_id",
                  "JOIN procedures_procedureversion v ON v.id = d.procedure_version_id"),
}


def hand_written(group_by: str, params: dict) -> dict:
    """The same figures by plain SQL: ``{key: {figure: n}}``."""
    from django.db import connection

    key, join = SLICES[group_by]
    with connection.cursor() as cur:
        out: dict = {}
        cur.execute(HAND_SQL.format(key=key, join=join), params)
        for row in cur.fetchall():
            out[row[0]] = dict(zip(FIGURES, row[1:], strict=True))
        cur.execute(HAND_APOLOGIES.format(key=key, join=join), params)
        for k, n in cur.fetchall():
            out.setdefault(k, {})["apologies"] = n
        cur.execute("SELECT to_regclass('payments_payment') IS NOT NULL")
        sources = [("digitised", "dossiers_attachment", "")]
        if cur.fetchone()[0]:
            sources.append(("paid_online", "payments_payment", "AND x.state = 'paid'"))
        for name, table, extra in sources:
            cur.execute(HAND_DISTINCT.format(key=key, join=join, table=table, extra=extra),
                        params)
            for k, n in cur.fetchall():
                out.setdefault(k, {})[name] = n
        cur.execute(HAND_RATINGS.format(key=key, join=join), params)
        for k, n, satisfied in cur.fetchall():
            out.setdefault(k, {}).update(ratings=n, satisfied_overall=satisfied)
    return out


def compare(summary, hand: dict) -> list[str]:
    """Differences between the selector's rows and the hand-written SQL's."""
    problems = []
    rows = {r["key"]: r for r in summary.rows}
    for k, figures in hand.items():
        if not any(figures.values()):
            continue
        row = rows.get(k)
        if row is None:
            problems.append(f"key {k}: missing from the summary")
            continue
        for name, value in figures.items():
            if row[name] != value:
                problems.append(f"key {k} {name}: summary {row[name]} ≠ SQL {value}")
    extra = set(rows) - set(hand)
    if extra:
        problems.append(f"keys only in the summary: {sorted(extra, key=str)[:5]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=3_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    url = args.database_url or common.with_database(
        common.database_url("postgres://postgres@127.0.0.1:5432/postgres"), DEFAULT_DB)
    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="bench-report-media-"))
    common.setup_django(url)
    common.ensure_demo()

    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from dossiers.bulk import seed_bulk, seed_bulk_ratings
    from reports.selectors import Period, report_summary
    from reports.services import previous_week, weekly_report_build

    have = common.dossier_count()
    if have < args.dossiers:
        print(f"seed_bulk: {have:,} → {args.dossiers:,} dossiers …", flush=True)
        seed_bulk(dossiers=args.dossiers - have, progress=lambda m: print(m, flush=True))
    with common.timer() as rated:
        added = seed_bulk_ratings()
    if added:
        print(f"ratings: {added:,} added in {rated():.1f} s", flush=True)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    n = common.dossier_count()

    today = timezone.localdate()
    period = Period(today - timedelta(days=364), today)
    now = timezone.now()
    params = {"s": period.start_at, "e": period.end_at, "asof": period.as_of(now),
              "tz": "Asia/Ho_Chi_Minh"}
    results = {"dossiers": n, "period": [period.start.isoformat(), period.end.isoformat()]}
    table = []
    ok = True
    for group_by in ("agency", "procedure"):
        orm_times, sql_times = [], []
        summary = hand = None
        for _round in range(args.repeat):  # alternate, so both see the same cache state
            t0 = time.perf_counter()
            summary = report_summary(period=period, group_by=group_by, now=now)
            orm_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            hand = hand_written(group_by, params)
            sql_times.append(time.perf_counter() - t0)
        problems = compare(summary, hand)
        orm, sql = statistics.median(orm_times), statistics.median(sql_times)
        ratio = orm / sql if sql else float("inf")
        passed = ratio <= RATIO_TARGET and not problems
        ok &= passed
        for line in problems[:10]:
            print("  DIFF", line)
        table.append([f"summary by {group_by} ({len(summary.rows)} rows)", orm * 1000,
                      sql * 1000, f"{ratio:.2f}×", "yes" if not problems else "NO",
                      "ok" if passed else "MISSED"])
        results[f"summary_{group_by}"] = {"orm_ms": orm * 1000, "sql_ms": sql * 1000,
                                          "ratio": ratio, "same_numbers": not problems,
                                          "totals": summary.totals}
    common.print_table(
        ["what", "selector ms (median)", "hand SQL ms (median)", "ratio", "same numbers",
         f"≤ {RATIO_TARGET:.0f}×"], table,
        title=f"Summary for {period.start:%d/%m/%Y}–{period.end:%d/%m/%Y} over {n:,} dossiers",
    )

    year, week = previous_week(today)
    weekly_times = []
    for _round in range(2):
        t0 = time.perf_counter()
        report = weekly_report_build(year=year, week=week, email=False)
        weekly_times.append(time.perf_counter() - t0)
    weekly = min(weekly_times)
    passed = weekly < WEEKLY_TARGET_S
    ok &= passed
    common.print_table(
        ["what", "seconds (best of 2)", "PDF bytes", "xlsx bytes", f"< {WEEKLY_TARGET_S:.0f} s"],
        [[f"weekly report {report.iso} (PDF + xlsx)", weekly, report.pdf.size,
          report.xlsx.size, "ok" if passed else "MISSED"]],
        title="Weekly report",
    )
    results["weekly"] = {"seconds": weekly_times, "week": report.iso}
    common.write_json(args.json, results)
    common.close_connections()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
