"""Proposal pictures are re-encoded before they are stored: phone photos carry EXIF metadata (often the GPS
position of the author's home), and a re-encoded file also cannot smuggle anything past the image decoder."""

import io
import secrets

from django.core.files.base import ContentFile
from PIL import Image, ImageOps

from proposals.validators import validate_image

MAX_SIDE = 2400  # pixels; larger photos are scaled down


def image_for_storage(upload) -> ContentFile:
    """Validate (JPEG/PNG/WebP, <= 5 MB) and return a metadata-free copy with a random file name."""
    validate_image(upload)
    upload.seek(0)
    with Image.open(upload) as img:
        fmt = img.format
        img = ImageOps.exif_transpose(img)  # keep the orientation the camera recorded, drop the rest
        img.thumbnail((MAX_SIDE, MAX_SIDE))
        if fmt == "JPEG" and img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        out = io.BytesIO()
        options = {"quality": 85} if fmt in ("JPEG", "WEBP") else {"optimize": True}
        img.save(out, fmt, **options)
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
    return ContentFile(out.getvalue(), name=f"{secrets.token_hex(12)}.{ext}")
