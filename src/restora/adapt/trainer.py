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
side of denoising too little. α = ``ALPHA`` (0.5, as R2R uses), and the
σ map given to the network is the photo's estimated σ × √(1 + α²), the level of ŷ. ñ is drawn at the low
end of the noise model's level range (``AdaptConfig.train_level``; on PolyU50's Sony photos training at the
high end was worse: −1.14 dB against −0.86 dB before the criterion below).

Keeping the model close to what it was (few photos, minutes of training):
* the weights are pulled toward the base model after every step (decoupled, like AdamW's weight decay
  but toward the base: θ ← θ − lr·``ANCHOR``·(θ − θ_base));
* an exponential moving average of the weights is what is evaluated and saved (the trainer's EMA idea);
* part of the photos is held out (a quarter of them with four or more photos, else the bottom quarter of
  each) and judged by a **no-reference criterion** (noisy photos only): the best EMA weights that pass
  it are kept, training stops after ``patience`` evaluations without an accepted improvement, and if no
  weights pass, the base weights are written unchanged (the card says so).

The criterion has two parts, because R2R judges the weights with the same noise model they were trained
with, and a wrong noise model misleads both together:
1. **R2R at both ends of the noise level range** (:mod:`restora.adapt.noise_model`): the held-out R2R loss
   with fixed crops and noise draws, at the low and the high σ (same draws, only σ differs). With the
   noise model's σ too low the R2R target keeps part of the real noise (E[f(ŷ)] − x picks up (Σ − Σ̃)), so
   the loss rewards denoising less; too high, it rewards smoothing. The score is the *smallest* relative
   fall from the base model's loss over the two ends (:func:`improvement`): weights must win whichever end
   is right.
2. **No more removed structure than the base** (:func:`removed_structure`): the adapted model denoises the
   real held-out photos (centre crops) and what it removes is compared with its output by
   :func:`restora.explain.residual.detail_at_risk` (the "method noise" test: noise is independent of the
   picture, so a residual that follows the output's edges and texture took detail with it). Its
   texture-weighted at-risk share may not exceed the base model's, the share that a sample of the camera's
   own noise in place of the residual reaches on the same crops (correlated noise gives some by chance),
   or ``restora explain``'s "contains image structure" level, whichever is highest (:func:`structure_limit`).
   It is computed only for candidates (weights whose R2R score beats the best so far).
   Why: on PolyU50's Sony photos the noise model's spectrum (measured in flat tiles, where JPEG removed the
   high frequencies) is more low-frequency than the real noise; adapting taught the network to remove
   low-frequency picture content, the held-out R2R loss fell at both ends of the range (6 % at the low end) while the
   true PSNR fell by 0.86 dB, and the at-risk share of the residual rose from 0.01–0.1 to 0.24–0.41
   (Canon80D, which gains 1 dB, stays near 0.03). The test errs on the safe side: on Canon600D it also turns
   down weights that gained 0.6 dB in truth (at-risk share 0.12 → 0.21), and the base is kept.

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
from datetime import datetime, UTC
from pathlib import Path

import numpy as np
import torch

from restora.adapt.noise_model import CameraNoise, estimate_camera_noise
from restora.errors import BadInputError, ModelError, OutputError
from restora.engine.catalogue import default_method, get_spec
from restora.engine.noise import estimate_sigma
from restora.explain.residual import STRUCTURE_THRESHOLD, detail_at_risk
from restora.io import read_image
from restora.models.modelfile import load_module, save_model
from restora.train.ema import pull_towards, update_ema

ALPHA = 0.5
LOW, HIGH = 0.0, 1.0  # the ends of the noise level range (noise_model)
CRITERION_LEVELS = (LOW, HIGH)
HELD_OUT_BATCH = 8
STRUCTURE_REGIONS = 6  # held-out regions (centre crops) checked for removed structure
STRUCTURE_CROP = 256
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
    train_level: float = 0.0  # where in the noise level range the training noise is drawn (0 low … 1 high)
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
    base_loss: float  # held-out R2R loss of the base model (low end of the noise level range)
    best_loss: float  # held-out R2R loss of the written model (low end of the noise level range)
    best_step: int
    improved: bool
    history: list[dict] = field(
        default_factory=list
    )  # {"step", "train_loss", "held_out", "held_out_high", "improvement", "structure"}
    card: dict = field(default_factory=dict)
    improvement: float = 0.0  # the R2R score of the written weights (worst-case relative fall; 0 for the base)


@dataclass
class Region:
    pixels: np.ndarray  # (h, w, 3) float32
    sigma: np.ndarray  # (3,) estimated σ (0–255), as at inference


def _file_digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def load_base(model: str | None):
    """(module, meta, path) of the model to adapt: a registered network or a .safetensors file."""
    name = model or default_method("denoise")
    spec = get_spec(name)
    if spec.path is None:
        if model is None:
            raise ModelError("no shipped neural denoiser to adapt yet: give --from MODEL.safetensors")
        raise ModelError(f"'{spec.name}' is not a network and cannot be adapted: give --from MODEL.safetensors")
    module, meta = load_module(spec.path)
    return module, meta, Path(spec.path)


def read_photos(paths: list[Path]) -> list[np.ndarray]:
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
    rng = np.random.default_rng([cfg.seed, 1])
    p = cfg.patch
    small = [i for i, ph in enumerate(photos) if min(ph.shape[:2]) < p]
    if small:
        raise BadInputError(
            f"photo {small[0] + 1} is smaller than the {p}-pixel training patch: adapt needs larger photos"
        )
    train: list[np.ndarray] = []  # regions of the photos (pixels), to train on and held out
    held: list[np.ndarray] = []
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
                raise BadInputError(
                    f"photos must be at least {2 * p} pixels tall to hold a part out (or give four or more)"
                )
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
        n = self.noise.sample(crop, rng, self.cfg.train_level)
        return self._recorrupt(region, crop, n)

    def _recorrupt(self, region: Region, crop: np.ndarray, n: np.ndarray):
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
            inputs.append(i)
            targets.append(t)
            sigmas.append(s)
        return tuple(_tensor(a) for a in (inputs, targets, sigmas))

    def fixed_set(
        self,
        regions: list[Region],
        crops: int = HELD_OUT_CROPS,
        draws: int = HELD_OUT_DRAWS,
        levels: tuple[float, ...] = CRITERION_LEVELS,
    ) -> dict[float, list]:
        """Held-out pairs with fixed crops and noise draws (the same for every evaluation), one set per noise
        level of the criterion; the levels share the draws (only σ differs), so they differ by the level alone."""
        rng = np.random.default_rng([self.cfg.seed, 3])
        p = self.cfg.patch
        out: dict[float, list] = {lv: [] for lv in levels}
        for k in range(crops):
            r = regions[k % len(regions)]
            h, w, _ = r.pixels.shape
            y0, x0 = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            crop = r.pixels[y0 : y0 + p, x0 : x0 + p]
            for _ in range(draws):
                unit = self.noise.unit_noise(p, p, rng)
                for lv in levels:
                    out[lv].append(self._recorrupt(r, crop, unit * self.noise.level_map(crop, lv)))
        return {
            lv: [
                tuple(_tensor(list(a)) for a in zip(*pairs[i : i + HELD_OUT_BATCH]))
                for i in range(0, len(pairs), HELD_OUT_BATCH)
            ]
            for lv, pairs in out.items()
        }


def _tensor(arrays) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays), np.float32)).permute(0, 3, 1, 2).contiguous()


def _forward(module, x, s):
    return module(x, s) if getattr(module, "uses_sigma", False) else module(x)


@torch.no_grad()
def held_out_loss(module, batches) -> float:
    """Mean R2R loss over held-out batches (x, target, σ map) of equal-sized crops."""
    module.eval()
    total, count = 0.0, 0
    for x, t, s in batches:
        total += torch.sum((_forward(module, x, s) - t) ** 2).item()
        count += t.numel()
    return total / count


def structure_set(
    regions: list[Region], noise: CameraNoise, count: int = STRUCTURE_REGIONS, crop: int = STRUCTURE_CROP, seed: int = 0
) -> list[tuple]:
    """Centre crops of held-out regions as the model will see them (the real noisy pixels, σ map as at
    inference), with the noise σ map (0–255, high end of the range) that sets what counts as texture and a
    fixed sample of the camera's noise (the null: what removing noise alone looks like)."""
    rng = np.random.default_rng([seed, 4])
    out = []
    for r in regions[:count]:
        h, w, _ = r.pixels.shape
        ch, cw = min(crop, h) // 16 * 16, min(crop, w) // 16 * 16
        if ch < 16 or cw < 16:
            continue
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        px = np.ascontiguousarray(r.pixels[y0 : y0 + ch, x0 : x0 + cw])
        sigma = np.broadcast_to(r.sigma / 255.0, px.shape)
        out.append((px, _tensor([px]), _tensor([sigma]), noise.level_map(px, HIGH) * 255.0, noise.sample(px, rng)))
    return out


@torch.no_grad()
def removed_structure(module, crops: list[tuple], null: bool = False) -> float:
    """Share of the held-out photos' textured area where what the model removes follows the picture: the
    texture-weighted at-risk fraction of :func:`restora.explain.residual.detail_at_risk` (module docstring).
    ``null``: the same measure with the camera's noise sample in place of what was removed, i.e. what a
    model that removed exactly noise would show (correlated noise alone reaches some "risk" by chance)."""
    module.eval()
    at_risk, weight = 0.0, 0.0
    for px, x, s, sigma_map, sample in crops:
        out = np.clip(_forward(module, x, s)[0].permute(1, 2, 0).numpy(), 0.0, 1.0)
        risk = detail_at_risk(out, sample if null else px - out, sigma_map)
        w = float(risk.texture.sum())
        at_risk, weight = at_risk + risk.at_risk_fraction * w, weight + w
    return at_risk / weight if weight > 0 else 0.0


def structure_limit(base_structure: float, null_structure: float = 0.0) -> float:
    """The most removed structure the adapted weights may show: the base model's, what removing the camera's
    noise alone shows (the null), or the level at which ``restora explain`` reads a residual as "contains
    image structure", whichever is highest: the adapted model must not take more of the picture than the
    base does, beyond what chance gives on these photos."""
    return max(base_structure, null_structure, STRUCTURE_THRESHOLD)


def held_out_losses(module, held: dict[float, list]) -> dict[float, float]:
    """The held-out R2R loss at every noise level of the criterion."""
    return {lv: held_out_loss(module, batches) for lv, batches in held.items()}


def improvement(losses: dict[float, float], base: dict[float, float]) -> float:
    """The no-reference criterion: the *smallest* relative fall of the held-out R2R loss from the base model's,
    over the noise levels (module docstring). Positive only if the weights beat the base at every level."""
    return min((base[lv] - losses[lv]) / base[lv] for lv in base)


def _state_key(base_digest: str, photos: list[np.ndarray], cfg: AdaptConfig) -> str:
    h = hashlib.sha256(base_digest.encode())
    for p in photos:
        h.update(str(p.shape).encode())
        h.update(np.ascontiguousarray(p[::17, ::17]).tobytes())
    h.update(json.dumps({k: v for k, v in vars(cfg).items() if k not in ("minutes", "steps")}, sort_keys=True).encode())
    return h.hexdigest()[:24]


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".adapt-state.pt")


def adapt(
    photo_paths: list[Path],
    output: Path,
    base: str | None = None,
    cfg: AdaptConfig | None = None,
    resume: bool = False,
    progress: bool = True,
) -> AdaptResult:
    """Adapt ``base`` (default: the shipped denoiser) to the photos and write ``output`` (.safetensors)."""
    entered = time.perf_counter()  # the budget covers reading and preparing the photos too
    cfg = cfg or AdaptConfig()
    output = Path(output)
    if output.suffix != ".safetensors":
        raise OutputError(f"{output}: the adapted model is a .safetensors file")
    if not output.parent.is_dir():
        raise OutputError(f"{output}: folder {output.parent} does not exist")
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
    crops = structure_set(held_regions, noise, seed=cfg.seed)
    base_losses = held_out_losses(ema, held)
    base_structure = removed_structure(ema, crops)
    null_structure = removed_structure(ema, crops, null=True)
    limit = structure_limit(base_structure, null_structure)
    best_losses, best_gain, best_structure = dict(base_losses), 0.0, base_structure
    best_step, best_state, stale = 0, None, 0
    if sp.exists():
        s = torch.load(sp, map_location="cpu", weights_only=True)
        if s.get("key") != key:
            raise OutputError(
                f"{sp} belongs to another run (other photos, base model or settings): delete it to start afresh"
            )
        model.load_state_dict(s["model"]), ema.load_state_dict(s["ema"]), optimizer.load_state_dict(s["optimizer"])
        step, seconds = int(s["step"]), float(s["seconds"])
        levels = lambda text: {float(k): v for k, v in json.loads(text).items()}  # noqa: E731
        base_losses, best_losses = levels(s["base_losses"]), levels(s["best_losses"])
        best_gain, best_step, stale = float(s["best_gain"]), int(s["best_step"]), int(s["stale"])
        best_structure = float(s["best_structure"])
        best_state = s.get("best")
        history = json.loads(s["history"])

    def save_state():
        tmp = sp.with_name(f".{sp.name}.tmp")
        state = {
            "key": key,
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "seconds": seconds,
            "base_losses": json.dumps(base_losses),
            "best_losses": json.dumps(best_losses),
            "best_gain": best_gain,
            "best_step": best_step,
            "best_structure": best_structure,
            "stale": stale,
            "history": json.dumps(history),
        }
        if best_state is not None:
            state["best"] = best_state
        torch.save(state, tmp)
        os.replace(tmp, sp)

    budget = cfg.minutes * 60.0 if cfg.minutes > 0 else float("inf")
    bar = _progress(progress, budget if math.isfinite(budget) else (float(cfg.steps) if cfg.steps else None))
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
                pull_towards(params, base_params, pull)  # θ ← θ − pull·(θ − θ_base)
                update_ema(ema, model, cfg.ema_decay, copy_buffers=False)
            step += 1
            last_loss = loss.item()
            window.append(last_loss)
            if step % cfg.eval_every == 0:
                current = held_out_losses(ema, held)
                gain = improvement(current, base_losses)
                entry = {
                    "step": step,
                    "train_loss": float(np.mean(window)),
                    "held_out": current[LOW],
                    "held_out_high": current[HIGH],
                    "improvement": gain,
                    "structure": None,
                }
                history.append(entry)
                window = []
                if gain > best_gain:  # a candidate: checked for removed structure (only then, it costs a pass)
                    entry["structure"] = removed_structure(ema, crops)
                if entry["structure"] is not None and entry["structure"] <= limit:
                    best_losses, best_gain, best_structure, best_step, stale = (
                        current,
                        gain,
                        entry["structure"],
                        step,
                        0,
                    )
                    best_state = {k: v.detach().clone() for k, v in ema.state_dict().items()}
                else:
                    stale += 1
                seconds = time.perf_counter() - started
                save_state()
            if bar is not None:
                bar.update(
                    seconds if math.isfinite(budget) else step,
                    step=step,
                    loss=last_loss,
                    held=history[-1]["held_out"] if history else base_losses[LOW],
                )
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
    card = _card(
        meta,
        base_path,
        base_digest,
        len(photos),
        len(held_regions),
        seconds,
        step,
        best_step,
        base_losses,
        best_losses,
        best_gain,
        (base_structure, best_structure, null_structure, limit),
        improved,
        noise,
        cfg,
        output,
    )
    save_model(final, output, card)
    sp.unlink(missing_ok=True)
    return AdaptResult(
        output,
        step,
        seconds,
        base_losses[LOW],
        best_losses[LOW],
        best_step,
        improved,
        history,
        card,
        improvement=best_gain,
    )


def _card(
    meta,
    base_path,
    digest,
    photos,
    held,
    seconds,
    steps,
    best_step,
    base_losses,
    best_losses,
    best_gain,
    structure,
    improved,
    noise,
    cfg,
    output,
) -> dict:
    base_card = meta.get("card", {})
    card = {k: v for k, v in base_card.items() if k not in ("validation", "config", "name")}
    card.update(
        name=output.stem,
        task="denoise",
        tasks=base_card.get("tasks", ["denoise"]),
        summary=f"{base_card.get('summary', 'denoiser')} — adapted by restora adapt to {photos} photo(s) of one camera",
        base_model={
            "name": base_card.get("name", base_path.stem),
            "file": base_path.name,
            "sha256": digest[:16],
            "steps": base_card.get("steps"),
        },
        adaptation={
            "photos": photos,
            "held_out": f"{held} region(s)",
            "minutes": round(seconds / 60.0, 2),
            "steps": steps,
            "best_step": best_step,
            "improved": improved,
            "objective": (
                f"recorrupted-to-recorrupted with the photos' own noise model (α={cfg.alpha}, noise level "
                f"{cfg.train_level:g} of its range), weights pulled "
                f"toward the base (anchor {cfg.anchor}), EMA {cfg.ema_decay}, best held-out loss kept"
            ),
            "held_out_r2r_loss": {"base": round(base_losses[LOW], 8), "adapted": round(best_losses[LOW], 8)},
            "held_out_r2r_loss_high_noise": {
                "base": round(base_losses[HIGH], 8),
                "adapted": round(best_losses[HIGH], 8),
            },
            "criterion": (
                "held-out R2R loss lower than the base model's at both ends of the noise level range "
                f"(worst-case relative fall {best_gain:.4f}), and no more image structure in what it removes "
                "from the held-out photos than allowed"
            ),
            "removed_structure": {
                "base": round(structure[0], 4),
                "adapted": round(structure[1], 4),
                "noise_alone": round(structure[2], 4),
                "limit": round(structure[3], 4),
            },
            "noise_model": noise.to_dict(),
            "settings": {"lr": cfg.lr, "batch": cfg.batch, "patch": cfg.patch, "seed": cfg.seed},
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        },
    )
    if not improved:
        card["adaptation"]["note"] = (
            "no weights beat the base model on the held-out photos: the base weights are written unchanged"
        )
    return card


class _Bar:
    def __init__(self, total: float | None):  # None: no time or step limit, an open-ended bar
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("adapting"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("step {task.fields[step]} · loss {task.fields[loss]:.2e} · held-out {task.fields[held]:.2e}"),
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("adapt", total=total, step=0, loss=0.0, held=0.0)

    def update(self, completed: float, **fields):
        self.progress.update(self.task, completed=completed, **fields)

    def close(self):
        self.progress.stop()


def _progress(enabled: bool, total: float | None):
    return _Bar(total) if enabled else None
