"""Image I/O: every supported format in and out of :class:`restora.io.Image`."""

from restora.io.image import Image

__all__ = ["Image"]
