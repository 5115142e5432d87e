"""bench/run: the rows built from each benchmark's JSON, failures as rows, the comparison with
earlier runs, the markdown, and the harness end to end on two tiny fake benchmarks (no real
benchmark runs here)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load():
    loader = importlib.machinery.SourceFileLoader("bench_run", str(ROOT / "bench" / "run"))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


run = _load()
Row, Outcome = run.Row, run.Outcome

CALENDAR = {"benchmark": "calendar", "ours_rate": 300_000.0, "naive_rate": 20_000.0,
            "ratio": 15.0, "disagreements": 0, "overrides": 0, "targets": {"ratio": 10.0},
            "by_unit": {"calendar_days": {"ours_rate": 9.0, "naive_rate": 3.0, "ratio": 3.0},
                        "working_days": {"ours_rate": 8.0, "naive_rate": 2.0, "ratio": 4.0}}}
RECEIPT = {"benchmark": "receipt_pdf", "render_ms": {"median": 240.0, "p95": 400.0},
           "view_ms": {"median": 260.0, "p95": 420.0}, "targets": {"render_median_ms": 300.0}}


def outcome(name: str, figures: dict | None, exit_code: int | None = 0, **kw) -> Outcome:
    return Outcome(name=name, exit_code=exit_code, seconds=12.0, command=["x"],
                   figures=figures, **kw)


def by_figure(rows) -> dict[str, Row]:
    return {r.figure: r for r in rows}


def past_run(run_id: str, rows: list[Row], *, quick: bool = False) -> dict:
    from dataclasses import asdict

    return {"run": {"id": run_id, "quick": quick}, "rows": [asdict(r) for r in rows]}


# --- rows of each benchmark --------------------------------------------------------------------


def test_calendar_speed_up_row_passes_at_ten_times_and_fails_below():
    rows = run.rows_calendar(CALENDAR)
    main = rows[0]
    assert (main.value, main.baseline, main.ratio, main.target, main.passed) == (
        300_000.0, 20_000.0, 15.0, "≥ 10×", True)
    assert [r.figure for r in rows[1:3]] == ["working_days: calls/s vs the loop",
                                             "calendar_days: calls/s vs the loop"]
    assert run.rows_calendar({**CALENDAR, "ratio": 9.9})[0].passed is False


def test_calendar_disagreements_fail_unless_admin_overrides_explain_them():
    assert by_figure(run.rows_calendar({**CALENDAR, "disagreements": 3}))[
        "results differing from the loop"].passed is False
    tolerated = by_figure(run.rows_calendar({**CALENDAR, "disagreements": 3, "overrides": 2}))
    assert tolerated["results differing from the loop"].passed is None


def test_receipt_pdf_has_a_target_on_the_render_median_only():
    render, view = run.rows_receipt_pdf(RECEIPT)
    assert (render.value, render.passed, render.better) == (240.0, True, "lower")
    assert view.passed is None
    assert run.rows_receipt_pdf({**RECEIPT, "render_ms": {"median": 300.0, "p95": 1}})[
        0].passed is False


def test_seed_bulk_rows_check_the_ratio_and_the_rate():
    data = {"dossiers": 200_000, "seed_bulk": {"seconds": 3.0}, "baseline": {"seconds": 2.5},
            "ratio": 1.2, "rate": 66_000.0, "targets": {"ratio": 1.3, "rate": 50_000}}
    ratio, rate = run.rows_seed_bulk(data)
    assert (ratio.ratio, ratio.passed, rate.passed) == (1.2, True, True)
    ratio, rate = run.rows_seed_bulk({**data, "ratio": 1.31, "rate": 49_999.0})
    assert (ratio.passed, rate.passed) == (False, False)


def test_reception_and_tracking_shares_and_errors():
    reception = {"reception_rps": 60.0, "minimal_rps": 100.0, "share": 0.6, "errors": 0,
                 "pdf": {"render": {"median": 310.0}},
                 "targets": {"share": 0.5, "pdf_median_ms": 300.0}}
    rows = by_figure(run.rows_reception(reception))
    share = rows["POST /api/v1/dossiers/ req/s vs the minimal endpoint"]
    assert (share.passed, run.fmt_ratio(share), share.target) == (True, "60%", "≥ 50%")
    assert rows["receipt PDF render, median"].passed is False
    tracking = {"dossiers": 1_000_000, "track_rps": 50.0, "pk_rps": 100.0, "share": 0.55,
                "errors": 2, "targets": {"share": 0.6}}
    share, errors = run.rows_tracking(tracking)
    assert (share.passed, errors.passed) == (False, False)


def test_report_rows_need_the_same_numbers_as_the_hand_written_sql():
    data = {"dossiers": 3_000_000,
            "summary_agency": {"orm_ms": 900.0, "sql_ms": 500.0, "ratio": 1.8,
                               "same_numbers": True},
            "summary_procedure": {"orm_ms": 1200.0, "sql_ms": 500.0, "ratio": 2.4,
                                  "same_numbers": False},
            "weekly": {"seconds": [12.0, 8.0], "week": "2026-W47"}}
    rows = run.rows_report(data)
    assert [r.passed for r in rows] == [True, True, False, False, True]
    assert rows[-1].value == 8.0


def test_queue_query_counts_must_not_differ_between_the_small_and_the_large_database():
    data = {"dossiers": 1_000_000, "overall": {"p95": 120.0, "median": 40.0},
            "queries": {"default": 9, "search": 11}, "queries_small": {"default": 9, "search": 11},
            "target_p95_ms": 150.0}
    p95, queries = run.rows_queue(data)
    assert (p95.passed, queries.passed, queries.ratio) == (True, True, 1.0)
    _p95, queries = run.rows_queue({**data, "queries": {"default": 9, "search": 12}})
    assert queries.passed is False and queries.note == "differ: search"


def test_sweep_separates_timing_targets_from_wrong_counts():
    data = {"dossiers": 1_000_000, "sweep_s": 9.0, "baseline_s": 3.0, "ratio": 3.0,
            "again_s": 0.5, "letters": 50_000,
            "targets": {"sweep_s": 15.0, "again_s": 2.0, "ratio": 5.0},
            "failures": ["sweep 16.00 s ≥ 15.0 s", "flags: 3 overdue, 0 due soon"]}
    rows = by_figure(run.rows_sweep(data))
    counts = rows["letters and flags as seeded"]
    assert (counts.value, counts.passed, counts.note) == (1, False, "flags: 3 overdue, 0 due soon")
    assert rows["second sweep (nothing to issue)"].passed is True


def test_figure_names_carry_no_sizes_so_runs_over_a_growing_database_compare():
    """reception adds dossiers to the queue's database at every run: 1,000,000 today,
    1,000,240 next time — still the same figures."""
    data = {"overall": {"p95": 120.0, "median": 40.0}, "queries": {"a": 9},
            "queries_small": {"a": 9}, "target_p95_ms": 150.0}
    before = run.rows_queue({**data, "dossiers": 1_000_000})
    after = run.rows_queue({**data, "dossiers": 1_000_240})
    assert [r.key for r in before] == [r.key for r in after]
    assert "1,000,240 dossiers" in after[0].note
    (now, _queries) = run.compare(after, [past_run("a", before)], quick=False)
    assert now.previous == 120.0


# --- failures are rows ---------------------------------------------------------------------------


def test_a_timed_out_benchmark_is_one_failed_row():
    (row,) = run.outcome_rows(outcome("queue", None, exit_code=None))
    assert (row.figure, row.passed, row.note) == ("timed out", False, "stopped after 12 s")


def test_a_crashed_benchmark_is_a_failed_row_with_its_last_line():
    (row,) = run.outcome_rows(outcome("report", None, exit_code=1,
                                      log_tail=["Traceback …", "OperationalError: no db"]))
    assert (row.figure, row.passed) == ("crashed", False)
    assert row.note == "exit code 1; OperationalError: no db"


def test_a_benchmark_exiting_zero_without_figures_fails():
    (row,) = run.outcome_rows(outcome("calendar", None, exit_code=0))
    assert (row.figure, row.passed) == ("wrote no figures", False)


def test_figures_of_an_unexpected_shape_fail_instead_of_stopping_the_run():
    (row,) = run.outcome_rows(outcome("calendar", {"ratio": 12.0}))
    assert row.figure == "figures unreadable" and row.passed is False
    assert "KeyError" in row.note


def test_a_non_zero_exit_with_every_target_met_adds_a_failed_exit_code_row():
    rows = run.outcome_rows(outcome("receipt_pdf", RECEIPT, exit_code=1, log_tail=["MISSED"]))
    assert rows[-1].figure == "exit code" and rows[-1].passed is False
    # When a figure already failed, the exit code says nothing more.
    slow = {**RECEIPT, "render_ms": {"median": 900.0, "p95": 1}}
    assert [r.figure for r in run.outcome_rows(outcome("receipt_pdf", slow, exit_code=1))] == [
        "receipt PDF render, median", "dossier_get + render, median"]


# --- comparison with earlier runs ----------------------------------------------------------------


def test_previous_is_the_newest_run_of_the_same_mode_having_the_figure():
    older = past_run("20261101T000000Z", run.rows_calendar({**CALENDAR, "ratio": 12.0}))
    quick = past_run("20261120T000000Z", run.rows_calendar({**CALENDAR, "ratio": 30.0}),
                     quick=True)
    newer_without = past_run("20261115T000000Z", run.rows_receipt_pdf(RECEIPT))
    rows = run.compare(run.rows_calendar(CALENDAR), [quick, newer_without, older], quick=False)
    assert rows[0].previous_run == "20261101T000000Z"
    assert rows[0].previous_ratio == 12.0
    assert rows[0].change == pytest.approx(15.0 / 12.0 - 1)
    assert rows[0].regression is False


def test_a_ratio_ten_percent_worse_is_a_regression_in_either_direction():
    faster = run.rows_calendar({**CALENDAR, "ratio": 20.0})
    (now,) = run.compare(run.rows_calendar(CALENDAR)[:1], [past_run("a", faster)], quick=False)
    assert now.regression is True  # speed-up fell from 20× to 15×

    def seconds(baseline: float, ratio: float, passed: bool | None = True) -> Row:
        return Row("seed_bulk", "x", 3.0, "s", baseline=baseline, ratio=ratio,
                   better="lower", passed=passed)

    before = [past_run("a", [seconds(2.0, 1.5)])]
    (now,) = run.compare([seconds(2.5, 1.2)], before, quick=False)
    assert (now.change, now.regression) == (pytest.approx(-0.2), False)
    (now,) = run.compare([seconds(2.0, 1.7)], before, quick=False)
    assert now.regression is True
    # A figure without a target is context: compared, never flagged.
    (now,) = run.compare([seconds(2.0, 1.7, passed=None)], before, quick=False)
    assert (now.change, now.regression) == (pytest.approx(1.7 / 1.5 - 1), False)


def test_without_a_ratio_the_values_are_compared():
    before = run.rows_receipt_pdf(RECEIPT)
    worse = {**RECEIPT, "render_ms": {"median": 280.0, "p95": 1}}
    render = run.compare(run.rows_receipt_pdf(worse), [past_run("a", before)], quick=False)[0]
    assert (render.previous, render.regression) == (240.0, True)
    assert run.fmt_previous(render) == "240 ms, +17% ⚠"


def test_no_earlier_run_leaves_previous_empty():
    rows = run.compare(run.rows_calendar(CALENDAR), [], quick=False)
    assert all(r.previous is None for r in rows)
    assert run.fmt_previous(rows[0]) == "—"


def test_load_runs_reads_newest_first_and_skips_broken_files_and_the_current_run(tmp_path):
    for stem in ("20261101T000000Z", "20261102T000000Z", "20261103T000000Z"):
        (tmp_path / f"{stem}.json").write_text(json.dumps({"run": {}, "rows": []}))
    (tmp_path / "20261104T000000Z.json").write_text("{not json")
    (tmp_path / "20261105T000000Z.json").write_text(json.dumps(["not", "a", "run"]))
    runs = run.load_runs(tmp_path, exclude="20261103T000000Z")
    assert [r["run"]["id"] for r in runs] == ["20261102T000000Z", "20261101T000000Z"]


# --- the table -----------------------------------------------------------------------------------


def test_markdown_has_one_row_per_figure_with_result_and_previous():
    rows = run.compare(run.outcome_rows(outcome("calendar", CALENDAR))
                       + run.outcome_rows(outcome("report", None, exit_code=1,
                                                  log_tail=["boom | here"])),
                       [past_run("20261101T000000Z", run.rows_calendar(CALENDAR))], quick=False)
    text = run.markdown({"run": {"id": "20261123T150000Z", "quick": False, "host": "vm"},
                         "benchmarks": {"report": {"exit_code": 1, "seconds": 3.0,
                                                   "command": ["python", "report.py"],
                                                   "log_tail": ["boom | here"]}}}, rows)
    lines = text.splitlines()
    assert lines[0] == "# Benchmarks 20261123T150000Z (full)"
    table = [line for line in lines if line.startswith("| calendar") or line.startswith("| report")]
    assert len(table) == len(rows) == 5
    assert ("| calendar | deadline() calls/s vs the day-by-day loop | 300,000 calls/s | "
            "20,000 calls/s | 15.00× | ≥ 10× | pass | 300,000 calls/s (15.00×), +0% "
            "`20261101T000000Z` |  |") in table
    assert "| report | crashed | — | — | — |  | **FAIL** | — | exit code 1; boom \\| here |" in table
    assert "### report (exit code 1, 3 s)" in text


@pytest.mark.parametrize(("value", "unit", "text"), [
    (None, "ms", "—"), (float("nan"), "", "—"), (0.0, "calls", "0 calls"),
    (1234567.8, "req/s", "1,234,568 req/s"), (42.25, "ms", "42.2 ms"), (3.14159, "s", "3.14 s"),
])
def test_numbers_are_formatted_for_reading(value, unit, text):
    assert run.fmt_number(value, unit) == text


# --- the command line and the harness -----------------------------------------------------------


def test_command_line_picks_benchmarks_and_refuses_unknown_ones(capsys):
    args = run.parse_args(["calendar", "receipt_pdf", "--quick", "--args",
                           'calendar=--calls 500 --seed "7"'])
    assert args.names == ["calendar", "receipt_pdf"] and args.quick
    assert args.extra == {"calendar": ["--calls", "500", "--seed", "7"]}
    with pytest.raises(SystemExit):
        run.parse_args(["nope"])
    assert "unknown benchmark(s): nope" in capsys.readouterr().err


def test_quick_passes_small_sizes_and_an_own_database_to_the_big_ones(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db:5432/x")
    command = run.command_for(run.BENCHMARKS["tracking"], "/tmp/f.json", quick=True)
    assert command[-2:] == ["--database-url", "postgres://u@db:5432/motcua_bench_track_quick"]
    assert "--dossiers" in command
    full = run.command_for(run.BENCHMARKS["tracking"], "/tmp/f.json", quick=False)
    assert full[1:] == [str(ROOT / "bench" / "tracking.py"), "--json", "/tmp/f.json"]


def test_run_ids_are_utc_stamps_made_unique(tmp_path):
    from datetime import UTC, datetime

    now = datetime(2026, 11, 23, 8, 5, 9, tzinfo=UTC)
    assert run.run_id(now, tmp_path) == "20261123T080509Z"
    (tmp_path / "20261123T080509Z.json").write_text("{}")
    assert run.run_id(now, tmp_path) == "20261123T080509Z-2"


def test_a_crash_does_not_stop_the_others_and_makes_the_exit_code_non_zero(
    tmp_path, monkeypatch, capsys
):
    """The harness for real, on two fake scripts: one writes its figures, one crashes."""
    scripts = tmp_path / "bench"
    scripts.mkdir()
    (scripts / "calendar.py").write_text(textwrap.dedent(f"""
        import json, sys
        path = sys.argv[sys.argv.index("--json") + 1]
        json.dump({CALENDAR!r}, open(path, "w"))
        print("calendar done")
    """))
    (scripts / "receipt_pdf.py").write_text("raise SystemExit('no fonts here')\n")
    monkeypatch.setattr(run, "HERE", scripts)
    monkeypatch.setattr(run, "PYTHON", Path(sys.executable))
    results = tmp_path / "results"

    assert run.main(["receipt_pdf", "calendar", "--results", str(results)]) == 1
    out = capsys.readouterr().out
    assert "  calendar| calendar done" in out
    (saved,) = results.glob("2*.json")
    data = json.loads(saved.read_text())
    assert data["benchmarks"]["receipt_pdf"]["exit_code"] == 1
    assert data["benchmarks"]["calendar"]["figures"]["ratio"] == 15.0
    assert [r["figure"] for r in data["rows"]][:2] == ["crashed", CALENDAR_FIRST]
    md = (results / f"{saved.stem}.md").read_text()
    assert md == (results / "latest.md").read_text()
    assert "no fonts here" in md

    # The next run of calendar alone passes and compares with the first.
    assert run.main(["calendar", "--results", str(results)]) == 0
    latest = (results / "latest.md").read_text()
    assert f"`{saved.stem}`" in latest


CALENDAR_FIRST = "deadline() calls/s vs the day-by-day loop"


def test_a_script_running_past_the_timeout_is_stopped_and_reported(tmp_path, monkeypatch):
    scripts = tmp_path / "bench"
    scripts.mkdir()
    (scripts / "queue.py").write_text(
        "import os, sys, time\n"
        f"open({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid()))\n"
        "print('loading 1,000,000 dossiers', flush=True)\n"
        "time.sleep(600)\n"
    )
    monkeypatch.setattr(run, "HERE", scripts)
    monkeypatch.setattr(run, "PYTHON", Path(sys.executable))
    lines = []
    outcome = run.run_one(run.BENCHMARKS["queue"], quick=False, timeout=1.5, echo=lines.append)
    assert outcome.exit_code is None and outcome.seconds < 300  # stopped, not run to its end
    assert lines[0] == "  queue| loading 1,000,000 dossiers"
    assert "KeyboardInterrupt" in lines[-1]  # Ctrl-C first: the script's cleanup runs
    with pytest.raises(ProcessLookupError):
        os.kill(int((tmp_path / "pid").read_text()), 0)
    (row,) = run.outcome_rows(outcome)
    assert (row.figure, row.passed) == ("timed out", False)
