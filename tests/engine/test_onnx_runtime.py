"""ONNX export and the ONNX Runtime path (skipped without the onnx extra)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from typer.testing import CliRunner

pytest.importorskip(
    "onnxruntime", reason="the onnx extra is not installed (pip install 'restora[onnx]'): ONNX tests skipped"
)
pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'restora[onnx]'): ONNX tests skipped")

import restora.commands  # noqa: E402,F401  (registers the commands)
import restora.train.cli  # noqa: E402,F401
from restora.cli import app  # noqa: E402
from restora.engine import onnx as ronnx  # noqa: E402
from restora.engine import run_restore  # noqa: E402
from restora.models.modelfile import load_module, save_model  # noqa: E402
from restora.errors import ModelError  # noqa: E402
from restora.models.nafnet import NAFNet  # noqa: E402
from restora.engine.catalogue import get_spec  # noqa: E402


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(ronnx, "CACHE_DIR", tmp_path / "onnx-cache")
    return tmp_path / "onnx-cache"


def tiny_model_file(path, uses_sigma=True, seed=0):
    """A tiny NAFNet with non-trivial weights (a fresh one starts as the identity)."""
    torch.manual_seed(seed)
    module = NAFNet(width=8, enc_blocks=(1, 1), mid_blocks=1, dec_blocks=(1, 1), uses_sigma=uses_sigma)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_model(module, path, {"task": "denoise", "tasks": ["denoise"], "summary": "tiny test net"})
    return path


@pytest.mark.slow
@pytest.mark.parametrize("uses_sigma", [True, False])
def test_export_matches_pytorch_on_odd_sizes_and_carries_the_metadata(tmp_path, uses_sigma):
    import onnx
    import onnxruntime as ort

    path = tiny_model_file(tmp_path / "tiny.safetensors", uses_sigma)
    graph, worst = ronnx.export_model_file(path)
    assert worst < ronnx.TOLERANCE
    module, meta = load_module(path)
    props = {p.key: p.value for p in onnx.load_from_string(graph).metadata_props}
    assert props["restora.arch"] == "nafnet"
    assert json.loads(props["restora.config"]) == meta["config"]
    assert json.loads(props["restora.card"])["summary"] == "tiny test net"
    assert json.loads(props["restora.engine"]) == {
        "uses_sigma": uses_sigma,
        "size_multiple": 8,
        "context": 64,
        "channels": 3,
    }

    # One graph, any size: sizes other than the traced one, not multiples of the network's 8.
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for h, w in [(19, 71), (64, 40), (33, 33)]:
        x = rng.random((1, 3, h, w), dtype=np.float32)
        feeds, args = {"image": x}, [torch.from_numpy(x)]
        if uses_sigma:
            s = np.full((1, 3, h, w), 20 / 255, np.float32)
            feeds["sigma"] = s
            args.append(torch.from_numpy(s))
        got = session.run(None, feeds)[0]
        with torch.no_grad():
            expected = module(*args).numpy()
        assert got.shape == (1, 3, h, w)
        assert np.max(np.abs(got - expected)) < 1e-4


def test_onnx_runtime_restores_like_pytorch_with_tiling(tmp_path):
    path = str(tiny_model_file(tmp_path / "tiny.safetensors"))
    rng = np.random.default_rng(0)
    image = np.clip(0.5 + 0.1 * rng.standard_normal((90, 70, 3)), 0, 1).astype(np.float32)
    results = {rt: run_restore(image, model=path, sigma=15, tile=40, runtime=rt) for rt in ("torch", "onnx")}
    assert np.max(np.abs(results["onnx"].image.pixels - results["torch"].image.pixels)) < 1e-4
    assert not np.allclose(results["torch"].image.pixels, image, atol=1e-3)  # the network does something
    from restora.engine.restore import get_method

    assert get_method(path, "auto", "onnx").runtime == "onnx"
    assert list(ronnx.CACHE_DIR.glob("*.onnx"))  # exported once, cached by the weights' hash


def measured_model(tmp_path, monkeypatch):
    """A tiny model and an empty speed file that ``auto`` reads instead of this machine's measurements."""
    path = tiny_model_file(tmp_path / "tiny.safetensors")
    _, meta = load_module(path)
    speed_file = tmp_path / "speed.json"
    monkeypatch.setattr(ronnx, "SPEED_FILE", speed_file)
    return get_spec(str(path)), meta, speed_file


def test_auto_takes_onnx_only_where_measured_faster(tmp_path, monkeypatch):
    spec, meta, speed_file = measured_model(tmp_path, monkeypatch)
    assert ronnx.pick_runtime(spec, "cpu", "auto") == "torch"  # no measurement: no claim

    def record(ratio):
        row = {"size": 1024, "threads": 1, "torch_mp_s": 1.0, "onnx_mp_s": ratio}
        speed_file.write_text(
            json.dumps({"models": [{"arch": meta["arch"], "config": meta["config"], "measurements": [row]}]})
        )

    record(1.02)
    assert ronnx.pick_runtime(spec, "cpu", "auto") == "torch"  # within noise
    record(1.5)
    assert ronnx.pick_runtime(spec, "cpu", "auto") == "onnx"
    assert ronnx.pick_runtime(spec, "cpu", "torch") == "torch"
    assert ronnx.pick_runtime(get_spec("nlm"), "cpu", "auto") == "torch"
    with pytest.raises(ModelError, match="not a network"):
        ronnx.pick_runtime(get_spec("nlm"), "cpu", "onnx")


def test_auto_follows_the_measurements_at_the_process_thread_count(tmp_path, monkeypatch):
    spec, meta, speed_file = measured_model(tmp_path, monkeypatch)
    rows = [
        {"size": size, "threads": threads, "torch_mp_s": 1.0, "onnx_mp_s": gain}
        for size in (1024, 2048)
        for threads, gain in ((1, 1.4), (2, 0.9))
    ]
    # An older entry for the same architecture and config comes second: the first match counts.
    models = [
        {"arch": meta["arch"], "config": meta["config"], "measurements": rows},
        {"arch": meta["arch"], "config": meta["config"], "measurements": [{**rows[0], "threads": 2, "onnx_mp_s": 2.0}]},
    ]
    speed_file.write_text(json.dumps({"models": models}))
    assert ronnx.measured_speedup(meta["arch"], meta["config"], speed_file) == pytest.approx(0.9)  # all rows
    assert ronnx.measured_speedup(meta["arch"], meta["config"], speed_file, threads=1) == pytest.approx(1.4)
    assert ronnx.measured_speedup(meta["arch"], meta["config"], speed_file, threads=8) == pytest.approx(
        0.9
    )  # nearest: 2
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert ronnx.pick_runtime(spec, "cpu", "auto") == "onnx"
        torch.set_num_threads(2)
        assert ronnx.pick_runtime(spec, "cpu", "auto") == "torch"  # slower at 2 threads: PyTorch there
    finally:
        torch.set_num_threads(before)


def test_onnx_speed_records_bench_rows_per_thread_count(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "onnx_speed.py"
    module_spec = importlib.util.spec_from_file_location("onnx_speed_bench", script)
    onnx_speed = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(onnx_speed)
    path = tiny_model_file(tmp_path / "tiny.safetensors")
    _, meta = load_module(path)

    def row(size, threads, runtime, mp_s):
        return {
            "method": "tiny",
            "size": size,
            "threads": threads,
            "runtime_asked": runtime,
            "mp_per_s": mp_s,
            "tile": 512,
            "load_average": 0.5,
            "other_cpu": 0.01,
        }

    speed_rows = [
        row(1024, 1, "torch", 0.2),
        row(1024, 1, "onnx", 0.3),
        row(1024, 2, "torch", 0.4),
        row(1024, 2, "onnx", 0.36),
        row(512, 1, "torch", 0.2),
        row(512, 1, "onnx", 0.5),
        row(2048, 2, "torch", 0.4),
    ]  # 512² is not asked for; 2048² has no ONNX row
    bench = tmp_path / "results.json"
    bench.write_text(
        json.dumps({"methods": [{"label": "tiny", "engine": str(path), "kind": "ours"}], "speed": speed_rows})
    )
    (entry,) = onnx_speed.from_bench(bench, [1024, 2048])
    assert entry["arch"] == meta["arch"] and entry["config"] == meta["config"]
    assert [(m["size"], m["threads"], m["speedup"]) for m in entry["measurements"]] == [(1024, 1, 1.5), (1024, 2, 0.9)]


def test_speed_measurements_are_this_machines_and_recorded_in_its_cache(tmp_path, monkeypatch):
    """`auto` reads measurements from this machine's cache, never from a file shipped in the package; the
    benchmark's --record writes there, keeping the entries of models it did not measure."""
    import importlib.util
    from pathlib import Path

    from restora.settings import get_settings

    assert ronnx.SPEED_FILE == get_settings().cache_dir / "onnx_speed.json"
    assert not list(Path(ronnx.__file__).parent.glob("*speed*.json"))  # no speed measurement ships with the engine
    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path / "cache"))
    get_settings.cache_clear()
    try:
        assert get_settings().cache_dir == tmp_path / "cache"
    finally:
        get_settings.cache_clear()

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "onnx_speed.py"
    module_spec = importlib.util.spec_from_file_location("onnx_speed_bench", script)
    onnx_speed = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(onnx_speed)
    speed_file = tmp_path / "cache" / "onnx_speed.json"
    monkeypatch.setattr(ronnx, "SPEED_FILE", speed_file)
    row = {
        "size": 1024,
        "threads": 1,
        "tile": 512,
        "torch_mp_s": 1.0,
        "onnx_mp_s": 1.5,
        "speedup": 1.5,
        "load_average": 0.1,
        "other_cpu": 0.0,
    }
    older = {"name": "other", "arch": "unet", "config": {"width": 8}, "measurements": [row]}
    speed_file.parent.mkdir(parents=True)
    speed_file.write_text(json.dumps({"models": [older]}))
    earlier = tmp_path / "earlier.json"
    measured = {"name": "tiny", "arch": "nafnet", "config": {"width": 4}, "measurements": [{**row, "onnx_mp_s": 0.9}]}
    earlier.write_text(json.dumps({"models": [measured]}))
    onnx_speed.main(["--include", str(earlier), "--record"])
    recorded = json.loads(speed_file.read_text())
    assert recorded["models"] == [older, measured] and recorded["cpu"]
    assert ronnx.measured_speedup("nafnet", {"width": 4}) == pytest.approx(0.9)
    assert ronnx.measured_speedup("unet", {"width": 8}) == pytest.approx(1.5)


def test_cli_export_and_denoise_with_runtime_onnx(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    model = tiny_model_file(tmp_path / "tiny.safetensors")
    done = runner.invoke(app, ["export", str(model), "--onnx", "-o", "tiny.onnx"])
    assert done.exit_code == 0, done.stdout + done.stderr
    assert "max |ONNX − PyTorch|" in done.stdout and (tmp_path / "tiny.onnx").stat().st_size > 0
    assert ronnx.OnnxMethod(tmp_path / "tiny.onnx", "tiny").uses_sigma

    rng = np.random.default_rng(0)
    PILImage.fromarray(rng.integers(0, 256, (37, 51, 3), dtype=np.uint8)).save(tmp_path / "noisy.png")
    outs = {}
    for rt in ("onnx", "torch"):
        result = runner.invoke(app, ["denoise", "noisy.png", "-o", f"{rt}.png", "--model", str(model), "--runtime", rt])
        assert result.exit_code == 0, result.stdout + result.stderr
        outs[rt] = np.asarray(PILImage.open(tmp_path / f"{rt}.png"), dtype=np.int16)
    assert np.max(np.abs(outs["onnx"] - outs["torch"])) <= 1  # equal up to 8-bit rounding

    bad = runner.invoke(app, ["denoise", "noisy.png", "-o", "nlm.png", "--model", "nlm", "--runtime", "onnx"])
    assert bad.exit_code != 0 and "not a network" in bad.stderr and "Traceback" not in bad.stderr
    wrong = runner.invoke(app, ["export", str(model), "--onnx", "-o", "tiny.bin"])
    assert wrong.exit_code == 2 and ".onnx" in wrong.stderr


@pytest.mark.slow
def test_cli_exports_a_training_run(tmp_path):
    from restora.train.config import DataConfig, ModelConfig, OptimConfig, TrainConfig
    from restora.train.checkpoint import prepare_run
    from restora.train.trainer import Trainer

    folder = tmp_path / "train"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        PILImage.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    cfg = TrainConfig(
        name="t",
        steps=1,
        threads=1,
        data=DataConfig(train_dir=str(folder), val_count=1, val_crop=32, patch=32, batch=1, pipeline="gaussian"),
        model=ModelConfig(arch="nafnet", args=dict(width=4, enc_blocks=[1], mid_blocks=1, dec_blocks=[1])),
        optim=OptimConfig(warmup_steps=1),
        log_every=1,
        val_every=1,
        ckpt_every=1,
    )
    prepare_run(cfg, tmp_path / "run", resume=False)
    Trainer(cfg, tmp_path / "run").fit(progress=False)
    done = CliRunner().invoke(app, ["export", str(tmp_path / "run"), "--onnx", "-o", str(tmp_path / "run.onnx")])
    assert done.exit_code == 0, done.stdout + done.stderr
    method = ronnx.OnnxMethod(tmp_path / "run.onnx", "run")
    assert method.card["steps"] == 1 and method.card["run"] == "t"
