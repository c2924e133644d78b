"""Export and model card: a run's EMA weights written as one model file, with the card that records the run
(validation, compute, the model it continues and the teacher it distils)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from restora.engine.catalogue import get_spec
from restora.errors import RestoraError
from restora.models.modelfile import build_module, load_module, save_model
from restora.train.checkpoint import estimate_note, run_compute
from restora.train.config import TrainConfig, selection_figure
from restora.train.runlog import read_log


def load_network(source: str | Path, role: str) -> tuple[torch.nn.Module, dict, dict]:
    """(module, metadata, record for the card) of a network a run starts from or distils: a registered model
    name or a .safetensors path; ``role`` names it in the error for a method that is not a network."""
    spec = get_spec(str(source))
    if spec.path is None:
        raise RestoraError(f"{role} '{source}' is not a network")
    module, meta = load_module(spec.path)
    return module, meta, base_record(spec.name, meta["card"])


def base_record(name: str, card: dict) -> dict:
    """What a run keeps of a model it starts from or distils: name, run, steps, compute, validation."""
    keys = ("run", "steps", "cpu_hours", "wall_hours", "total_steps", "total_cpu_hours")
    record = {"name": card.get("name", name), **{k: card[k] for k in keys if card.get(k) is not None}}
    last = (card.get("validation") or {}).get("last")
    if last is not None:
        record["validation"] = last
    return record


def export_run(run_dir: Path, out: Path, name: str | None = None, pick: str | None = None) -> dict:
    """Write the run's EMA weights and model card to ``out`` (.safetensors): those of the last checkpoint
    (``pick="last"``) or of ``best.pt``, the best validation by the config's ``select`` (``pick="best"``);
    by default the best where the config sets ``select``, else the last."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.exists():
        raise RestoraError(f"{run_dir}: no checkpoint.pt to export")
    s = torch.load(ckpt, map_location="cpu", weights_only=True)
    cfg = TrainConfig.model_validate_json(s["config"])
    pick = pick or ("best" if cfg.select else "last")
    if pick not in ("last", "best"):
        raise RestoraError(f"--pick must be 'last' or 'best', not '{pick}'")
    weights, steps, selected = s["ema"], int(s["step"]), None
    if pick == "best":
        if not (run_dir / "best.pt").exists():
            raise RestoraError(
                f"{run_dir}: no best.pt (no validation has beaten the run's best since this code kept "
                "one); export the last checkpoint with --pick last"
            )
        b = torch.load(run_dir / "best.pt", map_location="cpu", weights_only=True)
        weights, steps = b["ema"], int(b["step"])
        selected = {
            "checkpoint": "best",
            "by": b["select"],
            "value": round(float(b["value"]), 4),
            "step": steps,
            "of_steps": int(s["step"]),
            "figures": json.loads(b["figures"]),
        }
    model = build_module(cfg.model.arch, cfg.model.args)
    model.load_state_dict(weights)
    rows = read_log(run_dir / "log.csv")
    from restora.train.repair import (
        choose_threshold,
        repair_validation_card,
    )  # a repair run's card (imports the trainer)

    tasks = list(cfg.card.get("tasks") or cfg.data.tasks or ["denoise"])
    d = cfg.data
    cpu, wall, estimated_seconds, estimated_steps = run_compute(s)
    card = {
        "name": name or Path(out).stem,
        "task": tasks[0],
        "tasks": tasks,
        "summary": cfg.card.get("summary", f"{cfg.model.arch} trained by Restora ({cfg.name})"),
        "training_data": cfg.card.get("training_data", f"{cfg.data.train_dir} (see shared/data/MANIFEST.md)"),
        "data_terms": cfg.card.get("data_terms", "BSDS500: research and education"),
        "degradations": None
        if cfg.style
        else f"restora.degrade.damage ({cfg.repair.holes})"
        if cfg.repair
        else ([m.model_dump() for m in d.mixture] if d.mixture else d.pipeline),
        "run": cfg.name,
        "steps": steps,
        "cpu_hours": round(cpu / 3600, 2),  # process CPU time, all threads (see cpu_hours_note where estimated)
        "validation": (
            style_validation_card(cfg, rows)
            if cfg.style
            else repair_validation_card(cfg, rows)
            if cfg.repair
            else validation_card(cfg, rows)
        ),
        "weights": "EMA",
        "config": json.loads(cfg.model_dump_json()),
    }
    if "wall_seconds" in s:  # a checkpoint of older code has no wall time of its own
        card["wall_hours"] = round(wall / 3600, 2)
    note = estimate_note(estimated_seconds, estimated_steps)
    if note:
        card["cpu_hours_note"] = note
    if selected:
        if cfg.style:  # best.pt keeps the negated loss (higher is better); the card shows the loss
            selected["value"] = -selected["value"]
        card["selected"] = selected
    if "init_card" in s:
        card.update(continuation(json.loads(s["init_card"]), cfg.name, steps, card["cpu_hours"]))
    if cfg.repair is not None and cfg.repair.role == "detect":  # the mask threshold, chosen on validation
        card.update(choose_threshold(model.eval(), cfg))
    for k, v in cfg.card.items():
        card.setdefault(k, v)
    if cfg.distill is not None:
        card["teacher"] = cfg.distill.teacher
        if "teacher_card" in s:
            card["teacher_model"] = json.loads(s["teacher_card"])
    save_model(model, Path(out), card)
    return card


def continuation(base: dict, run: str, steps: int, cpu_hours: float) -> dict:
    """Card fields of a run started from another model's weights: ``continues`` (the base's name, run, steps,
    CPU-hours, validation) and ``total_steps``/``total_cpu_hours`` (the base's totals plus this run's)."""
    keys = ("name", "run", "steps", "cpu_hours", "total_steps", "total_cpu_hours", "validation")
    out = {
        "continues": {
            **{k: base[k] for k in keys if k in base},
            "how": f"EMA weights of {base['name']} ({base['from']}), then this run ({run})",
        }
    }
    base_steps = base.get("total_steps", base.get("steps"))
    base_cpu = base.get("total_cpu_hours", base.get("cpu_hours"))
    if base_steps is not None:
        out["total_steps"] = int(base_steps) + steps
    if base_cpu is not None:
        out["total_cpu_hours"] = round(float(base_cpu) + cpu_hours, 2)
    return out


def style_validation_card(cfg: TrainConfig, rows: list[dict]) -> dict:
    """A style run's validation figures from the log: the weighted perceptual loss and its content and style
    terms on the held-out crops, at the last validation and at the best (lowest loss) one."""
    d = cfg.data
    rows = [r for r in rows if r.get("val_loss")]
    figures = lambda r: {k: float(r[k]) for k in ("val_loss", "val_content", "val_style") if r.get(k)}  # noqa: E731
    best = min(rows, key=lambda r: float(r["val_loss"])) if rows else None
    return {
        "set": f"last {d.val_count} of {d.train_dir}, {d.val_crop}² centre crops",
        "metric": "perceptual loss of restora.losses.style (content + style terms, the run's weights)",
        "last": figures(rows[-1]) if rows else None,
        "best": {"step": int(best["step"]), **figures(best)} if best else None,
    }


def validation_card(cfg: TrainConfig, rows: list[dict]) -> dict:
    """The card's validation figures from the log: held-out set, metric, last and best ``val_psnr``, per task
    (mixture), type accuracy (describing model), each extra figure (``data.val_extra``) and the selection."""
    d = cfg.data
    if d.mixture:
        metric = "PSNR dB per task, the run's own degradations (seeded per image); val_psnr = mean over tasks"
    elif d.val_pipeline:
        metric = f"PSNR dB, degradation pipeline '{d.val_pipeline}' (seeded per image)"
    else:
        metric = f"PSNR dB, Gaussian σ={d.val_sigma:g}, σ estimated (blind)"
    vals = [float(r["val_psnr"]) for r in rows if r.get("val_psnr")]
    crops = f"{d.val_crop}² centre crops" if d.val_crop > 0 else "whole photos"
    held_out = (
        [f"last {t.val_count} of {t.dir}" for t in d.sets] if d.sets else [f"last {d.val_count} of {d.train_dir}"]
    )
    if d.sets:
        metric += "; val_psnr = mean over the sets"
    validation = {
        "set": f"{', '.join(held_out)}, {crops}",
        "metric": metric,
        "last": vals[-1] if vals else None,
        "best": max(vals) if vals else None,
    }
    last_val = next((r for r in reversed(rows) if r.get("val_psnr")), None)
    if last_val is not None:
        per_task = {
            k.removeprefix("val_"): float(v)
            for k, v in last_val.items()
            if k.startswith("val_") and not k.startswith("val_psnr") and k != "val_acc" and v
        }
        if per_task:
            validation["per_task"] = per_task
        if last_val.get("val_acc"):
            validation["type_accuracy"] = float(last_val["val_acc"])
    for n in d.extra_names:
        col = [float(r[f"val_psnr_{n}"]) for r in rows if r.get(f"val_psnr_{n}")]
        what = (
            f"PSNR dB, real noisy/clean pairs of {d.val_real}"
            if n == "real" and d.val_real
            else f"PSNR dB, degradation pipeline '{n}' (seeded per image), same crops"
        )
        validation.setdefault("extra", {})[n] = {
            "metric": what,
            "last": col[-1] if col else None,
            "best": max(col) if col else None,
        }
    if cfg.select:
        figures = [
            selection_figure(cfg.select, {k: float(v) for k, v in r.items() if k.startswith("val_psnr") and v})
            for r in rows
            if r.get("val_psnr")
        ]
        figures = [f for f in figures if f is not None]
        validation["select"] = {
            "by": cfg.select,
            "last": round(figures[-1], 4) if figures else None,
            "best": round(max(figures), 4) if figures else None,
        }
    return validation
