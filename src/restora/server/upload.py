"""Receive ``multipart/form-data`` uploads by streaming them into a job's folder.

Starlette's own form parsing spools files to the system temporary folder; streaming with
python-multipart's parser lets us write only inside the job's folder, stop at the size limit while the
body is still arriving, and never hold a whole upload in memory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart import create_form_parser
from python_multipart.exceptions import FormParserError
from starlette.requests import Request

FILE_FIELD = "file"
MASK_FIELD = "mask"  # task repair: where to fill (white), optional
FILE_FIELDS = (FILE_FIELD, MASK_FIELD)
MAX_FIELDS = 16
MAX_FIELD_BYTES = 1024
# Extensions kept on the stored upload (some readers, e.g. camera RAW, go by it); anything else is dropped.
SAFE_EXTENSION = re.compile(r"\.[a-z0-9]{1,6}")
UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")


class UploadTooLarge(Exception):
    """The request body is over the limit (→ 413)."""


class BadUpload(Exception):
    """The request is not a well-formed upload of one image (→ 422); the message says why."""


@dataclass
class UploadedFile:
    path: Path  # where the file now is, inside the job's folder, under a name we chose
    filename: str  # the client's name for it, cleaned for display and download names only
    size: int


@dataclass
class Upload(UploadedFile):
    fields: dict[str, str] = field(default_factory=dict)
    mask: UploadedFile | None = None  # the optional mask of task repair


def display_name(raw: str) -> str:
    """The client's file name reduced to a base name without control characters or separators."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = UNSAFE_NAME_CHARS.sub("", name).strip().lstrip(".")
    return name[:200] or "image"


def _stored(upload, folder: Path, stem: str) -> UploadedFile:
    """Move a received file to ``folder/<stem><.ext>`` (its extension kept when it is a plain one)."""
    raw_name = (upload.file_name or b"").decode("utf-8", "replace")
    if upload.size == 0 or upload.actual_file_name is None:
        raise BadUpload(f"'{display_name(raw_name)}' is empty")
    filename = display_name(raw_name)
    extension = os.path.splitext(filename)[1].lower()
    stored = folder / (stem + (extension if SAFE_EXTENSION.fullmatch(extension) else ""))
    os.replace(os.fsdecode(upload.actual_file_name), stored)
    return UploadedFile(stored, filename, upload.size)


async def receive_upload(request: Request, folder: Path, max_bytes: int) -> Upload:
    """Stream the request's form into ``folder``: the image field becomes ``folder/input<.ext>``, the optional
    mask field ``folder/mask<.ext>``. Each file may be up to ``max_bytes`` (the body up to twice that, plus the
    small form fields)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadUpload(f"send the image as multipart/form-data in the field '{FILE_FIELD}'")
    body_limit = len(FILE_FIELDS) * max_bytes + MAX_FIELDS * MAX_FIELD_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > body_limit:
        raise UploadTooLarge()

    fields: dict[str, str] = {}
    files = []

    def on_field(f) -> None:
        name = (f.field_name or b"").decode("utf-8", "replace")
        if name in FILE_FIELDS:
            raise BadUpload(f"the field '{name}' must be a file, not text")
        if name in fields:
            raise BadUpload(f"the field '{name}' is given twice")
        if len(fields) >= MAX_FIELDS or len(f.value or b"") > MAX_FIELD_BYTES:
            raise BadUpload("too many or too long form fields")
        try:
            fields[name] = (f.value or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise BadUpload(f"the field '{name}' is not UTF-8 text") from None

    def on_file(f) -> None:
        name = (f.field_name or b"").decode("utf-8", "replace")
        files.append((name, f))
        if name not in FILE_FIELDS:
            raise BadUpload(f"unexpected file in field '{name}': send the image in the field '{FILE_FIELD}'")
        if [n for n, _ in files].count(name) > 1:
            raise BadUpload("send one image per request" if name == FILE_FIELD else f"send one {name} per request")

    config = {
        "UPLOAD_DIR": os.fsencode(folder),
        "UPLOAD_DELETE_TMP": False,  # we rename it; the whole folder is removed with the job
        "MAX_MEMORY_FILE_SIZE": 0,  # straight to disk in the job's folder
        "MAX_BODY_SIZE": body_limit,
    }
    headers = {"Content-Type": content_type.encode("latin-1")}
    try:
        parser = create_form_parser(headers, on_field, on_file, config=config)
        received = 0
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > body_limit:
                    raise UploadTooLarge()
                parser.write(chunk)
                if any(f.size > max_bytes for _, f in files):  # one file over the limit: stop reading now
                    raise UploadTooLarge()
            parser.finalize()
        finally:
            for _, f in files:
                f.close()
    except (FormParserError, ValueError) as exc:
        raise BadUpload(f"malformed multipart body ({exc})") from None
    by_field = dict(files)
    if any(f.size > max_bytes for f in by_field.values()):
        raise UploadTooLarge()
    if FILE_FIELD not in by_field:
        raise BadUpload(f"no image: send it as a file in the field '{FILE_FIELD}'")
    image = _stored(by_field[FILE_FIELD], folder, "input")
    mask_part = by_field.get(MASK_FIELD)
    # A form's untouched file input sends an empty part without a name: no mask.
    if mask_part is not None and mask_part.size == 0 and not mask_part.file_name:
        mask_part = None
    mask = None if mask_part is None else _stored(mask_part, folder, "mask")
    return Upload(image.path, image.filename, image.size, fields, mask)
