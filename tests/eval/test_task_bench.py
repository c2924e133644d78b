"""`restora bench --task deblur|derain|dehaze|lowlight|auto` end to end on a tiny data folder."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from restora.cli import _register_commands, app
from restora.eval.metrics import aligned_grey, psnr, psnr_ssim_y

_register_commands()


@pytest.fixture
def task_data(data_dir, make_textured):
    """data_dir plus Levin-like pairs (test/TinyLevin + kernels/levin09.npz) and rain pairs (test/TinyRain)."""
    from restora.degrade import get_pipeline
    from restora.degrade.blur import shake_kernel

    rng = np.random.default_rng(11)
    kernels = {f"k{i}": shake_kernel(9, np.random.default_rng(i)) for i in (1, 2)}
    (data_dir / "kernels").mkdir()
    np.savez(data_dir / "kernels" / "levin09.npz", **kernels)
    levin = data_dir / "test" / "TinyLevin"
    (levin / "blurred").mkdir(parents=True)
    (levin / "sharp").mkdir()
    sharp = make_textured(rng, 64, 64).mean(axis=2).astype(np.uint8)
    Image.fromarray(sharp).save(levin / "sharp" / "im1.png")
    for name, k in kernels.items():  # Levin's files match correlation with the stored kernel
        blurred = cv2.filter2D(sharp.astype(np.float32), -1, k, borderType=cv2.BORDER_REFLECT)
        Image.fromarray(np.clip(np.rint(blurred), 0, 255).astype(np.uint8)).save(
            levin / "blurred" / f"im1_kernel{name[1]}_img.png"
        )
    rain = data_dir / "test" / "TinyRain"
    (rain / "rainy").mkdir(parents=True)
    (rain / "clean").mkdir()
    for i in range(2):
        clean = make_textured(rng, 48, 64)
        rainy = get_pipeline("rain")(clean.astype(np.float32) / 255, rng)
        Image.fromarray(clean).save(rain / "clean" / f"{i:03d}.png")
        Image.fromarray(np.clip(np.rint(rainy * 255), 0, 255).astype(np.uint8)).save(rain / "rainy" / f"{i:03d}.png")
    return data_dir


def bench(data, out, task, *extra):
    args = [
        "bench",
        "--task",
        task,
        "--data",
        str(data),
        "--out",
        str(out),
        "--threads",
        "1",
        "--device",
        "cpu",
        *extra,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("results.json", "results.md"):
        assert (out / name).stat().st_size > 0
    return json.loads((out / "results.json").read_text())


def entry(results, set_name, method):
    (e,) = [e for e in results["quality"] if e["set"] == set_name and e["method"] == method]
    return e


@pytest.mark.slow
def test_deblur_bench_scores_blind_and_kernel_given_peers(task_data, tmp_path):
    out = tmp_path / "deblur"
    results = bench(
        task_data,
        out,
        "deblur",
        "--sets",
        "TinyLevin,Tiny",
        "--methods",
        "deconv-blind,rl-oracle,identity",
        "--no-speed",
        "--no-cache-scores",
    )
    levin_input = entry(results, "TinyLevin", "identity")
    # Levin rows also carry the aligned-grey protocol; the input's score matches an independent computation.
    sharp = np.repeat(np.asarray(Image.open(task_data / "test/TinyLevin/sharp/im1.png"))[:, :, None], 3, axis=2)
    blurred = np.repeat(
        np.asarray(Image.open(task_data / "test/TinyLevin/blurred/im1_kernel1_img.png"))[:, :, None], 3, axis=2
    )
    assert levin_input["images"][0]["psnr"] == pytest.approx(psnr(sharp, blurred), abs=1e-6)
    assert levin_input["images"][0]["psnr_aligned"] == pytest.approx(
        aligned_grey(sharp, blurred)["psnr_aligned"], abs=1e-6
    )
    oracle = entry(results, "TinyLevin", "rl-oracle")
    assert oracle["mode"] == "true kernel" and oracle["psnr_aligned"] > levin_input["psnr_aligned"] + 1.0
    synthetic = entry(results, "Tiny", "rl-oracle")
    assert synthetic["psnr"] > entry(results, "Tiny", "identity")["psnr"]
    assert entry(results, "Tiny", "deconv-blind")["mode"] == "blind" and "psnr_aligned" not in synthetic
    md = (out / "results.md").read_text()
    assert "### TinyLevin" in md and "aligned PSNR" in md and "| rl-oracle | true kernel |" in md
    assert len(list((out / "crops").iterdir())) == 4


@pytest.mark.slow
def test_speed_of_registered_and_kernel_given_methods(task_data, tmp_path):
    out = tmp_path / "speed"
    results = bench(
        task_data,
        out,
        "deblur",
        "--sets",
        "Tiny",
        "--limit",
        "1",
        "--methods",
        "rl-oracle,identity",
        "--sizes",
        "64",
        "--repeats",
        "1",
        "--no-cache-scores",
        "--crops",
        "0",
    )
    rows = {r["method"]: r for r in results["speed"]}
    assert set(rows) == {"rl-oracle", "identity"} and all(r["size"] == 64 and r["mp_per_s"] > 0 for r in rows.values())
    assert rows["rl-oracle"]["peak_rss_mb"] is None and rows["identity"]["peak_rss_mb"] > 0  # in-process / own process
    assert "| rl-oracle | 64² |" in (out / "results.md").read_text()
    assert (out / "quality_vs_speed.png").stat().st_size > 0


@pytest.mark.slow
def test_derain_bench_reports_y_channel_and_published_figures_only_for_rain100h(task_data, tmp_path):
    results = bench(task_data, tmp_path / "derain", "derain", "--sets", "TinyRain", "--no-speed", "--no-cache-scores")
    assert set(results["unavailable"]) == {"ours"} or results["methods"][0]["kind"] == "ours"
    median, identity = entry(results, "TinyRain", "median"), entry(results, "TinyRain", "identity")
    clean = np.asarray(Image.open(task_data / "test/TinyRain/clean/000.png"))
    rainy = np.asarray(Image.open(task_data / "test/TinyRain/rainy/000.png"))
    assert identity["images"][0]["psnr_y"] == pytest.approx(psnr_ssim_y(clean, rainy)["psnr_y"], abs=1e-6)
    assert median["n_images"] == 2 and "ssim_y" in median and results["published"] == []
    assert "PSNR-Y (dB)" in (tmp_path / "derain" / "results.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("task, peer", [("dehaze", "dcp"), ("lowlight", "gamma")])
def test_synthetic_sets_are_seeded_and_peers_cached(task_data, tmp_path, task, peer):
    cache = tmp_path / "cache"
    options = ("--sets", "Tiny", "--methods", f"{peer},identity", "--no-speed", "--cache", str(cache))
    first = bench(task_data, tmp_path / "a", task, *options)
    assert entry(first, "Tiny", peer)["psnr"] > entry(first, "Tiny", "identity")["psnr"]
    if task == "lowlight":  # the GT-mean protocol beside plain PSNR: it forgives the exposure guess only
        assert entry(first, "Tiny", peer)["psnr_gtmean"] >= entry(first, "Tiny", peer)["psnr"]
        assert "GT-mean PSNR (dB)" in (tmp_path / "a" / "results.md").read_text()
    cache_file = cache / f"{peer}-Tiny-{task}.json"
    stored = json.loads(cache_file.read_text())
    assert len(stored) == 2
    for value in stored.values():
        value["psnr"] = 99.0
    cache_file.write_text(json.dumps(stored))
    second = bench(task_data, tmp_path / "b", task, *options, "--limit", "1")
    assert entry(second, "Tiny", peer)["images"][0]["psnr"] == 99.0  # cached, not recomputed
    scores = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731 (timing varies)
    assert scores(entry(second, "Tiny", "identity")["images"]) == scores(
        entry(first, "Tiny", "identity")["images"][:1]
    )  # same seed


@pytest.mark.slow
def test_auto_bench_gives_accuracy_and_confusion_matrix(task_data, tmp_path, tiny_allinone_net):
    from restora.models.modelfile import save_model

    model = tmp_path / "tiny-allinone.safetensors"
    save_model(tiny_allinone_net(), model, {"tasks": ["denoise", "deblur", "derain", "dehaze", "lowlight"]})
    results = bench(task_data, tmp_path / "auto", "auto", "--sets", "Tiny", "--methods", str(model))
    (d,) = results["detection"]
    assert d["n_images"] == 10 and sorted({r["label"] for r in d["images"]}) == sorted(d["labels"])
    assert sum(sum(row.values()) for row in d["confusion"].values()) == 10
    right = sum(d["confusion"][t][t] for t in d["labels"])
    assert d["accuracy"] == pytest.approx(right / 10)
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-3 for r in d["images"])
    md = (tmp_path / "auto" / "results.md").read_text()
    assert "Confusion matrix" in md and "| lowlight |" in md and results["speed"] == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--task", "sharpen"], "--task must be one of"),
        (["--task", "derain", "--methods", "rl-oracle"], "no method to run"),
        (["--task", "dehaze", "--methods", "nlm"], "no method to run"),
        (["--task", "deblur", "--sets", "Nope"], "set 'Nope' not found"),
        (
            ["--task", "derain", "--methods", "median,guidd"],
            "--methods: unknown method 'guidd' for derain (one of: ours, ",
        ),
    ],
)
def test_bad_task_arguments_give_one_line_errors(task_data, tmp_path, extra, message):
    args = ["bench", "--data", str(task_data), "--sets", "Tiny", "--no-speed", "--out", str(tmp_path / "o"), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_one_methods_parser_for_every_task():
    """--methods of the denoising bench and of the task benches: the same items, kinds and errors."""
    from restora.errors import ModelError
    from restora.eval.peers import method_choices, parse_methods

    chosen, unavailable = parse_methods("deconv-blind, rl-oracle,identity,nlm,", "deblur")
    assert [(m.label, m.kind) for m in chosen] == [
        ("deconv-blind", "peer"),
        ("rl-oracle", "oracle"),
        ("identity", "baseline"),
    ]
    assert unavailable == {"nlm": "'nlm' does not deblur (it does: denoise)"}
    chosen, unavailable = parse_methods("nlm,rl-oracle,identity")  # denoise
    assert [(m.label, m.kind) for m in chosen] == [("nlm", "peer"), ("identity", "baseline")]
    assert unavailable == {"rl-oracle": "needs a blur kernel: deblurring only"}
    assert "median" in method_choices("derain") and "rl-oracle" not in method_choices("derain")
    assert {"bm3d", "nlm", "ffdnet"} <= set(method_choices("denoise")) and "dcp" not in method_choices("denoise")
    for task in ("denoise", "dehaze"):
        with pytest.raises(ModelError, match=f"^--methods: unknown method 'wiener' for {task} \\(one of: ours, "):
            parse_methods("identity,wiener", task)
    with pytest.raises(ModelError, match="twice"):
        parse_methods("gamma,identity,gamma", "lowlight")
