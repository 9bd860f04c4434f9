from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}


def validate_image(file) -> None:
    """Accept only real JPEG, PNG or WebP images of at most 5 MB (checked by decoding, not by file name)."""
    if file.size > MAX_IMAGE_BYTES:
        raise ValidationError(
            _("The image is too large (%(size).1f MB): the limit is 5 MB.")
            % {"size": file.size / 1024 / 1024},
            code="image_too_large",
        )
    try:
        file.seek(0)
        with Image.open(file) as img:
            fmt = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            _("This file is not an image we can read. Use a JPEG, PNG or WebP picture."), code="image_invalid"
        ) from exc
    finally:
        file.seek(0)
    if fmt not in IMAGE_FORMATS:
        raise ValidationError(
            _("Images must be JPEG, PNG or WebP (this one is %(format)s).") % {"format": fmt},
            code="image_format",
        )
