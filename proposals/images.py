"""Proposal pictures are re-encoded before they are stored: phone photos carry EXIF metadata (often the GPS
position of the author's home), and a re-encoded file also cannot smuggle anything past the image decoder."""

import io
import secrets
import warnings

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps

from proposals.validators import image_too_large, validate_image

MAX_SIDE = 2400  # pixels; larger photos are scaled down


def image_for_storage(upload) -> ContentFile:
    """Validate (JPEG/PNG/WebP, <= 5 MB) and return a metadata-free copy with a random file name."""
    validate_image(upload)
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as img:
                fmt = img.format
                img = ImageOps.exif_transpose(img)  # keep the orientation the camera recorded, drop the rest
                img.thumbnail((MAX_SIDE, MAX_SIDE))
                if fmt == "JPEG" and img.mode not in ("RGB", "L"):
                    img = img.convert("RGB")
                out = io.BytesIO()
                options = {"quality": 85} if fmt in ("JPEG", "WEBP") else {"optimize": True}
                img.save(out, fmt, **options)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise image_too_large() from exc
    except Exception as exc:  # a header that verifies but pixel data that does not decode (truncated, ...)
        raise ValidationError(
            _("This file is not an image we can read. Use a JPEG, PNG or WebP picture."), code="image_invalid"
        ) from exc
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
    return ContentFile(out.getvalue(), name=f"{secrets.token_hex(12)}.{ext}")
