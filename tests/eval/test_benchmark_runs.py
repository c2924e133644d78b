"""benchmarks/run_peers.py and benchmarks/speed_window.py: the runs they start, in order, and what they write
(every step replaced by a stand-in: nothing is measured here)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import typer

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str, monkeypatch):
    """benchmarks/NAME.py as a module (registered while the test runs: its dataclasses look themselves up)."""
    spec = importlib.util.spec_from_file_location(f"{name}_bench", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def bench_options() -> set[str]:
    from restora.cli import _register_commands, app

    _register_commands()
    command = typer.main.get_command(app).commands["bench"]
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def options_of(command: list[str]) -> set[str]:
    return {a for a in command[command.index("bench") + 1 :] if a.startswith("--")}


def test_peer_runs_are_restora_bench_commands_run_in_turn(monkeypatch, capsys):
    peers = load("run_peers", monkeypatch)
    known = bench_options()
    assert all(options_of(peers.bench_command(options)) <= known for _, options in peers.PEER_RUNS)

    started = []

    def fake_run(command, cwd, env):
        started.append((command, cwd, env["OMP_NUM_THREADS"]))
        return subprocess.CompletedProcess(command, 1 if len(started) == 2 else 0)

    monkeypatch.setattr(peers.subprocess, "run", fake_run)
    assert peers.main(["--list"]) is None and not started
    assert capsys.readouterr().out.count("restora bench --sets ") == 3
    assert peers.main([]) == 1  # the second run fails: the third is not started
    assert [c[0][c[0].index("bench") + 1 :] for c in started] == [o for _, o in peers.PEER_RUNS[:2]]
    assert all(cwd == peers.ROOT and threads == "1" for _, cwd, threads in started)


def test_speed_window_commands(tmp_path, monkeypatch):
    window = load("speed_window", monkeypatch)
    quick, real = window.window_sizes(True, tmp_path, None), window.window_sizes(False, tmp_path, None)
    assert (quick.total, real.total) == (1500, 720) and window.window_sizes(False, tmp_path, 60).total == 60
    ray = window.ray_command(quick, tmp_path)
    assert ray[1].endswith("ray_batch.py") and ray[ray.index("--size") + 1] == "192"
    assert ray[ray.index("--md") + 1] == str(tmp_path / "ray_batch.md")
    bench = window.bench_command(real, tmp_path, 500)
    assert options_of(bench) <= bench_options()
    assert (
        bench[bench.index("--speed-time-limit") + 1] == "500"
        and bench[bench.index("--cache") + 1] == "benchmarks/cache"
    )
    assert window.bench_command(quick, tmp_path, 500)[-5] == str(tmp_path / "cache")
    assert window.record_command(real, tmp_path) is None  # steps 2 and 3 left nothing
    (tmp_path / "onnx_fast.json").write_text("{}")
    record = window.record_command(real, tmp_path)
    assert "--from-bench" not in record and record[record.index("--include") + 1] == str(tmp_path / "onnx_fast.json")
    assert "--record" in record and "--record" not in window.record_command(quick, tmp_path)


def test_speed_window_runs_every_step_and_writes_the_summary(tmp_path, monkeypatch):
    window = load("speed_window", monkeypatch)
    steps = []

    def fake_machine(path):
        info = {
            "cpu": "Test CPU",
            "cores": 2,
            "busy_before": 0.25,
            "load_average": [1.0, 1.0, 1.0],
            "top_processes": ["%CPU PID COMMAND"],
            "date": "now",
        }
        path.write_text(json.dumps(info))
        return info

    def fake_step(name, command, log):
        steps.append(name)
        out = tmp_path / "out"
        if name == "ray_batch":
            (out / "ray_batch.md").write_text("| engine | threads |\n|---|---|\n| local | 1 |\n")
            log.write_text("ray log\n")
        elif name == "onnx_speed":
            (out / "onnx_fast.json").write_text("{}")
            log.write_text("| model | threads |\n| fast | 1 |\nother line\n")
        elif name == "restora bench --speed-only":
            (out / "bench").mkdir()
            (out / "bench" / "results.json").write_text("{}")
            (out / "bench" / "results.md").write_text(
                "# bench\n\n| method | runtime | 1 thread 512² |\n|---|---|---|\n"
                "| nlm | numpy | 1.0 |\n\n| method | other |\n"
            )
            log.write_text("speed nlm 512²: 1.0 MP/s\nnoise\n")
        else:
            assert "--from-bench" in command and "--include" in command
            log.write_text("| model | torch | onnx |\n")
        return True

    monkeypatch.setattr(window, "machine_check", fake_machine)
    monkeypatch.setattr(window, "run_step", fake_step)
    window.main(["--quick", "--out", str(tmp_path / "out")])
    assert steps == ["ray_batch", "onnx_speed", "restora bench --speed-only", "onnx_speed record"]
    text = (tmp_path / "out" / "summary.md").read_text()
    assert "`python benchmarks/speed_window.py --quick`" in text
    assert "Test CPU, 2 cores; CPU busy by other processes before the start: 25%" in text
    assert "| local | 1 |" in text and "| model | torch | onnx |" in text
    assert "| nlm | numpy | 1.0 |" in text and "| method | other |" not in text and "(failed" not in text

    steps.clear()
    monkeypatch.setattr(window, "run_step", lambda name, command, log: steps.append(name) or False)
    window.main(["--total", "20", "--out", str(tmp_path / "short")])  # no time for the speed table; steps fail
    assert steps == ["ray_batch", "onnx_speed"]
    text = (tmp_path / "short" / "summary.md").read_text()
    assert "(failed: ray_batch.log)" in text and "(failed: bench.log)" in text
