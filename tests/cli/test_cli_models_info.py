"""`restora models` and `restora info`."""

from __future__ import annotations

from PIL import Image as PILImage

from .conftest import noisy_array, write_image_file


def test_models_lists_every_registered_method_with_its_tasks_and_kind(cli):
    from restora.engine.catalogue import available_methods

    run = cli("models")
    assert run.code == 0, run
    header = run.out.splitlines()[0].split()
    assert header == ["name", "tasks", "kind", "size", "description"]
    rows = {line.split()[0]: line for line in run.out.splitlines()[1:] if line.strip() and not line.startswith(" ")}
    for spec in available_methods():
        assert spec.name in rows
        assert spec.kind in rows[spec.name] and spec.tasks[0] in rows[spec.name]
    assert "built in" in rows["nlm"]


def test_info_shows_size_depth_profile_camera_iso_and_sigma(cli, tmp_path):
    exif = PILImage.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    exif.get_ifd(0x8769)[0x8827] = 3200  # ISOSpeedRatings
    PILImage.fromarray(noisy_array(32, 48, sigma=20.0)).save(tmp_path / "shot.jpg", quality=98, exif=exif.tobytes())
    run = cli("info", "shot.jpg")
    assert run.code == 0, run
    fields = {line.split("  ")[1].strip(): line for line in run.out.splitlines() if line.startswith("  ")}
    assert "48 × 32" in fields["size"]
    assert "8 bits" in fields["bit depth"]
    assert "none" in fields["colour profile"]
    assert "EOS R5" in run.out and "3200" in run.out
    sigma_line = fields["noise σ (0–255)"]
    values = [float(v) for v in sigma_line.split("(0–255)")[1].split()[1:6:2]]  # "... R 19.1  G 20.3  B 18.7 ..."
    assert all(10 < v < 30 for v in values), sigma_line


def test_info_reports_bad_files_in_one_line_and_goes_on(cli, tmp_path):
    write_image_file(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"")
    run = cli("info", "bad.png", "good.png", "gone.png")
    assert run.code == 1, run
    assert "good.png" in run.out
    err = [line for line in run.err.splitlines() if line.strip()]
    assert len(err) == 2 and err[0].startswith("bad.png: ") and err[1].startswith("gone.png: "), run


def test_info_json_prints_one_object_per_file_with_noise_sigma_rgb(cli, tmp_path):
    import json

    PILImage.fromarray(noisy_array(96, 96, sigma=12.0)).save(tmp_path / "a.png")
    PILImage.fromarray(noisy_array(64, 80, sigma=12.0, seed=1)).save(tmp_path / "b.png")
    run = cli("info", "--json", "a.png", "b.png")
    assert run.code == 0, run
    objects = [json.loads(line) for line in run.out.splitlines() if line.strip()]
    assert len(objects) == 2
    a = objects[0]
    assert a["width"] == 96 and a["height"] == 96 and a["bit_depth"] == 8 and a["format"] == "PNG"
    sigma = a["noise"]["sigma"]
    assert len(sigma) == 3 and all(9 < s < 15 for s in sigma), sigma
    assert {"neighbour_correlation", "correlation_length_px", "nlf", "signal_dependence"} <= set(a["noise"])
