"""Speed table of `restora bench` (restora.eval.speed, restora.eval.speed_report): planning rules, the measuring
process, tables, cache."""

import json
import time

import pytest
from typer.testing import CliRunner

from restora.cli import _register_commands, app
from restora.eval import speed, speed_report
from restora.eval.peers import BenchMethod

_register_commands()

OURS = BenchMethod("restora-denoise", "restora-denoise", "ours")
BM3D = BenchMethod("bm3d", "bm3d", "peer")
NLM = BenchMethod("nlm", "nlm", "peer")
IDENTITY = BenchMethod("identity", "identity", "baseline")


def test_plan_times_each_method_where_it_matters():
    plan = speed.plan_runs([OURS, BM3D, NLM, IDENTITY], [512, 1024, 2048, 4096], [1, 2], ["torch", "onnx"])
    runs = [(m.label, runtime, t, sizes) for m, runtime, t, sizes in plan]
    # Our network: every asked runtime and thread count; 4096² only at the largest thread count.
    assert ("restora-denoise", "torch", 1, [512, 1024, 2048]) in runs
    assert ("restora-denoise", "onnx", 2, [512, 1024, 2048, 4096]) in runs
    assert len([r for r in runs if r[0] == "restora-denoise"]) == 4
    # BM3D: 512² only (its library is threaded: both counts); NLM in its own runtime; identity at one thread.
    assert [r for r in runs if r[0] == "bm3d"] == [("bm3d", "auto", 1, [512]), ("bm3d", "auto", 2, [512])]
    assert [r[1:3] for r in runs if r[0] == "nlm"] == [("auto", 1), ("auto", 2)]
    assert [r for r in runs if r[0] == "identity"] == [("identity", "auto", 1, [512, 1024, 2048, 4096])]


def test_measure_sizes_rows_budget_and_the_large_size_rule(monkeypatch):
    rows = []
    got = speed.measure_sizes("identity", [48, 32], threads=1, repeats=3, emit=rows.append)
    assert got == rows and [r["size"] for r in rows] == [32, 48]  # increasing sizes, emitted as measured
    for r in rows:
        assert len(r["runs"]) == 3 and r["seconds"] == sorted(r["runs"])[1]  # median of the three
        assert r["mp_per_s"] == pytest.approx(r["size"] ** 2 / 1e6 / r["seconds"])
        assert r["peak_rss_mb"] > 0 and r["base_rss_mb"] > 0 and r["threads"] == 1 and r["tile"] > 0
        assert r["runtime"].startswith("numpy") and (r["other_cpu"] is None or 0 <= r["other_cpu"] <= 1)
    # A budget already spent stops after the minimum number of runs: two below LARGE_SIZE, one at and above.
    monkeypatch.setattr(speed, "LARGE_SIZE", 40)
    monkeypatch.setattr(speed, "FAST_MP_PER_S", 0.0)
    rows = speed.measure_sizes("identity", [32, 48], threads=1, repeats=5, budget=0.0)
    assert [(r["size"], len(r["runs"])) for r in rows] == [(32, 2), (48, 1)]
    # Large sizes only after a size that ran faster than FAST_MP_PER_S.
    monkeypatch.setattr(speed, "FAST_MP_PER_S", float("inf"))
    assert [r["size"] for r in speed.measure_sizes("identity", [32, 48], threads=1, repeats=1)] == [32]


def test_runs_after_the_deadline_are_listed_as_not_measured():
    logged = []
    late = speed.run_speed([NLM], [32], [1, 2], 1, "cpu", None, logged.append, deadline=time.monotonic() - 1)
    assert [(r["threads"], r["error"]) for r in late] == [
        (1, "not measured (out of time)"),
        (2, "not measured (out of time)"),
    ]
    assert logged == [
        "speed nlm 1 thread: not measured (out of time)",
        "speed nlm 2 threads: not measured (out of time)",
    ]


def _row(method, runtime, threads, size, mp_s, **extra):
    return {
        "method": method,
        "runtime": runtime,
        "runtime_asked": "auto",
        "threads": threads,
        "size": size,
        "mp_per_s": mp_s,
        "seconds": size * size / 1e6 / mp_s,
        "runs": [1.0, 1.0, 1.0],
        "mp_per_cpu_s": mp_s,
        "peak_rss_mb": 400.0 + size / 100,
        "base_rss_mb": 300.0,
        "tile": 512,
        "other_cpu": 0.02,
        **extra,
    }


def test_tables_put_thread_counts_side_by_side():
    rows = [
        _row("nlm", "OpenCV 5", 1, 512, 0.9),
        _row("nlm", "OpenCV 5", 2, 512, 1.7),
        _row("nlm", "OpenCV 5", 2, 4096, 1.6),
        _row("bm3d", "bm3d 4", 1, 512, 0.011, cached=True),
        {"method": "ffdnet", "runtime_asked": "auto", "threads": 1, "size": 512, "error": "timed out after 9 s"},
    ]
    pivot = speed_report.pivot_table(rows)
    assert pivot[0].startswith("| method | runtime | 512² MP/s (1/2 thr) | 4096² MP/s (1/2 thr) |")
    assert "| nlm | OpenCV 5 | 0.9 / 1.7 | — / 1.6 | 405 | 441 |" in pivot
    assert "| bm3d | bm3d 4 | 0.011 / — | — | 405 | — |" in pivot
    long = "\n".join(speed_report.long_table(rows))
    assert "0.011 (cached)" in long and "timed out after 9 s" in long and "| 2% |" in long


def test_speed_cache_keeps_only_quiet_measurements(tmp_path):
    cache = speed.SpeedCache(tmp_path)
    key = cache.key("nlm", "auto", 1, 512, 3)
    assert key == speed.SpeedCache.key("nlm", "auto", 1, 512, 3) != cache.key("nlm", "auto", 2, 512, 3)
    cache.put(key, _row("nlm", "OpenCV", 1, 512, 0.9, other_cpu=0.6))  # a busy machine: not kept
    assert speed.SpeedCache(tmp_path).get(key) is None
    cache.put(key, _row("nlm", "OpenCV", 1, 512, 0.9, other_cpu=0.01))
    again = speed.SpeedCache(tmp_path).get(key)
    assert again["mp_per_s"] == 0.9 and "measured" in again


@pytest.mark.slow
def test_bench_speed_only_writes_the_table_without_data(tmp_path):
    out = tmp_path / "speed"
    args = [
        "bench",
        "--speed-only",
        "--data",
        str(tmp_path / "nowhere"),
        "--methods",
        "identity",
        "--sizes",
        "40,32",
        "--repeats",
        "1",
        "--speed-threads",
        "1,2",
        "--out",
        str(out),
        "--no-cache-scores",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "speed identity 1 thread 40²" in result.output  # measured in a subprocess, logged as it comes
    payload = json.loads((out / "results.json").read_text())
    # identity's speed does not depend on threads: one process at the smallest count, sizes in increasing order
    assert [(r["method"], r["threads"], r["size"]) for r in payload["speed"]] == [
        ("identity", 1, 32),
        ("identity", 1, 40),
    ]
    assert all(len(r["runs"]) == 1 and r["peak_rss_mb"] > 0 for r in payload["speed"])
    assert payload["input"].startswith("smooth random texture") and "--speed-only" in payload["command"]
    md = (out / "results.md").read_text()
    assert "| identity | numpy" in md and "32² MP/s (1 thr)" in md and "40² MP/s (1 thr)" in md


@pytest.mark.parametrize(
    "extra, message", [(["--task", "deblur"], "--speed-only"), (["--runtimes", "tensorrt"], "runtime")]
)
def test_bench_speed_only_bad_options_are_one_line_errors(tmp_path, extra, message):
    args = ["bench", "--speed-only", "--methods", "identity", "--sizes", "32", "--out", str(tmp_path / "o"), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
