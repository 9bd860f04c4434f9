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
THUMB_SIZE = (480, 320)  # list cards and ballot entries: cropped to 3:2, sharp on 2x screens at 240 px wide


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


def thumbnail_for_storage(stored: ContentFile) -> ContentFile:
    """A small JPEG (WebP keeps transparency) cropped to 3:2 from the already re-encoded picture.

    Made from the output of image_for_storage, so it carries no metadata either; its name follows the
    picture's random name ("<name>-thumb.jpg")."""
    stored.seek(0)
    with Image.open(stored) as img:
        img.load()
        transparent = img.mode in ("RGBA", "LA", "P") and img.format != "JPEG"
        thumb = ImageOps.fit(
            img.convert("RGBA" if transparent else "RGB"), THUMB_SIZE, Image.Resampling.LANCZOS
        )
    out = io.BytesIO()
    fmt, ext = ("WEBP", "webp") if transparent else ("JPEG", "jpg")
    thumb.save(out, fmt, quality=80)
    stem = (stored.name or secrets.token_hex(12)).rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return ContentFile(out.getvalue(), name=f"{stem}-thumb.{ext}")
