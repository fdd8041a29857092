"""From a source image (bitmap, SVG, font glyph) to the micro zoo's square RGB image.

Policy (:func:`fit_square`), the same for every domain up to four declared switches:

1. ``trim`` (optional): cut the transparent margin (or, without alpha, the margin of the
   background colour), so that a 40 px sprite on a 72 px canvas fills the frame.
2. Alpha is composited on the domain's background (white, or black for drawings that are light
   on black).
3. ``fit="pad"`` (letterbox): scale the longer side to ``size`` minus a 4 % margin on each side
   and centre the image on the background; nothing of the image is lost. ``fit="crop"``: scale the
   shorter side to ``size`` and keep the centre square; for textures and photos that fill their
   frame.
4. Resampling is Lanczos. ``pixel_art`` sources are first enlarged by the smallest whole factor
   that reaches the target with nearest-neighbour sampling, then reduced with Lanczos ("sharp
   bilinear"): a 16 px texture becomes 8 x 8 blocks per pixel, and a 60 px sprite fills the frame
   with crisp, nearly square pixels instead of a blur.

Every step is deterministic, and PNGs are written without timestamps, so a build is byte-identical
when repeated.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

from matchchoose import MissingDependencyError

from .._deps import require as require_tool

__all__ = ["MAX_SOURCE_PIXELS", "fit_square", "font", "glyph_image", "open_image", "png_bytes", "svg_image"]

#: Larger source images are skipped (a few openclipart PNGs hold 100-230 megapixels).
MAX_SOURCE_PIXELS = 64_000_000
_BACKGROUND = {"white": (255, 255, 255), "black": (0, 0, 0)}


def _pil():
    from PIL import Image

    return Image


def open_image(source, *, max_pixels: int = MAX_SOURCE_PIXELS):
    """Open a path or bytes as a loaded :class:`PIL.Image.Image` (first frame).

    Raises
    ------
    ValueError
        When the image has more than ``max_pixels`` pixels.
    """
    Image = _pil()
    data = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else Path(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = Image.open(data)
        if img.width * img.height > max_pixels:
            raise ValueError(f"{img.width}x{img.height} is over {max_pixels} pixels")
        img.seek(0)
        img.load()
    return img


def _cairosvg():
    """cairosvg, or a one-line error saying what is missing (the Python package, or the system's
    cairo library, which cairocffi loads at import and reports as an OSError)."""
    try:
        return require_tool("cairosvg", "SVG domains of the micro zoo")
    except OSError as exc:
        raise MissingDependencyError(
            f"SVG domains of the micro zoo need the cairo library ({exc}): apt-get install libcairo2.") from None


def svg_image(svg: bytes, width: int, *, unsafe: bool = False):
    """Rasterise SVG bytes ``width`` px wide (height follows the aspect ratio) with cairosvg.

    ``unsafe=True`` lets cairosvg resolve XML entities; only for trusted distribution files
    (Tux Paint's SVGs declare entities).
    """
    cairosvg = _cairosvg()
    png = cairosvg.svg2png(bytestring=svg, output_width=width, unsafe=unsafe)
    return open_image(png)


def font(path, size: int):
    """A FreeType font (``PIL.ImageFont.truetype``), ``size`` pixels per em."""
    from PIL import ImageFont

    return ImageFont.truetype(str(path), size)


def glyph_image(face, text: str, canvas: int, *, fill=(0, 0, 0), embedded_color: bool = False):
    """Draw ``text`` centred on a transparent ``canvas`` x ``canvas`` RGBA image; ``None`` if nothing is drawn.

    The glyph keeps its size relative to the em (a lowercase 'x' stays smaller than an 'X');
    a glyph that spills out of the canvas is drawn on a larger one and returned whole.
    """
    Image = _pil()
    from PIL import ImageDraw

    left, top, right, bottom = ImageDraw.Draw(Image.new("RGBA", (1, 1))).textbbox(
        (0, 0), text, font=face, anchor="mm", embedded_color=embedded_color)
    side = max(canvas, 2 * max(abs(left), abs(right), abs(top), abs(bottom)) + 2)
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((side / 2, side / 2), text, font=face, anchor="mm", fill=fill,
                             embedded_color=embedded_color)
    if img.getbbox() is None:
        return None
    return img


def _has_alpha(img) -> bool:
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return True
    return img.mode in ("P", "L", "RGB") and "transparency" in img.info


def _trim_box(img, background):
    """Bounding box of the content: alpha > 0, or pixels away from the background colour."""
    Image = _pil()
    from PIL import ImageChops

    if img.mode == "RGBA":
        return img.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    diff = ImageChops.difference(img, Image.new("RGB", img.size, background)).convert("L")
    return diff.point(lambda v: 255 if v > 24 else 0).getbbox()


def fit_square(img, size: int, *, fit: str = "pad", trim: bool = False, pixel_art: bool = False,
               background: str = "white", margin: float = 0.04):
    """Return ``img`` as a ``size`` x ``size`` RGB image following the module's policy.

    Parameters
    ----------
    img : PIL.Image.Image
        Any mode; EXIF orientation is applied, 16-bit and float images are rescaled to 8 bits.
    size : int
        Side of the output square, in pixels.
    fit : {"pad", "crop"}
    trim, pixel_art : bool
    background : {"white", "black"}
    margin : float
        Fraction of ``size`` left free on each side by ``fit="pad"``.

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB``, ``size`` x ``size``.

    Examples
    --------
    >>> from PIL import Image
    >>> fit_square(Image.new("RGBA", (40, 10), (255, 0, 0, 255)), 32).size
    (32, 32)
    """
    Image = _pil()
    from PIL import ImageOps

    from matchchoose.profile import to_rgb

    bg = _BACKGROUND[background]
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I") or img.mode == "F":
        img = to_rgb(img)
    img = img.convert("RGBA") if _has_alpha(img) else img.convert("RGB")
    if trim:
        box = _trim_box(img, bg)
        if box is not None:
            img = img.crop(box)
    if img.mode == "RGBA":
        base = Image.new("RGBA", img.size, bg + (255,))
        img = Image.alpha_composite(base, img).convert("RGB")
    w, h = img.size
    if fit == "crop":
        scale = size / min(w, h)
        new = (max(size, round(w * scale)), max(size, round(h * scale)))
        img = _resize(img, new, pixel_art)
        left, top = (img.width - size) // 2, (img.height - size) // 2
        return img.crop((left, top, left + size, top + size))
    inner = max(1, size - 2 * round(margin * size))
    scale = inner / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = _resize(img, new, pixel_art)
    out = Image.new("RGB", (size, size), bg)
    out.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    return out


def _resize(img, new_size, pixel_art: bool):
    """Lanczos; pixel art is first enlarged by the smallest whole factor that reaches ``new_size``
    with nearest-neighbour sampling, then Lanczos-reduced to it ("sharp bilinear"): square, crisp
    pixels without leaving the frame half empty."""
    Image = _pil()
    if new_size == img.size:
        return img
    if pixel_art and new_size[0] > img.width:
        factor = math.ceil(max(new_size[0] / img.width, new_size[1] / img.height))
        img = img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)
        if img.size == new_size:
            return img
    return img.resize(new_size, Image.Resampling.LANCZOS)


def png_bytes(img) -> bytes:
    """PNG encoding with fixed settings and no metadata (no time stamps): same pixels, same bytes."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
