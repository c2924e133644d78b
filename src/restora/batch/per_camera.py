"""``restora denoise --adapt``: each camera's photos denoised with weights adapted to that camera.

The batch's photos are grouped by camera (:func:`restora.adapt.camera_cache.group_by_camera`: EXIF make,
model and ISO band). For each camera the cached adaptation is used, or a new one is made from up to
:data:`ADAPT_PHOTOS` of its photos within the time budget and cached; it is kept only where its held-out checks
pass (``restora adapt``'s rules), else the base model runs. One line per camera says what was used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from restora.adapt.camera_cache import group_by_camera, model_for_camera
from restora.batch.jobs import Job, Plan
from restora.batch.options import RestoreOptions
from restora.errors import RestoraError

ADAPT_PHOTOS = 8  # photos of one camera an adaptation reads at most (evenly spread over the batch)


def per_camera_options(
    plan: Plan, options: RestoreOptions, minutes: float, say: Callable[[str], None]
) -> Callable[[Job], RestoreOptions]:
    """Each job's options: ``options`` with the model chosen for its photo's camera."""
    chosen: dict = {}
    for camera, paths in group_by_camera([job.source for job in plan.jobs]).items():
        if camera is None:
            say(f"adapt: {len(paths)} photo(s) without EXIF camera make and model: not adapted, {options.model}")
            continue
        sample = paths[:: max(1, -(-len(paths) // ADAPT_PHOTOS))][:ADAPT_PHOTOS]
        try:
            found = model_for_camera(camera, sample, options.model, minutes)
        except RestoraError as exc:
            say(f"adapt: {camera.label}: not adapted ({exc}); {options.model}")
            continue
        say(f"adapt: {found.describe(len(paths))}")
        for p in paths:
            chosen[p] = replace(options, model=str(found.path))
    return lambda job: chosen.get(job.source, options)
