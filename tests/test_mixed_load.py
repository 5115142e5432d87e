"""bench/mixed_load.py and its locustfile, without starting any server: the argument parsing,
the figures and verdicts computed from samples, and the locustfile's user classes (imported in
a child process: importing locust monkey-patches the standard library with gevent, which this
test process must not get)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("bench_mixed_load", BENCH / "mixed_load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_quick_mode_runs_thirty_seconds_with_a_tenth_of_the_users(runner):
    args = runner.parse_args(["--quick"])
    assert args.duration == 30
    assert args.scale == 0.1
    assert args.think == 0.25
    assert runner.user_count(args.scale) == 76


def test_full_mode_runs_the_issue_mix_for_five_minutes(runner):
    args = runner.parse_args([])
    assert args.duration == 300
    assert runner.user_count(args.scale) == 760
    assert runner.USERS == {"clerks": 60, "officers": 200, "citizens": 500}


def test_quick_keeps_an_explicit_duration(runner):
    assert runner.parse_args(["--quick", "--duration", "12"]).duration == 12


def _rows(name, times_ms, *, start=1000.0, ok=True):
    return [(start + i * 0.1, name, ms, 200 if ok else 500, ok) for i, ms in enumerate(times_ms)]


def test_action_table_gives_percentiles_rates_and_errors_per_action(runner):
    rows = (_rows("officer: queue page", list(range(1, 101)))
            + _rows("citizen: track (API)", [5.0] * 50)
            + _rows("clerk: receive (API)", [40.0, 50.0], ok=False))
    table = runner.action_table(rows, since=1000.0, until=1010.0)
    queue = table["actions"]["officer: queue page"]
    assert queue["requests"] == 100
    assert queue["rps"] == pytest.approx(10.0)
    assert queue["p50"] == pytest.approx(50.5)
    assert queue["p95"] == pytest.approx(95.05)
    assert queue["staff"] is True
    assert table["actions"]["citizen: track (API)"]["staff"] is False
    assert table["actions"]["clerk: receive (API)"]["errors"] == 2
    assert table["totals"]["requests"] == 152
    assert table["totals"]["errors"] == 2
    # clerks first, then officers, then citizens
    assert list(table["actions"]) == ["clerk: receive (API)", "officer: queue page",
                                      "citizen: track (API)"]


def test_action_table_leaves_out_the_ramp(runner):
    rows = _rows("officer: queue page", [900.0] * 10, start=990.0) + _rows(
        "officer: queue page", [10.0] * 10, start=1000.0)
    table = runner.action_table(rows, since=1000.0)
    assert table["actions"]["officer: queue page"]["requests"] == 10
    assert table["actions"]["officer: queue page"]["max"] == 10.0


def test_verdict_fails_on_a_slow_staff_action_but_not_on_a_slow_citizen_one(runner):
    rows = _rows("officer: dossier page", [100.0] * 100) + _rows("citizen: track page (answer)",
                                                                 [900.0] * 100)
    verdict = runner.judge(runner.action_table(rows), {})
    assert verdict["passed"] is True
    rows += _rows("clerk: desk page", [350.0] * 100)
    verdict = runner.judge(runner.action_table(rows), {})
    assert verdict["passed"] is False
    assert verdict["slow"] == {"clerk: desk page": 350.0}


def test_verdict_fails_on_any_error(runner):
    rows = _rows("officer: dossier page", [10.0] * 10) + _rows("citizen: track (API)", [1.0],
                                                               ok=False)
    assert runner.judge(runner.action_table(rows), {})["passed"] is False


def _samples(values_kb, name="gunicorn workers", key="rss"):
    return [{"t": i * 10.0, "load": 1.0, name: {"rss": v, "anon": v, "n": 1}}
            for i, v in enumerate(values_kb)]


def test_memory_growth_is_measured_from_the_first_minute(runner):
    # 0 s … 300 s: warm-up to 100 MB in the first minute, then flat
    values = [50_000, 80_000, 95_000, 100_000, 100_000, 100_000, 100_000] + [101_000] * 24
    memory = runner.memory_table(_samples(values), minute=60)
    workers = memory["gunicorn workers"]
    assert workers["minute_kb"] == 100_000
    assert workers["growth"] == pytest.approx(0.01)
    assert workers["ok"] is True


def test_memory_growing_past_the_tolerance_fails(runner):
    values = [100_000] * 7 + [100_000 + 2_000 * i for i in range(1, 25)]
    memory = runner.memory_table(_samples(values), minute=60)
    assert memory["gunicorn workers"]["growth"] == pytest.approx(0.48)
    assert memory["gunicorn workers"]["ok"] is False
    rows = _rows("officer: dossier page", [10.0] * 10)
    verdict = runner.judge(runner.action_table(rows), memory)
    assert verdict["grown"] == ["gunicorn workers"]
    assert verdict["passed"] is False


def test_small_absolute_growth_of_a_small_process_is_tolerated(runner):
    values = [20_000] * 7 + [24_000] * 24  # +20 %, but 4 MB for one process: caches filling
    assert runner.memory_table(_samples(values), minute=60)["gunicorn workers"]["ok"] is True


def test_postgres_backends_are_judged_on_their_own_memory(runner):
    samples = [{"t": i * 10.0, "load": 1.0,
                "postgres backends": {"rss": 100_000 + 20_000 * i, "anon": 30_000, "n": 5}}
               for i in range(31)]
    memory = runner.memory_table(samples, minute=60)["postgres backends"]
    assert memory["measure"] == "RssAnon"
    assert memory["ok"] is True


def test_tables_print(runner, capsys):
    rows = _rows("officer: queue page", [20.0, 30.0]) + _rows("citizen: track (API)", [3.0])
    runner.print_actions(runner.action_table(rows), title="t")
    memory = runner.memory_table(_samples([100_000] * 10), minute=60)
    runner.print_memory(memory, {"gunicorn workers": 12.5}, minute=60)
    out = capsys.readouterr().out
    assert "| officer: queue page" in out
    assert "| all" in out
    assert "gunicorn workers" in out and "+0.0%" in out


def test_clerks_get_the_receptions_of_their_desk(runner):
    bodies = [{"procedure": "p1", "agency": "A"}, {"procedure": "p2", "agency": "B"}]
    clerks = [{"username": "c1", "agency": "A"}, {"username": "c2", "agency": None},
              {"username": "c3", "agency": "Z"}]
    out = runner.clerk_bodies(clerks, bodies)
    assert [c["username"] for c in out] == ["c1", "c2"]
    assert out[0]["bodies"] == [bodies[0]]
    assert out[1]["bodies"] == bodies


def test_locustfile_defines_the_issue_mix(tmp_path):
    script = f"""
import importlib.util, json
spec = importlib.util.spec_from_file_location("lf", {str(BENCH / "load" / "locustfile.py")!r})
lf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lf)
html = ('<a href="/staff/dossiers/000.00.10.H01-251124-0007/">x</a>'
        '<a href="/staff/dossiers/tiep-nhan/">desk</a>'
        '<a href="/staff/dossiers/TT-251124-K7M2QX9A/">y</a>'
        '<a href="/staff/dossiers/000.00.10.H01-251124-0007/">again</a>')
print(json.dumps({{
    "weights": {{c.__name__: c.weight for c in (lf.Clerk, lf.Officer, lf.Citizen)}},
    "codes": lf.codes_in(html),
    "conflicts": [lf.is_conflict(409, b"{{}}"),
                  lf.is_conflict(400, b'{{"code": "transition_not_allowed"}}'),
                  lf.is_conflict(400, b'{{"code": "invalid"}}'), lf.is_conflict(500, b"")],
}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["weights"] == {"Clerk": 60, "Officer": 200, "Citizen": 500}
    assert out["codes"] == ["000.00.10.H01-251124-0007", "TT-251124-K7M2QX9A"]
    assert out["conflicts"] == [True, True, False, False]


def test_staff_are_spread_over_units_in_proportion_to_their_work(runner):
    spread = runner.spread(10, {1: 70, 2: 20, 3: 10, 4: 0})
    assert len(spread) == 10
    # one each first, then the remaining 7 by the weights (largest remainders)
    assert {k: spread.count(k) for k in set(spread)} == {1: 6, 2: 2, 3: 2}
    # every unit with work gets someone when there are enough people
    assert set(runner.spread(3, {1: 1000, 2: 1, 3: 1})) == {1, 2, 3}
    assert runner.spread(5, {}) == []


def test_wait_summary_averages_what_the_backends_did(runner):
    waits = runner.Waits(url="postgres://unused", port=1)
    waits.polls = 4
    waits.backends = {"running": 2, "idle": 20, "Lock": 1}
    waits.accept_queue = [0, 0, 10, 30]
    summary = waits.summary()
    assert summary["backends_mean"] == {"Lock": 0.25, "idle": 5.0, "running": 0.5}
    assert summary["accept_queue"]["mean"] == 10
    assert summary["accept_queue"]["max"] == 30
