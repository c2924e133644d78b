r"""Physical damage of old prints: scratches, dust, blotches, folds and torn corners, each with its true mask.

A damage operator paints a *matte* :math:`a \in [0, 1]^{H \times W}` (how much of each pixel the damage covers,
antialiased) in a colour field :math:`v` and composites it over the photo:

.. math::  a' = a\,[a > \tau], \qquad y = (1 - a')\,x + a'\,v, \qquad M = [a > \tau]

with :math:`\tau` = :data:`MASK_THRESHOLD` (coverage below it is invisible and dropped): the true mask
:math:`M` marks exactly the pixels the damage changed (white = damaged, the pixels an inpainter must fill). ``damage(x, rng)`` returns ``(y, M)``;
calling the operator returns ``y`` alone, so damage composes with the other degradations
(:mod:`restora.degrade.base`). Every random choice is drawn from ``rng``: one seed, one damage.

>>> import numpy as np
>>> x = np.full((64, 64, 3), 0.5, np.float32)
>>> y = Scratches(count=(3, 3))(x, np.random.default_rng(0))
>>> y2, m = Scratches(count=(3, 3)).damage(x, np.random.default_rng(0))
>>> bool(np.array_equal(y, y2)), m.dtype, bool(np.all(y[~m] == x[~m]))
(True, dtype('bool'), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from restora.degrade.base import Degradation, uniform
from restora.degrade.noise import GaussianNoise

MASK_THRESHOLD = 0.03  # coverage below this is dropped (invisible); every pixel the damage changes is in the mask
SUPERSAMPLE = 4  # curves are drawn at 4× and area-averaged down: sub-pixel widths, antialiased edges


class Damage(Degradation):
    """Base class: :meth:`matte` draws the damage's coverage and colour; :meth:`damage` composites them."""

    def matte(
        self, shape: tuple[int, int], image: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(coverage ``a`` (H, W) float32 in [0, 1], colour ``v`` (H, W, 3) or (3,) float32)."""
        raise NotImplementedError  # pragma: no cover

    def damage(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        a, v = self.matte(image.shape[:2], image, rng)
        a = np.where(a > MASK_THRESHOLD, a, 0.0)[..., None]
        y = np.where(a > 0, (1.0 - a) * image + a * v, image).astype(np.float32)  # untouched pixels stay exact
        return y, a[..., 0] > 0

    def __call__(self, image, rng):
        return self.damage(image, rng)[0]


def _downsample(canvas: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    return cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)


def _tone(rng: np.random.Generator, bright: float) -> float:
    """A damage's grey level: near white (emulsion scraped off to paper) with probability ``bright``, else dark."""
    return float(rng.uniform(0.8, 1.0)) if rng.random() < bright else float(rng.uniform(0.0, 0.25))


def _curve(rng: np.random.Generator, h: int, w: int, length: tuple[float, float], bend: float) -> np.ndarray:
    """Points (N, 2) (x, y) of a quadratic Bézier curve: random start, direction, length (fraction of the diagonal)
    and bend (control point offset, fraction of the length)."""
    diag = float(np.hypot(h, w))
    start = np.array([rng.uniform(0, w), rng.uniform(0, h)])
    angle = rng.uniform(0, np.pi)
    span = uniform(rng, length) * diag
    end = start + span * np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-np.sin(angle), np.cos(angle)])
    control = (start + end) / 2 + normal * rng.uniform(-bend, bend) * span
    t = np.linspace(0, 1, max(8, int(span / 4)))[:, None]
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end


class Scratches(Damage):
    r"""Thin curved scratches: :math:`n` quadratic Bézier curves of width :math:`w` px, grey level :math:`v`
    (mostly bright: scraped emulsion) and Gaussian blur :math:`s` px of the matte, each drawn per scratch.

    :math:`a = \min(1, \sum_k G_{s_k} * \mathbb{1}[\text{dist}(p, C_k) < w_k / 2])`, with :math:`n`, :math:`w`,
    :math:`s`, :math:`v` uniform in ``count``, ``width``, ``blur`` and the bright/dark tones.

    >>> x = np.zeros((128, 128, 3), np.float32)
    >>> y, m = Scratches(count=(2, 2), width=(1, 1), blur=(0, 0), bright=1.0).damage(x, np.random.default_rng(1))
    >>> bool(0.001 < m.mean() < 0.05), bool(y.max() > 0.5)
    (True, True)
    """

    def __init__(
        self, count=(1, 6), width=(0.7, 3.0), blur=(0.0, 1.0), length=(0.2, 0.9), bend=0.3, bright: float = 0.8
    ):
        self.count, self.width, self.blur, self.length, self.bend, self.bright = (
            tuple(count),
            tuple(width),
            tuple(blur),
            tuple(length),
            bend,
            bright,
        )

    def matte(self, shape, image, rng):
        h, w = shape
        a = np.zeros((h, w), np.float32)
        v = np.zeros((h, w), np.float32)
        for _ in range(int(round(uniform(rng, self.count)))):
            canvas = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
            pts = _curve(rng, h, w, self.length, self.bend) * SUPERSAMPLE
            thickness = max(1, int(round(uniform(rng, self.width) * SUPERSAMPLE)))
            cv2.polylines(canvas, [np.round(pts).astype(np.int32)], False, 255, thickness, cv2.LINE_AA)
            one = _downsample(canvas.astype(np.float32) / 255.0, shape)
            s = uniform(rng, self.blur)
            if s > 0.05:
                one = cv2.GaussianBlur(one, (0, 0), s)
            strength = rng.uniform(0.6, 1.0)  # a scratch does not always go through the emulsion
            tone = _tone(rng, self.bright)
            one = one * strength
            v = np.where(one > a, tone, v)
            a = np.maximum(a, one)
        return a, v[..., None]


class Dust(Damage):
    r"""Dust specks and hairs: :math:`n` small discs of radius :math:`r` px (and a few short hairs), dark or bright.

    :math:`a = \max_k \mathbb{1}[\lVert p - c_k \rVert < r_k]` (antialiased), :math:`n` uniform in ``count``
    per megapixel-equivalent of a 256² crop, :math:`r` log-uniform in ``radius``.

    >>> x = np.full((128, 128, 3), 0.5, np.float32)
    >>> y, m = Dust(count=(40, 40)).damage(x, np.random.default_rng(0))
    >>> bool(0.001 < m.mean() < 0.1)
    True
    """

    def __init__(self, count=(10, 120), radius=(0.5, 3.0), hair_prob: float = 0.1, bright: float = 0.5):
        self.count, self.radius, self.hair_prob, self.bright = tuple(count), tuple(radius), hair_prob, bright

    def matte(self, shape, image, rng):
        h, w = shape
        canvas = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.float32)
        tones = np.zeros_like(canvas)
        n = int(round(uniform(rng, self.count) * h * w / 256**2))
        lo, hi = np.log(self.radius[0]), np.log(self.radius[1])
        for _ in range(n):
            tone = _tone(rng, self.bright)
            c = (int(rng.uniform(0, w) * SUPERSAMPLE), int(rng.uniform(0, h) * SUPERSAMPLE))
            one = np.zeros_like(canvas)
            if rng.random() < self.hair_prob:
                pts = _curve(rng, h, w, (0.02, 0.08), 0.8) * SUPERSAMPLE
                pts += np.array(c) - pts[0]
                cv2.polylines(one, [np.round(pts).astype(np.int32)], False, 1.0, SUPERSAMPLE, cv2.LINE_AA)
            else:
                r = np.exp(rng.uniform(lo, hi)) * SUPERSAMPLE
                axes = (max(1, int(r)), max(1, int(r * rng.uniform(0.5, 1.0))))
                cv2.ellipse(one, c, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
            tones = np.where(one > canvas, tone, tones)
            canvas = np.maximum(canvas, one)
        return _downsample(canvas, shape), _downsample(tones, shape)[..., None]


class Blotches(Damage):
    r"""Stains and lost emulsion: :math:`n` irregular blobs of radius :math:`R` px, the thresholded sum of a
    disc and smoothed noise, filled with a flat tone plus paper texture.

    :math:`a = G_1 * \mathbb{1}[\,d_k(p) / R_k + 0.5\,\eta(p) < 1\,]` with :math:`d_k` the distance to the blob's
    centre and :math:`\eta` Gaussian noise smoothed at :math:`R/3`, so edges are ragged.

    >>> x = np.full((128, 128, 3), 0.5, np.float32)
    >>> y, m = Blotches(count=(1, 1), radius=(20, 20)).damage(x, np.random.default_rng(0))
    >>> bool(0.02 < m.mean() < 0.5)
    True
    """

    def __init__(self, count=(1, 3), radius=(6.0, 40.0), bright: float = 0.7):
        self.count, self.radius, self.bright = tuple(count), tuple(radius), bright

    def matte(self, shape, image, rng):
        h, w = shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = np.zeros((h, w), np.float32)
        for _ in range(int(round(uniform(rng, self.count)))):
            r = uniform(rng, self.radius)
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), max(1.0, r / 3))
            noise /= noise.std() + 1e-6
            d = np.hypot((yy - cy) * rng.uniform(0.6, 1.4), xx - cx) / r
            blob = (d + 0.25 * noise < 1).astype(np.float32)
            a = np.maximum(a, cv2.GaussianBlur(blob, (0, 0), rng.uniform(0.5, 1.5)))
        tone = _tone(rng, self.bright)
        texture = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 2.0) * 0.03
        paper = np.float32([1.0, rng.uniform(0.93, 1.0), rng.uniform(0.82, 1.0)])  # yellowed paper
        v = np.clip(tone + texture, 0, 1)[..., None] * paper
        return a, v.astype(np.float32)


class Crease(Damage):
    r"""A fold: a long, gently bent line across the photo, a bright crack :math:`w` px wide with small
    branches, and a faint dark shadow along one side (the shadow changes the pixels, so it is in the mask too).

    :math:`a = \max(A_{\text{crack}}, 0.3\,A_{\text{shadow}})` with the crack drawn as :class:`Scratches` are.

    >>> x = np.full((128, 128, 3), 0.4, np.float32)
    >>> y, m = Crease().damage(x, np.random.default_rng(0))
    >>> bool(0.005 < m.mean() < 0.3)
    True
    """

    def __init__(self, width=(1.5, 5.0), branches=(2, 10)):
        self.width, self.branches = tuple(width), tuple(branches)

    def matte(self, shape, image, rng):
        h, w = shape
        big = (h * SUPERSAMPLE, w * SUPERSAMPLE)
        crack = np.zeros(big, np.uint8)
        pts = _curve(rng, h, w, (1.0, 1.4), 0.08)
        centre = pts.mean(0)
        pts = pts - centre + np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])  # crosses the photo
        pts += np.cumsum(rng.normal(0, 0.3, pts.shape), axis=0)  # a fold is never quite straight
        width = uniform(rng, self.width)
        cv2.polylines(
            crack,
            [np.round(pts * SUPERSAMPLE).astype(np.int32)],
            False,
            255,
            max(1, int(width * SUPERSAMPLE)),
            cv2.LINE_AA,
        )
        for _ in range(int(round(uniform(rng, self.branches)))):
            start = pts[rng.integers(len(pts))]
            branch = _curve(rng, h, w, (0.02, 0.1), 0.5)
            branch += start - branch[0]
            cv2.polylines(
                crack,
                [np.round(branch * SUPERSAMPLE).astype(np.int32)],
                False,
                255,
                max(1, int(width * SUPERSAMPLE / 3)),
                cv2.LINE_AA,
            )
        a_crack = _downsample(crack.astype(np.float32) / 255, shape)
        shift = np.float32([[1, 0, rng.uniform(-1, 1) * width * 1.5], [0, 1, rng.uniform(-1, 1) * width * 1.5]])
        shadow = cv2.GaussianBlur(cv2.warpAffine(a_crack, shift, (w, h)), (0, 0), width) * 0.3
        tone = float(rng.uniform(0.8, 1.0))
        v = np.where(a_crack >= shadow, tone, 0.1).astype(np.float32)
        return np.maximum(a_crack, shadow), v[..., None]


class TornCorner(Damage):
    r"""A torn-off corner: a jagged polygon cut from one corner (up to ``size`` of the short side), showing the
    mount behind it in a flat light or dark tone.

    :math:`a = \mathbb{1}[p \in P]` (antialiased), :math:`P` the corner's polygon with a random-walk tear edge.

    >>> x = np.full((100, 100, 3), 0.5, np.float32)
    >>> y, m = TornCorner(size=(0.3, 0.3)).damage(x, np.random.default_rng(0))
    >>> bool(0.01 < m.mean() < 0.2)
    True
    """

    def __init__(self, size=(0.1, 0.35), bright: float = 0.7):
        self.size, self.bright = tuple(size), bright

    def matte(self, shape, image, rng):
        h, w = shape
        s = uniform(rng, self.size) * min(h, w) * SUPERSAMPLE
        n = 24
        t = np.linspace(0, 1, n)
        edge = np.stack([s * (1 - t) * rng.uniform(0.6, 1.4), s * t * rng.uniform(0.6, 1.4)], 1)  # x, y
        edge += rng.normal(0, s * 0.04, edge.shape).cumsum(0) * 0.5
        poly = np.vstack([[0, 0], edge]).astype(np.int32)
        canvas = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
        cv2.fillPoly(canvas, [poly], 255, cv2.LINE_AA)
        canvas = canvas[:: rng.choice([1, -1]), :: rng.choice([1, -1])]  # any of the four corners
        a = _downsample(np.ascontiguousarray(canvas).astype(np.float32) / 255, shape)
        return a, np.float32([_tone(rng, self.bright)] * 3)


class RandomDamage(Damage):
    """Several kinds of damage on one photo: each operator applied with its probability (at least one), masks
    united. The old-photo training and benchmark damage: ``RandomDamage.default()``."""

    def __init__(self, ops: Sequence[Damage], probs: Sequence[float]):
        self.ops, self.probs = list(ops), list(probs)

    @classmethod
    def default(cls) -> RandomDamage:
        return cls([Scratches(), Dust(), Blotches(), Crease(), TornCorner()], [0.7, 0.5, 0.3, 0.2, 0.1])

    def damage(self, image, rng):
        chosen = [i for i, p in enumerate(self.probs) if rng.random() < p] or [int(rng.integers(len(self.ops)))]
        mask = np.zeros(image.shape[:2], bool)
        for i in chosen:
            image, m = self.ops[i].damage(image, rng)
            mask |= m
        return image, mask


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` grown by ``pixels`` (a disc): fills cover the soft edges around damage too."""
    if pixels <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


SEPIA = np.array([1.0, 0.85, 0.65], np.float32)


class EitherDamage(Damage):
    """One of several damages per photo, drawn with equal odds: ``balanced`` training gives thin and large holes
    the same share of crops, where ``mixed`` damage is mostly thin."""

    def __init__(self, kinds: Sequence[Damage]):
        self.kinds = list(kinds)

    def damage(self, image, rng):
        return self.kinds[int(rng.integers(len(self.kinds)))].damage(image, rng)


def damage_kind(holes: str) -> Damage:
    """The damage of a run or validation group: ``mixed`` (all kinds), ``thin`` (scratches and dust), ``large``
    (blotches and torn corners) or ``balanced`` (thin or large, even odds per photo)."""
    if holes == "balanced":
        return EitherDamage([damage_kind("thin"), damage_kind("large")])
    if holes == "thin":
        return RandomDamage([Scratches(), Dust()], [0.8, 0.6])
    if holes == "large":
        return RandomDamage([Blotches(radius=(10.0, 40.0)), TornCorner()], [0.85, 0.3])
    return RandomDamage.default()


def age_photo(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A clean crop made to look like an old print before it is damaged: grey (half) or sepia (a fifth), with
    film grain of σ 0–8 (0–255 scale) on half of them. This is the photo the repair should return."""
    u = rng.random()
    if u < 0.7:
        grey = clean @ np.array([0.299, 0.587, 0.114], np.float32)
        clean = grey[..., None] * (SEPIA if u < 0.2 else np.ones(3, np.float32))
    if rng.random() < 0.5:
        clean = GaussianNoise(sigma=(0.0, 8.0))(clean, rng)
    return np.clip(clean, 0, 1).astype(np.float32)
