"""Duplicates and leaks: the same picture twice, also cropped, scaled, re-encoded or turned grey.

Each image gets a :class:`Fingerprint`: ORB keypoints and binary descriptors of its luma shrunk to
:data:`FEATURE_SIDE` px (scale-invariant through ORB's pyramid, so a crop or a rescale keeps most of its
features), and a 64-bit difference hash for photos too flat to have features. All descriptors go into one
OpenCV FLANN index (multi-probe LSH), so each descriptor is compared with its few nearest neighbours, not
with every other image. Images that share at least :data:`MIN_VOTES` close descriptors
(Hamming ≤ :data:`MAX_HAMMING` of 256 bits) are candidates; a candidate is confirmed when a similarity
transform (scale, rotation, shift; RANSAC) maps at least :data:`MIN_INLIERS` of those matches onto each
other and each image lies at least :data:`MIN_OVERLAP` inside the other. The transform then says how the two are related (scale, the share of one covered by the other).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

FEATURE_SIDE = 320
FEATURES = 250
ORB_SCALE_STEP = 1.1  # finer than ORB's default 1.2: a rescale between two pyramid levels still matches
ORB_LEVELS = 12
MAX_HAMMING = 40
MIN_VOTES = 10
MIN_INLIERS = 15
LSH_TABLES = (
    4  # hash tables of the LSH index; 4 × 24-bit keys found every Rain100H background that 8 × 20 did, 13× faster
)
LSH_KEY_BITS = 24
MIN_OVERLAP = 0.15  # each image must lie at least this much inside the other (a whole photo as a 4% speck is chance)
RANSAC_PX = 3.0  # reprojection tolerance at the fingerprint's scale
HASH_BITS_APART = 6  # difference hashes this close are the same picture (flat photos without features)
HASH_MIN_FEATURES = 30  # photos with fewer features are matched by hash alone


@dataclass(frozen=True)
class Fingerprint:
    """What the index keeps of one image: keypoints (x, y in the image's own pixels), descriptors, hash, size."""

    points: np.ndarray  # (n, 2) float32
    descriptors: np.ndarray  # (n, 32) uint8
    dhash: int
    width: int
    height: int


@dataclass(frozen=True)
class Match:
    """Images ``a`` and ``b`` (indices into the fingerprints) show the same picture.

    ``scale`` is b's size over a's for the same content; ``coverage_a`` the share of ``a`` that lies inside
    ``b`` (1 when ``a`` is whole in ``b``, below 1 when ``a`` extends beyond ``b``: ``b`` is a crop of ``a``).
    """

    a: int
    b: int
    inliers: int
    scale: float
    coverage_a: float
    coverage_b: float


def _difference_hash(grey: np.ndarray) -> int:
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def fingerprint(luma8: np.ndarray, orb: cv2.ORB | None = None) -> Fingerprint:
    """The fingerprint of a uint8 luma image (H, W)."""
    h, w = luma8.shape
    scale = FEATURE_SIDE / max(h, w)
    small = cv2.resize(luma8, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else luma8
    scale = min(scale, 1.0)
    orb = orb or cv2.ORB_create(FEATURES, scaleFactor=ORB_SCALE_STEP, nlevels=ORB_LEVELS)
    keypoints, descriptors = orb.detectAndCompute(small, None)
    if descriptors is None:
        points, descriptors = np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    else:
        points = np.array([k.pt for k in keypoints], np.float32) / np.float32(scale)
    return Fingerprint(points, descriptors, _difference_hash(luma8), w, h)


def _coverage(points: np.ndarray, width: int, height: int, transform: np.ndarray, other_w: int, other_h: int) -> float:
    """Share of a width × height image that ``transform`` maps inside an other_w × other_h image (grid sample)."""
    ys, xs = np.mgrid[0 : height : complex(0, 16), 0 : width : complex(0, 16)]
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    mapped = grid @ transform[:, :2].T + transform[:, 2]
    inside = (mapped[:, 0] >= -1) & (mapped[:, 0] <= other_w + 1) & (mapped[:, 1] >= -1) & (mapped[:, 1] <= other_h + 1)
    return float(inside.mean())


def _verify(fa: Fingerprint, fb: Fingerprint, ia: np.ndarray, ib: np.ndarray, a: int, b: int) -> Match | None:
    src, dst = fa.points[ia], fb.points[ib]
    tolerance = RANSAC_PX * max(fa.width, fa.height, fb.width, fb.height) / FEATURE_SIDE
    cv2.setRNGSeed(0)  # RANSAC draws from OpenCV's generator: the same images give the same finding every run
    transform, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=tolerance)
    if transform is None or inliers is None:
        return None
    count = int(inliers.sum())
    if count < MIN_INLIERS:
        return None
    scale = float(np.hypot(transform[0, 0], transform[1, 0]))
    if not 0.1 < scale < 10:
        return None
    inverse = cv2.invertAffineTransform(transform)
    coverage_a = _coverage(src, fa.width, fa.height, transform, fb.width, fb.height)
    coverage_b = _coverage(dst, fb.width, fb.height, inverse, fa.width, fa.height)
    if min(coverage_a, coverage_b) < MIN_OVERLAP:
        return None
    return Match(a, b, count, scale, coverage_a, coverage_b)


def _hash_candidates(hashes: list[int]) -> set[tuple[int, int]]:
    """Pairs whose hashes agree in one of four 16-bit bands and are within HASH_BITS_APART bits overall."""
    found = set()
    for band in range(4):
        buckets = defaultdict(list)
        for i, h in enumerate(hashes):
            buckets[(h >> (16 * band)) & 0xFFFF].append(i)
        for members in buckets.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    i, j = members[x], members[y]
                    if bin(hashes[i] ^ hashes[j]).count("1") <= HASH_BITS_APART:
                        found.add((i, j))
    return found


def find_matches(prints: list[Fingerprint], skip: set[tuple[int, int]] = frozenset()) -> list[Match]:
    """Every pair of images (a < b) that show the same picture, except the pairs in ``skip``."""
    owners = np.concatenate(
        [np.full(len(p.descriptors), i, np.int32) for i, p in enumerate(prints)] or [np.zeros(0, np.int32)]
    )
    local = np.concatenate([np.arange(len(p.descriptors), dtype=np.int32) for p in prints] or [np.zeros(0, np.int32)])
    matches: dict[tuple[int, int], Match] = {}
    if len(owners) > 0:
        descriptors = np.concatenate([p.descriptors for p in prints])
        cv2.setRNGSeed(0)
        flann = cv2.FlannBasedMatcher(
            dict(algorithm=6, table_number=LSH_TABLES, key_size=LSH_KEY_BITS, multi_probe_level=0), dict(checks=32)
        )
        flann.add([descriptors])
        flann.train()
        pairs = defaultdict(list)  # (a, b) -> list of (descriptor of a, descriptor of b)
        for query, neighbours in enumerate(flann.knnMatch(descriptors, k=4)):
            q_owner = owners[query]
            for m in neighbours:
                t_owner = owners[m.trainIdx]
                if t_owner == q_owner or m.distance > MAX_HAMMING:
                    continue
                if q_owner < t_owner:
                    pairs[(q_owner, t_owner)].append((query, m.trainIdx))
                else:
                    pairs[(t_owner, q_owner)].append((m.trainIdx, query))
        for (a, b), links in pairs.items():
            if (a, b) in skip:
                continue
            links = np.unique(np.array(links, np.int64), axis=0)
            if len(links) < MIN_VOTES:
                continue
            found = _verify(prints[a], prints[b], local[links[:, 0]], local[links[:, 1]], int(a), int(b))
            if found is not None:
                matches[(int(a), int(b))] = found
    for a, b in _hash_candidates([p.dhash for p in prints]):
        if (a, b) in matches or (a, b) in skip:
            continue
        if min(len(prints[a].descriptors), len(prints[b].descriptors)) >= HASH_MIN_FEATURES:
            continue  # textured photos are judged by their features, which tell crops and scenes apart
        ratio = (prints[b].width / prints[a].width + prints[b].height / prints[a].height) / 2
        matches[(a, b)] = Match(a, b, 0, float(ratio), 1.0, 1.0)
    return [matches[k] for k in sorted(matches)]
