import warnings

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}
# A few kilobytes of PNG header can claim 100000 x 100000 pixels, which decoding would turn into tens of
# gigabytes (a "decompression bomb"). 40 megapixels is more than any phone camera takes.
MAX_IMAGE_PIXELS = 40_000_000


def image_too_large() -> ValidationError:
    return ValidationError(
        _("This image is too large (too many pixels): use a picture of at most %(mp)s megapixels.")
        % {"mp": MAX_IMAGE_PIXELS // 1_000_000},
        code="image_pixels",
    )


def validate_image(file) -> None:
    """Accept only real JPEG, PNG or WebP images of at most 5 MB and MAX_IMAGE_PIXELS (checked by decoding
    the header, not by file name; nothing is decoded before the size in pixels is known to be sane)."""
    if file.size > MAX_IMAGE_BYTES:
        raise ValidationError(
            _("The image is too large (%(size).1f MB): the limit is 5 MB.")
            % {"size": file.size / 1024 / 1024},
            code="image_too_large",
        )
    try:
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as img:
                fmt = img.format
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise image_too_large()
                img.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise image_too_large() from exc
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Exception) as exc:
        # Pillow raises many kinds for a corrupt file (struct.error, IndexError, ...): none may be a 500.
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
