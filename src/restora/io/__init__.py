"""Image I/O: every supported format in and out of :class:`restora.io.Image`."""

from restora.io.formats import RAW_EXTENSIONS, SUPPORTED_READ_EXTENSIONS, SUPPORTED_WRITE_EXTENSIONS
from restora.io.image import Image
from restora.io.read import probe, read_image
from restora.io.write import write_bytes, write_image

__all__ = [
    "Image",
    "RAW_EXTENSIONS",
    "SUPPORTED_READ_EXTENSIONS",
    "SUPPORTED_WRITE_EXTENSIONS",
    "probe",
    "read_image",
    "write_bytes",
    "write_image",
]
