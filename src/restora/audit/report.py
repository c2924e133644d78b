"""The audit's outputs: the JSON file and a Markdown or HTML report with a thumbnail of every finding.

JSON: ``{"findings": [{"code", "path", "other", "value", "message"}, ...]}``, written atomically.
HTML is one self-contained file (thumbnails inline as JPEG data). Markdown writes its thumbnails into a
folder beside it, ``REPORT_files/``.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from restora.audit.findings import CODES, Finding
from restora.errors import RestoraError
from restora.io import read_image
from restora.io.write import write_bytes

THUMB = 160


def findings_json(findings: list[Finding]) -> str:
    return json.dumps({"findings": [f.as_json() for f in findings]}, indent=1, ensure_ascii=False) + "\n"


def write_json(path: Path, findings: list[Finding]) -> None:
    write_bytes(path, findings_json(findings).encode())


def thumbnail(path: str | None) -> bytes | None:
    """A JPEG thumbnail (long side THUMB px) of an image file, or None when it cannot be read."""
    if path is None:
        return None
    try:
        pixels = read_image(path).pixels
    except RestoraError:
        return None
    im = PILImage.fromarray(np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8))
    im.thumbnail((THUMB, THUMB), PILImage.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _summary(findings: list[Finding], images: int) -> list[str]:
    counts = Counter(f.code for f in findings)
    lines = [f"{images} images checked, {len(findings)} findings."]
    lines += [f"{code}: {counts[code]}" for code in CODES if counts[code]]
    return lines


def write_html(path: Path, findings: list[Finding], images: int) -> None:
    def img(p):
        data = thumbnail(p)
        if data is None:
            return "<td></td>"
        return f'<td><img src="data:image/jpeg;base64,{base64.b64encode(data).decode()}" alt=""></td>'

    rows = []
    for f in findings:
        rows.append(
            f"<tr><td><b>{html.escape(f.code)}</b></td>{img(f.path)}{img(f.other)}"
            f"<td>{html.escape(f.path)}<br><small>{html.escape(f.other or '')}</small></td>"
            f"<td>{'' if f.value is None else f'{f.value:.4g}'}</td><td>{html.escape(f.message)}</td></tr>"
        )
    summary = "".join(f"<li>{html.escape(s)}</li>" for s in _summary(findings, images))
    page = (
        "<!doctype html><meta charset='utf-8'><title>Restora audit</title>"
        "<style>body{font-family:sans-serif}td{vertical-align:top;padding:4px;border-bottom:1px solid #ddd}"
        "img{max-width:160px}</style><h1>Restora audit</h1>"
        f"<ul>{summary}</ul><table><tr><th>code</th><th>file</th><th>partner</th><th>paths</th><th>value</th>"
        f"<th>message</th></tr>{''.join(rows)}</table>\n"
    )
    write_bytes(path, page.encode())


def write_markdown(path: Path, findings: list[Finding], images: int) -> None:
    folder = path.with_name(path.stem + "_files")
    folder.mkdir(exist_ok=True)
    lines = ["# Restora audit", ""] + [f"- {s}" for s in _summary(findings, images)] + [""]
    lines += ["| code | file | partner | paths | value | message |", "|---|---|---|---|---|---|"]
    for n, f in enumerate(findings):
        cells = []
        for side, p in (("a", f.path), ("b", f.other)):
            data = thumbnail(p)
            if data is None:
                cells.append("")
                continue
            name = f"{n:05d}{side}.jpg"
            write_bytes(folder / name, data)
            cells.append(f"![]({folder.name}/{name})")
        value = "" if f.value is None else f"{f.value:.4g}"
        paths = f"{f.path}" + (f"<br>{f.other}" if f.other else "")
        lines.append(f"| {f.code} | {cells[0]} | {cells[1]} | {paths} | {value} | {f.message.replace('|', '/')} |")
    write_bytes(path, ("\n".join(lines) + "\n").encode())


def write_report(path: Path, findings: list[Finding], images: int) -> None:
    """HTML for .html/.htm, Markdown for .md."""
    if path.suffix.lower() == ".md":
        write_markdown(path, findings, images)
    else:
        write_html(path, findings, images)
