"""Walks the folders of an audit: reads every image once, measures it, fingerprints it, and decides the findings.

Images are read with :func:`restora.io.read_image` (its size guard included); a file that cannot be read is
an ``unreadable`` finding and the audit goes on. The single-image checks judge the references: the images of
each DIR and of each pair's clean folder (a noisy input is noisy by design). Every image, noisy ones
included, goes into the duplicate/leak index; a pair's two files are not compared with each other there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from restora.audit.findings import CODES, Finding
from restora.audit.image_checks import ImageMeasures, image_findings, luma, measure_image, sharpness_limit
from restora.audit.index import Fingerprint, Match, fingerprint, find_matches
from restora.audit.pair_checks import PairMeasures, measure_pair, pair_findings
from restora.errors import RestoraError
from restora.io import SUPPORTED_READ_EXTENSIONS, read_image


@dataclass(frozen=True)
class Folder:
    """A folder of the audit; ``pair_set`` numbers the pair it belongs to (None for a plain DIR)."""

    path: Path
    pair_set: int | None = None
    role: str = "images"  # "images", "noisy" or "clean"


@dataclass(frozen=True)
class AuditItem:
    """One unit of work: an image (``partner`` None) or a noisy/clean pair (``path`` the clean one)."""

    path: Path
    folder: int
    reference: bool
    partner: Path | None = None
    partner_folder: int | None = None


@dataclass
class Examined:
    """What one task found; fingerprints by path."""

    task: AuditItem
    measures: ImageMeasures | None = None
    pair: PairMeasures | None = None
    prints: dict[str, Fingerprint] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class AuditResult:
    findings: list[Finding]
    images: int
    measures: dict[str, ImageMeasures]
    pairs: dict[str, PairMeasures]
    matches: list[tuple[str, str, Match]]


def list_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (by extension, hidden files left out), sorted by name."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUPPORTED_READ_EXTENSIONS
    )


def plan(dirs: list[Path], pairs: list[tuple[Path, Path]]) -> tuple[list[Folder], list[AuditItem], list[Finding]]:
    """The folders and tasks of an audit; pair files without a partner are findings at once."""
    folders: list[Folder] = []
    seen: dict[Path, int] = {}
    tasks: list[AuditItem] = []
    findings: list[Finding] = []

    def add(path: Path, pair_set=None, role="images") -> int | None:
        key = path.resolve()
        if key in seen:
            return None
        seen[key] = len(folders)
        folders.append(Folder(path, pair_set, role))
        return seen[key]

    for d in dirs:
        i = add(d)
        if i is not None:
            tasks += [AuditItem(p, i, True) for p in list_images(d)]
    for n, (noisy_dir, clean_dir) in enumerate(pairs):
        i_noisy, i_clean = add(noisy_dir, n, "noisy"), add(clean_dir, n, "clean")
        if i_noisy is None or i_clean is None:
            continue
        noisy = {p.stem: p for p in list_images(noisy_dir)}
        clean = {p.stem: p for p in list_images(clean_dir)}
        for stem, c in clean.items():
            if stem in noisy:
                tasks.append(AuditItem(c, i_clean, True, noisy[stem], i_noisy))
            else:
                tasks.append(AuditItem(c, i_clean, True))
                findings.append(
                    Finding("mismatched-pair", str(c), None, None, f"no file named {stem}.* in {noisy_dir}")
                )
        for stem, p in noisy.items():
            if stem not in clean:
                tasks.append(AuditItem(p, i_noisy, False))
                findings.append(
                    Finding("mismatched-pair", str(p), None, None, f"no file named {stem}.* in {clean_dir}")
                )
    return folders, tasks, findings


def _fingerprint_of(pixels: np.ndarray) -> Fingerprint:
    return fingerprint(np.clip(np.rint(luma(pixels)), 0, 255).astype(np.uint8))


def examine(task: AuditItem) -> Examined:
    """Read, measure and fingerprint one task's file(s); unreadable files are recorded, not raised."""
    cv2.setNumThreads(1)
    out = Examined(task)
    pixels = {}
    for path in (task.path, task.partner):
        if path is None:
            continue
        try:
            pixels[path] = read_image(path).pixels
        except RestoraError as exc:
            out.errors[str(path)] = " ".join(str(exc).split())
            continue
        out.prints[str(path)] = _fingerprint_of(pixels[path])
    if task.path in pixels and task.reference:
        out.measures = measure_image(pixels[task.path])
    if task.partner is not None and task.path in pixels and task.partner in pixels:
        out.pair = measure_pair(pixels[task.partner], pixels[task.path])
    return out


def _match_finding(a: str, b: str, m: Match, folder_a: Folder, folder_b: Folder) -> Finding:
    same_set = folder_a.pair_set is not None and folder_a.pair_set == folder_b.pair_set
    if m.inliers == 0:
        how = "near-identical difference hash"
    elif m.coverage_a < 0.95:
        how = f"the other is a crop showing {100 * m.coverage_a:.0f}% of this one, scale {m.scale:.2f}, {m.inliers} matching features"
    elif m.coverage_b < 0.95:
        how = f"this one is a crop showing {100 * m.coverage_b:.0f}% of the other, scale {m.scale:.2f}, {m.inliers} matching features"
    else:
        how = f"scale {m.scale:.2f}, {m.inliers} matching features"
    if folder_a.path.resolve() == folder_b.path.resolve() or same_set:
        return Finding("duplicate", b, a, m.coverage_a, f"same picture as {a} ({how})")
    return Finding("leak", a, b, m.coverage_a, f"same picture as {b} in {folder_b.path} ({how})")


def run_audit(
    dirs: list[Path],
    pairs: list[tuple[Path, Path]],
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> AuditResult:
    """Audit the images of ``dirs`` and of each (noisy, clean) pair of folders; findings sorted by code and path.

    Leak findings name the file of the folder given first (list the training folder first: its files are
    the ones to leave out).
    """
    folders, tasks, findings = plan(dirs, pairs)
    done: list[Examined] = []
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for i, ex in enumerate(pool.map(examine, tasks, chunksize=8)):
                done.append(ex)
                if progress:
                    progress(i + 1, len(tasks))
    else:
        for i, task in enumerate(tasks):
            done.append(examine(task))
            if progress:
                progress(i + 1, len(tasks))

    measures = {str(ex.task.path): ex.measures for ex in done if ex.measures is not None}
    pair_measures = {str(ex.task.path): ex.pair for ex in done if ex.pair is not None}
    for ex in done:
        for path, error in ex.errors.items():
            findings.append(Finding("unreadable", path, None, None, error))

    limits = {}
    for i in range(len(folders)):
        values = [ex.measures.sharpness for ex in done if ex.measures is not None and ex.task.folder == i]
        limits[i] = sharpness_limit(values)
    for ex in done:
        if ex.measures is not None:
            findings += image_findings(str(ex.task.path), ex.measures, limits[ex.task.folder])
        if ex.pair is not None:
            findings += pair_findings(str(ex.task.partner), str(ex.task.path), ex.pair)

    paths: list[str] = []
    folder_of: list[int] = []
    prints: list[Fingerprint] = []
    skip = set()
    for ex in done:
        where = {str(ex.task.path): ex.task.folder, str(ex.task.partner): ex.task.partner_folder}
        members = []
        for path, print_ in ex.prints.items():
            members.append(len(paths))
            paths.append(path)
            folder_of.append(where[path])
            prints.append(print_)
        if len(members) == 2:  # a pair's noisy and clean files show the same scene by design
            skip.add(tuple(members))
    # Leaks name the file of the earlier folder first; duplicates the later file in name order.
    order = sorted(range(len(paths)), key=lambda i: (folder_of[i], paths[i]))
    rank = {i: r for r, i in enumerate(order)}
    matches = find_matches([prints[i] for i in order], {tuple(sorted((rank[a], rank[b]))) for a, b in skip})
    named = []
    for m in matches:
        a, b = order[m.a], order[m.b]
        named.append((paths[a], paths[b], m))
        findings.append(_match_finding(paths[a], paths[b], m, folders[folder_of[a]], folders[folder_of[b]]))

    findings.sort(key=lambda f: (CODES.index(f.code), f.path, f.other or ""))
    return AuditResult(findings, len(paths) + sum(len(ex.errors) for ex in done), measures, pair_measures, named)


def default_workers() -> int:
    """One worker per CPU the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
