"""A tiny denoiserep run: it trains, resumes where it stopped, and writes a layer file the classifier folds in."""

import numpy as np
import pytest


@pytest.mark.slow
def test_a_tiny_denoiserep_run_trains_resumes_and_ships_a_foldable_file(tmp_path, tiny_data):
    from restora.eval.classifier import DenoisedClassifier, classifier_available

    if not classifier_available():
        pytest.skip("the classify extra (EfficientNet-Lite0) is not installed")
    from restora.train.checkpoint import prepare_run
    from restora.train.config import DataConfig, DenoiseRepConfig, OptimConfig, TrainConfig
    from restora.train.denoiserep import train_denoiserep
    from restora.train.runlog import read_log

    cfg = TrainConfig(
        name="tiny-denoiserep",
        steps=4,
        data=DataConfig(train_dir=str(tiny_data), val_count=2, batch=2),
        denoiserep=DenoiseRepConfig(size=32, val_sigmas=(25.0,)),
        select="val_agreement",
        optim=OptimConfig(lr=1e-3, warmup_steps=1),
        log_every=1,
        val_every=2,
        ckpt_every=2,
    )
    run = tmp_path / "run"
    prepare_run(cfg, run, resume=False)
    train_denoiserep(cfg, run, max_steps=2, device="cpu")
    best = train_denoiserep(cfg, run, resume=True, device="cpu")  # continues from step 2 to 4
    rows = read_log(run / "log.csv")
    assert [r["step"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert rows[0]["val_clean"] == "1.0"  # the untouched classifier agrees with itself
    assert {"val_agreement", "val_clean", "val_s25", "step"} <= set(best)
    merged = DenoisedClassifier("cpu", run / "model.safetensors")
    assert merged.fingerprint() != super(DenoisedClassifier, merged).fingerprint()
    assert merged.logits([np.full((40, 40, 3), 0.5, np.float32)]).shape == (1, 1000)
