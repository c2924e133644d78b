"""Fine-tune a denoiser on a user's own noisy photos, without clean references.

Objective: **recorrupted-to-recorrupted** (R2R; Pang et al., CVPR 2021) with the photos' own noise. For a
noisy photo y = x + n and a fresh noise sample ñ with the covariance of n, the pair

    ŷ = y + α·ñ,   ȳ = y − ñ/α

has independent noise (Cov(n + αñ, n − ñ/α) = Σ − Σ = 0 for Gaussian noise), so
E‖f(ŷ) − ȳ‖² = E‖f(ŷ) − x‖² + const: training f on (ŷ, ȳ) is training it towards the clean image, and
the held-out R2R loss estimates its error without a clean reference. It holds for spatially correlated
noise as long as ñ is correlated like n, which is why ñ comes from :class:`restora.adapt.noise_model.CameraNoise`
(spectrum, channel correlation and noise level function measured on the photos themselves). If the
model's noise is weaker than the real one, the target keeps part of the input's noise: the error is on the
side of denoising too little, not of smoothing detail away. α = ``ALPHA`` (0.5, as R2R uses), and the
σ map given to the network is the photo's estimated σ × √(1 + α²), the level of ŷ.

Keeping the model close to what it was (few photos, minutes of training):
* the weights are pulled toward the base model after every step (decoupled, like AdamW's weight decay
  but toward the base: θ ← θ − lr·``ANCHOR``·(θ − θ_base));
* an exponential moving average of the weights is what is evaluated and saved (the trainer's EMA idea);
* part of the photos is held out (a quarter of them with four or more photos, else the bottom quarter of
  each) and the R2R loss on it, with fixed noise draws, is the no-reference stopping criterion: the
  best EMA weights are kept, training stops after ``patience`` evaluations without improvement, and if
  nothing beats the base model the base weights are written unchanged (the card says so).

Resumable: state is saved beside the output (``OUTPUT.adapt-state.pt``, tensors and plain values only)
at every evaluation and read back with ``--resume``; it is removed once the model is written.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from restora.adapt.noise_model import CameraNoise, estimate_camera_noise
from restora.errors import BadInputError, ModelError, OutputError, RestoraError

ALPHA = 0.5
ANCHOR = 20.0  # pull toward the base per unit learning rate (lr · ANCHOR per step)
REGION = 512  # photos larger than this are sampled as REGION×REGION regions (bounds memory and preparation)
HELD_OUT_DRAWS = 2  # fixed noise draws per held-out crop
HELD_OUT_CROPS = 12


@dataclass
class AdaptConfig:
    minutes: float = 10.0
    steps: int | None = None  # also stop after this many steps (tests, reproducible runs)
    patch: int = 128
    batch: int = 4
    lr: float = 5e-5
    anchor: float = ANCHOR
    alpha: float = ALPHA
    ema_decay: float = 0.98
    eval_every: int = 20
    patience: int = 5
    regions_per_photo: int = 4
    seed: int = 0


@dataclass
class AdaptResult:
    output: Path
    steps: int
    seconds: float
    base_loss: float  # held-out R2R loss of the base model
    best_loss: float  # held-out R2R loss of the written model
    best_step: int
    improved: bool
    history: list[dict] = field(default_factory=list)  # {"step", "train_loss", "held_out"}
    card: dict = field(default_factory=dict)


@dataclass
class Region:
    pixels: np.ndarray  # (h, w, 3) float32
    sigma: np.ndarray  # (3,) estimated σ (0–255), as at inference


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_base(model: str | None):
    """(module, meta, path) of the model to adapt: a registered network or a .safetensors file."""
    from restora.engine.neural import load_module
    from restora.models.registry import default_method, get_spec

    name = model or default_method("denoise")
    spec = get_spec(name)
    if spec.path is None:
        if model is None:
            raise ModelError("no shipped neural denoiser to adapt yet: give --from MODEL.safetensors")
        raise ModelError(f"'{spec.name}' is not a network and cannot be adapted: give --from MODEL.safetensors")
    module, meta = load_module(spec.path)
    return module, meta, Path(spec.path)


def read_photos(paths: list[Path]) -> list[np.ndarray]:
    from restora.io import read_image

    if not paths:
        raise BadInputError("no photos given to adapt on")
    photos = []
    for p in paths:
        if not Path(p).is_file():
            raise BadInputError(f"{p}: no such file")
        photos.append(read_image(Path(p)).pixels)
    return photos


def _regions(photo: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    h, w, _ = photo.shape
    if h <= REGION and w <= REGION:
        return [photo]
    out = []
    for _ in range(count):
        y = int(rng.integers(0, max(1, h - REGION + 1)))
        x = int(rng.integers(0, max(1, w - REGION + 1)))
        out.append(photo[y : y + REGION, x : x + REGION])
    return out


MIN_PATCH = 32


def fit_patch(photos: list[np.ndarray], cfg: AdaptConfig) -> AdaptConfig:
    """The config with a training patch no larger than the photos allow (half their height when fewer than
    four photos, as the bottom part is held out), in steps of 16 px; at least MIN_PATCH."""
    from dataclasses import replace

    side = min(min(p.shape[:2]) for p in photos)
    if len(photos) < 4:
        side = min(side, min(p.shape[0] for p in photos) // 2)
    patch = min(cfg.patch, side // 16 * 16)
    if patch < MIN_PATCH:
        need = MIN_PATCH if len(photos) >= 4 else 2 * MIN_PATCH
        more = " (or give four or more, so whole photos can be held out)" if len(photos) < 4 else ""
        raise BadInputError(f"photos must be at least {need} pixels on each side to adapt on{more}")
    return replace(cfg, patch=patch)


def split_regions(photos: list[np.ndarray], cfg: AdaptConfig) -> tuple[list[Region], list[Region]]:
    """Training and held-out regions (module docstring), with the σ the model would be given."""
    from restora.engine.noise import estimate_sigma

    rng = np.random.default_rng([cfg.seed, 1])
    p = cfg.patch
    small = [i for i, ph in enumerate(photos) if min(ph.shape[:2]) < p]
    if small:
        raise BadInputError(f"photo {small[0] + 1} is smaller than the {p}-pixel training patch: adapt needs larger photos")
    train, held = [], []
    if len(photos) >= 4:
        order = rng.permutation(len(photos))
        n_held = max(1, int(round(0.25 * len(photos))))
        held_ids = set(order[:n_held].tolist())
        for i, ph in enumerate(photos):
            (held if i in held_ids else train).extend(_regions(ph, cfg.regions_per_photo, rng))
    else:
        for ph in photos:
            h = ph.shape[0]
            cut = min(h - p, int(round(0.75 * h)))
            if cut < p:
                raise BadInputError(f"photos must be at least {2 * p} pixels tall to hold a part out (or give four or more)")
            train.extend(_regions(ph[:cut], cfg.regions_per_photo, rng))
            held.extend(_regions(ph[cut:], cfg.regions_per_photo, rng))
    make = lambda px: Region(np.ascontiguousarray(px, np.float32), estimate_sigma(px))  # noqa: E731
    return [make(r) for r in train], [make(r) for r in held]


class R2RBatches:
    """Recorrupted pairs (ŷ, ȳ, σ map) drawn deterministically from (seed, step)."""

    def __init__(self, regions: list[Region], noise: CameraNoise, cfg: AdaptConfig):
        self.regions, self.noise, self.cfg = regions, noise, cfg
        areas = np.array([r.pixels.shape[0] * r.pixels.shape[1] for r in regions], np.float64)
        self.weights = areas / areas.sum()

    def pair(self, region: Region, y0: int, x0: int, size: int, rng: np.random.Generator):
        crop = region.pixels[y0 : y0 + size, x0 : x0 + size]
        n = self.noise.sample(crop, rng)
        a = self.cfg.alpha
        sigma = np.broadcast_to(region.sigma * math.sqrt(1 + a * a) / 255.0, crop.shape)
        return crop + a * n, crop - n / a, sigma

    def batch(self, step: int):
        rng = np.random.default_rng([self.cfg.seed, 2, step])
        p = self.cfg.patch
        inputs, targets, sigmas = [], [], []
        for _ in range(self.cfg.batch):
            r = self.regions[rng.choice(len(self.regions), p=self.weights)]
            h, w, _ = r.pixels.shape
            y0, x0 = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            i, t, s = self.pair(r, y0, x0, p, rng)
            inputs.append(i), targets.append(t), sigmas.append(s)
        return tuple(_tensor(a) for a in (inputs, targets, sigmas))

    def fixed_set(self, regions: list[Region], crops: int = HELD_OUT_CROPS, draws: int = HELD_OUT_DRAWS):
        """Held-out pairs with fixed crops and noise draws (the same for every evaluation)."""
        rng = np.random.default_rng([self.cfg.seed, 3])
        p = self.cfg.patch
        out = []
        for k in range(crops):
            r = regions[k % len(regions)]
            h, w, _ = r.pixels.shape
            y0, x0 = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            for _ in range(draws):
                out.append(tuple(_tensor([a]) for a in self.pair(r, y0, x0, p, rng)))
        return out


def _tensor(arrays) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays), np.float32)).permute(0, 3, 1, 2).contiguous()


def _forward(module, x, s):
    return module(x, s) if getattr(module, "uses_sigma", False) else module(x)


@torch.no_grad()
def held_out_loss(module, pairs) -> float:
    module.eval()
    losses = [torch.mean((_forward(module, x, s) - t) ** 2).item() for x, t, s in pairs]
    return float(np.mean(losses))


def _state_key(base_digest: str, photos: list[np.ndarray], cfg: AdaptConfig) -> str:
    h = hashlib.sha256(base_digest.encode())
    for p in photos:
        h.update(str(p.shape).encode())
        h.update(np.ascontiguousarray(p[::17, ::17]).tobytes())
    h.update(json.dumps({k: v for k, v in vars(cfg).items() if k not in ("minutes", "steps")}, sort_keys=True).encode())
    return h.hexdigest()[:24]


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".adapt-state.pt")


def adapt(photo_paths: list[Path], output: Path, base: str | None = None, cfg: AdaptConfig | None = None,
          resume: bool = False, progress: bool = True) -> AdaptResult:
    """Adapt ``base`` (default: the shipped denoiser) to the photos and write ``output`` (.safetensors)."""
    from restora.engine.neural import save_model

    entered = time.perf_counter()  # the budget covers reading and preparing the photos too
    cfg = cfg or AdaptConfig()
    output = Path(output)
    if output.suffix != ".safetensors":
        raise OutputError(f"{output}: the adapted model is a .safetensors file")
    if not output.parent.is_dir():
        raise OutputError(f"{output}: folder {output.parent} does not exist")
    if cfg.minutes <= 0 and not cfg.steps:
        raise RestoraError("--minutes must be more than 0")
    module, meta, base_path = load_base(base)
    if output.exists() and output.resolve() == base_path.resolve():
        raise OutputError(f"{output}: would overwrite the base model")
    photos = read_photos([Path(p) for p in photo_paths])
    cfg = fit_patch(photos, cfg)
    base_digest = _file_digest(base_path)
    key = _state_key(base_digest, photos, cfg)
    sp = state_path(output)
    if sp.exists() and not resume:
        raise OutputError(f"{sp} exists from an interrupted run: add --resume to continue it, or delete it")
    if resume and not sp.exists():
        raise OutputError(f"{sp}: there is no interrupted run to resume")

    torch.manual_seed(cfg.seed)
    train_regions, held_regions = split_regions(photos, cfg)
    noise = estimate_camera_noise([r.pixels for r in train_regions + held_regions])
    batches = R2RBatches(train_regions, noise, cfg)
    held = batches.fixed_set(held_regions)

    base_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    model = module.train()
    base_params = [p.detach().clone() for p in model.parameters()]
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step, seconds, history = 0, 0.0, []
    base_loss = held_out_loss(ema, held)
    best_loss, best_step, best_state, stale = base_loss, 0, None, 0
    if sp.exists():
        s = torch.load(sp, map_location="cpu", weights_only=True)
        if s.get("key") != key:
            raise OutputError(f"{sp} belongs to another run (other photos, base model or settings): delete it to start afresh")
        model.load_state_dict(s["model"]), ema.load_state_dict(s["ema"]), optimizer.load_state_dict(s["optimizer"])
        step, seconds, base_loss = int(s["step"]), float(s["seconds"]), float(s["base_loss"])
        best_loss, best_step, stale = float(s["best_loss"]), int(s["best_step"]), int(s["stale"])
        best_state = s.get("best")
        history = json.loads(s["history"])

    def save_state():
        tmp = sp.with_name(f".{sp.name}.tmp")
        state = {"key": key, "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                 "step": step, "seconds": seconds, "base_loss": base_loss, "best_loss": best_loss,
                 "best_step": best_step, "stale": stale, "history": json.dumps(history)}
        if best_state is not None:
            state["best"] = best_state
        torch.save(state, tmp)
        os.replace(tmp, sp)

    budget = cfg.minutes * 60.0 if cfg.minutes > 0 else float("inf")
    bar = _progress(progress, budget if math.isfinite(budget) else float(cfg.steps or 1))
    started = entered - seconds
    window: list[float] = []
    last_loss = float("nan")
    try:
        while True:
            seconds = time.perf_counter() - started
            if seconds >= budget or (cfg.steps is not None and step >= cfg.steps) or stale >= cfg.patience:
                break
            model.train()
            x, t, s = batches.batch(step)
            loss = torch.mean((_forward(model, x, s) - t) ** 2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
            with torch.no_grad():
                params = list(model.parameters())
                pull = cfg.lr * cfg.anchor
                torch._foreach_lerp_(params, base_params, pull)  # θ ← θ − pull·(θ − θ_base)
                torch._foreach_lerp_(list(ema.parameters()), params, 1.0 - cfg.ema_decay)
            step += 1
            last_loss = loss.item()
            window.append(last_loss)
            if step % cfg.eval_every == 0:
                current = held_out_loss(ema, held)
                history.append({"step": step, "train_loss": float(np.mean(window)), "held_out": current})
                window = []
                if current < best_loss:
                    best_loss, best_step, stale = current, step, 0
                    best_state = {k: v.detach().clone() for k, v in ema.state_dict().items()}
                else:
                    stale += 1
                seconds = time.perf_counter() - started
                save_state()
            if bar is not None:
                bar.update(seconds if math.isfinite(budget) else step, step=step, loss=last_loss,
                           held=history[-1]["held_out"] if history else base_loss)
    except KeyboardInterrupt:
        seconds = time.perf_counter() - started
        save_state()
        raise
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - started

    improved = best_state is not None
    final = copy.deepcopy(ema)
    final.load_state_dict(best_state if improved else base_state)
    card = _card(meta, base_path, base_digest, len(photos), len(held_regions), seconds, step, best_step,
                 base_loss, best_loss, improved, noise, cfg, output)
    save_model(final, output, card)
    sp.unlink(missing_ok=True)
    return AdaptResult(output, step, seconds, base_loss, best_loss, best_step, improved, history, card)


def _card(meta, base_path, digest, photos, held, seconds, steps, best_step, base_loss, best_loss, improved, noise, cfg, output) -> dict:
    base_card = meta.get("card", {})
    card = {k: v for k, v in base_card.items() if k not in ("validation", "config", "name")}
    card.update(
        name=output.stem,
        task="denoise",
        tasks=base_card.get("tasks", ["denoise"]),
        summary=f"{base_card.get('summary', 'denoiser')} — adapted by restora adapt to {photos} photo(s) of one camera",
        base_model={"name": base_card.get("name", base_path.stem), "file": base_path.name, "sha256": digest[:16],
                    "steps": base_card.get("steps")},
        adaptation={
            "photos": photos,
            "held_out": f"{held} region(s)",
            "minutes": round(seconds / 60.0, 2),
            "steps": steps,
            "best_step": best_step,
            "improved": improved,
            "objective": (f"recorrupted-to-recorrupted with the photos' own noise model (α={cfg.alpha}), weights pulled "
                          f"toward the base (anchor {cfg.anchor}), EMA {cfg.ema_decay}, best held-out loss kept"),
            "held_out_r2r_loss": {"base": round(base_loss, 8), "adapted": round(best_loss, 8)},
            "noise_model": noise.to_dict(),
            "settings": {"lr": cfg.lr, "batch": cfg.batch, "patch": cfg.patch, "seed": cfg.seed},
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        },
    )
    if not improved:
        card["adaptation"]["note"] = "no weights beat the base model on the held-out photos: the base weights are written unchanged"
    return card


class _Bar:
    def __init__(self, total: float):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("adapting"), BarColumn(), TimeElapsedColumn(),
                                 TextColumn("step {task.fields[step]} · loss {task.fields[loss]:.2e} · held-out {task.fields[held]:.2e}"),
                                 transient=False)
        self.progress.start()
        self.task = self.progress.add_task("adapt", total=total, step=0, loss=0.0, held=0.0)

    def update(self, completed: float, **fields):
        self.progress.update(self.task, completed=completed, **fields)

    def close(self):
        self.progress.stop()


def _progress(enabled: bool, total: float):
    return _Bar(total) if enabled else None
