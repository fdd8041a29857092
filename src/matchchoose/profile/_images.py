"""Image datasets on disk: a folder of images with optional captions, decoded robustly to RGB.

Layout read by :class:`ImageFolder` (recursive; hidden files and folders, whose names start with
``.``, are ignored)::

    my_dataset/
        metadata.jsonl        # optional, Hugging Face ImageFolder: {"file_name": "a/1.png", "text": "..."}
        captions.jsonl        # optional, same keys ("image"/"caption" accepted too)
        a/1.png
        a/1.txt               # optional sidecar caption of a/1.png
        b/2.jpg

Caption precedence, per image: ``metadata.jsonl`` > ``captions.jsonl`` > sidecar ``<stem>.txt`` >
none. A JSONL file may sit in any subfolder; its ``file_name`` is relative to that subfolder (as in
Hugging Face's ImageFolder). Decoding applies the EXIF orientation, takes the first frame of an
animation, composites alpha on white and rescales 16-bit images to 8 bits; files that cannot be
decoded, or that exceed ``max_pixels``, are skipped and listed in :attr:`ImageFolder.report`.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InputError
from .._validation import check_in, check_int, check_real

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder", "LoadReport", "SkippedImage", "split", "to_rgb"]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".webp", ".bmp", ".gif"})
CAPTION_FILES = ("metadata.jsonl", "captions.jsonl")  # in order of precedence
_NAME_KEYS = ("file_name", "image")
_VERIFY = ("full", "header")


def _pil():
    # Pillow is a core dependency; imported here so that importing matchchoose stays light.
    from PIL import Image

    return Image


@dataclass(frozen=True)
class SkippedImage:
    """One file that could not be used: its path (relative to the folder, POSIX) and why."""

    path: str
    reason: str


@dataclass
class LoadReport:
    """What :class:`ImageFolder` found: ``n_found`` image files, ``n_ok`` usable, the rest ``skipped``."""

    n_found: int = 0
    n_ok: int = 0
    skipped: list[SkippedImage] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.n_ok} of {self.n_found} images usable, {len(self.skipped)} skipped"]
        lines += [f"  {s.path}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------ decoding
def to_rgb(img):
    """Return ``img`` as an 8-bit RGB :class:`PIL.Image.Image`, upright.

    The EXIF orientation is applied (``ImageOps.exif_transpose``); palette, grey and CMYK images are
    converted; alpha (``RGBA``, ``LA``, palette transparency) is composited on white; 16- and 32-bit
    integer images (``I;16``, ``I``) are scaled by ``1/257`` (65535 -> 255) and float images
    (``F``) are clipped to [0, 255].

    Examples
    --------
    >>> from PIL import Image
    >>> to_rgb(Image.new("LA", (1, 1), (0, 0))).getpixel((0, 0))
    (255, 255, 255)
    """
    Image = _pil()
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if mode != "F":
            arr = arr / 257.0
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if mode == "RGB" else img.convert("RGB")


def _open_checked(path: Path, max_pixels: int, *, decode: bool):
    """Open ``path``; return ``(image_or_None, reason_or_None)``. Never raises on a bad file."""
    Image = _pil()
    try:
        with warnings.catch_warnings():
            # PIL warns above MAX_IMAGE_PIXELS and raises above twice that; we apply our own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
            w, h = img.size
            if w * h > max_pixels:
                img.close()
                return None, f"decompression-bomb guard: {w}x{h} = {w * h} pixels > max_pixels={max_pixels}"
            if not decode:
                img.close()
                return None, None
            img.seek(0)  # first frame of an animated GIF/WebP
            img.load()
        return img, None
    except Image.DecompressionBombError as exc:
        return None, f"decompression-bomb guard: {exc}"
    except Image.UnidentifiedImageError:
        return None, "not a readable image (unidentified format)"
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        return None, f"cannot decode: {exc}"


# ------------------------------------------------------------------------------------ captions
def _read_jsonl_captions(path: Path, root: Path, column: str) -> dict[str, str]:
    """Map image path (relative to ``root``, POSIX) to caption from one JSONL file."""
    out: dict[str, str] = {}
    base = path.parent
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{lineno}: byte 0x{raw[exc.start]:02x} is not UTF-8: save the file as "
                                 "UTF-8.") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg}); fix or remove the line.") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{lineno}: each line must be a JSON object with 'file_name' and '{column}'.")
            name = next((row[k] for k in _NAME_KEYS if k in row), None)
            text = row.get(column, row.get("caption") if column == "text" else None)
            if not isinstance(name, str) or not (text is None or isinstance(text, str)):
                raise InputError(
                    f"{path}:{lineno}: needs a string 'file_name' and a string '{column}'. Got keys {sorted(row)}."
                )
            if text is None:
                continue
            rel = (base / name).resolve()
            try:
                key = rel.relative_to(root).as_posix()
            except ValueError:
                raise InputError(f"{path}:{lineno}: 'file_name' {name!r} points outside the folder {root}.") from None
            out[key] = text
    return out


# ---------------------------------------------------------------------------------------- folder
class ImageFolder:
    """A folder of images (searched recursively) with optional captions.

    Parameters
    ----------
    path : str or Path
        The dataset folder.
    max_pixels : int, optional
        Images with more pixels are skipped (decompression-bomb guard); default PIL's
        ``Image.MAX_IMAGE_PIXELS`` (89,478,485).
    verify : {"full", "header"}, default="full"
        ``"full"`` decodes every image once at construction, so truncated and corrupt files are in
        :attr:`report` and left out of :attr:`items` from the start. ``"header"`` reads only the
        headers (fast on big folders); files that fail to decode later are skipped by
        :meth:`iter_rgb` and added to :attr:`report` then.
    caption_column : str, default="text"
        Caption key in ``metadata.jsonl`` / ``captions.jsonl``.

    Attributes
    ----------
    root : Path
        The resolved folder.
    items : list of (str, str or None)
        ``(relative POSIX path, caption)`` of the usable images, sorted by path (so the order, and
        everything seeded on it, does not depend on the file system's listing order).
    report : LoadReport
        Found, usable and skipped files (with reasons).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (4, 4)).save(d / "a.png"); _ = (d / "a.txt").write_text("a cat")
    >>> ds = ImageFolder(d)
    >>> ds.items, ds.load(0).size
    ([('a.png', 'a cat')], (4, 4))
    """

    def __init__(self, path, *, max_pixels: int | None = None, verify: str = "full", caption_column: str = "text"):
        Image = _pil()
        self.path = path
        self.max_pixels = max_pixels
        self.verify = verify
        self.caption_column = caption_column
        check_in("verify", verify, _VERIFY, owner="ImageFolder")
        limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
        self._max_pixels = check_int("max_pixels", limit, low=1, owner="ImageFolder")
        root = Path(path).expanduser()
        if not root.is_dir():
            raise InputError(f"Image folder {str(path)!r} does not exist or is not a folder.")
        self.root = root.resolve()
        try:
            files = self._list_images()
        except OSError as exc:
            raise InputError(f"Image folder {str(path)!r} cannot be read: {exc}") from None
        if not files:
            raise InputError(
                f"Image folder {str(path)!r} contains no images "
                f"(looked for {', '.join(sorted(IMAGE_EXTENSIONS))}, recursively)."
            )
        captions = self._read_captions(files)
        self.report = LoadReport(n_found=len(files), skipped=list(self._unlisted))
        self.items: list[tuple[str, str | None]] = []
        for rel in files:
            img, reason = _open_checked(self.root / rel, self._max_pixels, decode=verify == "full")
            if img is not None:
                img.close()
            if reason is None:
                self.items.append((rel, captions.get(rel)))
            else:
                self.report.skipped.append(SkippedImage(rel, reason))
        self.report.n_ok = len(self.items)
        if not self.items:
            first = self.report.skipped[0]
            raise InputError(f"Image folder {str(path)!r}: none of its {len(files)} images is readable (first: "
                             f"{first.path}: {first.reason}); check the files or point to another folder.")

    @classmethod
    def _from_items(cls, parent: "ImageFolder", items) -> "ImageFolder":
        sub = cls.__new__(cls)
        sub.__dict__.update(parent.__dict__)
        sub.items = list(items)
        sub.report = LoadReport(n_found=len(sub.items), n_ok=len(sub.items))
        return sub

    # -------------------------------------------------------------------------- listing
    def _list_images(self) -> list[str]:
        """Image files under the folder; a subfolder that cannot be listed is listed in
        :attr:`report` as skipped (``"sub/"``, with the reason) instead of vanishing silently."""
        out = []
        self._unlisted: list[SkippedImage] = []

        def unlisted(exc: OSError) -> None:
            if Path(exc.filename) == self.root:
                raise exc
            rel = Path(exc.filename).relative_to(self.root).as_posix()
            self._unlisted.append(SkippedImage(rel + "/", f"folder cannot be listed: {exc.strerror or exc}"))

        visited = set()
        for folder, subfolders, names in os.walk(self.root, onerror=unlisted, followlinks=True):
            real = os.path.realpath(folder)
            if real in visited:  # a symlink cycle
                subfolders[:] = []
                continue
            visited.add(real)
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            base = Path(folder)
            for name in names:
                p = base / name
                if name.startswith(".") or p.suffix.lower() not in IMAGE_EXTENSIONS or not p.is_file():
                    continue
                out.append(p.relative_to(self.root).as_posix())
        return sorted(out)

    def _read_captions(self, files: list[str]) -> dict[str, str]:
        captions: dict[str, str] = {}
        # Lowest precedence first, so higher sources overwrite: sidecar < captions.jsonl < metadata.jsonl.
        for rel in files:
            txt = (self.root / rel).with_suffix(".txt")
            if txt.is_file():
                data = txt.read_bytes()
                try:
                    captions[rel] = data.decode("utf-8").strip()
                except UnicodeDecodeError as exc:
                    line = data[:exc.start].count(b"\n") + 1
                    raise InputError(f"Caption {str(txt)!r}, line {line}: byte 0x{data[exc.start]:02x} is not "
                                     "UTF-8: save it as UTF-8.") from None
        for name in reversed(CAPTION_FILES):
            for jsonl in sorted(self.root.rglob(name)):
                if any(part.startswith(".") for part in jsonl.relative_to(self.root).parts):
                    continue
                captions.update(_read_jsonl_captions(jsonl, self.root, self.caption_column))
        return captions

    # -------------------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"ImageFolder({str(self.root)!r}, n_images={len(self.items)}, n_skipped={len(self.report.skipped)})"

    @property
    def paths(self) -> list[Path]:
        """Absolute paths of the usable images, in :attr:`items` order."""
        return [self.root / rel for rel, _ in self.items]

    @property
    def captions(self) -> list[str | None]:
        """Captions of the usable images, in :attr:`items` order (``None`` where there is none)."""
        return [cap for _, cap in self.items]

    def load(self, i: int):
        """Decode image ``i`` of :attr:`items` to RGB (see :func:`to_rgb`); raise InputError if it fails."""
        rel = self.items[i][0]
        img, reason = _open_checked(self.root / rel, self._max_pixels, decode=True)
        if img is None:
            raise InputError(f"Image {str(self.root / rel)!r} cannot be used: {reason}.")
        with img:
            return to_rgb(img)

    def _decode(self, rel: str):
        """``(RGB image, None)`` or ``(None, reason)`` for item ``rel``."""
        img, reason = _open_checked(self.root / rel, self._max_pixels, decode=True)
        if img is None:
            return None, reason
        with img:
            return to_rgb(img), None

    def _decoded(self, workers: int):
        """``_decode`` of every item in order; with ``workers``, decoded ahead in threads (PIL releases
        the GIL while decoding and resizing), at most ``4 * workers`` images in flight."""
        rels = [rel for rel, _ in self.items]
        if not workers:
            yield from map(self._decode, rels)
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mnc-decode") as pool:
            pending = deque()
            for rel in rels:
                pending.append(pool.submit(self._decode, rel))
                if len(pending) >= 4 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def iter_rgb(self, batch_size: int = 32, *, workers: int = 0):
        """Yield ``(indices, images)`` batches of at most ``batch_size`` RGB images, in :attr:`items` order.

        An image that fails to decode (possible with ``verify="header"``) is left out of its batch
        and recorded in :attr:`report`; ``indices`` say which items the images are. ``workers``:
        decode in that many threads ahead of the consumer (the same images, in the same order).
        """
        batch_size = check_int("batch_size", batch_size, low=1, owner="ImageFolder.iter_rgb")
        workers = check_int("workers", workers, low=0, owner="ImageFolder.iter_rgb")
        seen = {s.path for s in self.report.skipped}
        indices, images = [], []
        for i, ((rel, _), (img, reason)) in enumerate(zip(self.items, self._decoded(workers))):
            if img is None:
                if rel not in seen:
                    self.report.skipped.append(SkippedImage(rel, reason))
                    self.report.n_ok -= 1
                    seen.add(rel)
                continue
            images.append(img)
            indices.append(i)
            if len(images) == batch_size:
                yield indices, images
                indices, images = [], []
        if images:
            yield indices, images

    def subset(self, indices) -> "ImageFolder":
        """A view on the items at ``indices`` (same folder and settings)."""
        return ImageFolder._from_items(self, [self.items[int(i)] for i in indices])

    def content_hash(self) -> str:
        """SHA-1 (hex) of the usable images: relative paths, file bytes and captions, in order.

        Stable across machines and listing orders; changes when an image is added, removed, renamed
        or edited, or a caption changes. Meant as a cache key for profiles.
        """
        h = hashlib.sha1()
        for rel, caption in self.items:
            file_hash = hashlib.sha1()
            with (self.root / rel).open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    file_hash.update(chunk)
            record = json.dumps([rel, file_hash.hexdigest(), caption], ensure_ascii=False)
            h.update(record.encode("utf-8") + b"\n")
        return h.hexdigest()


def split(dataset: ImageFolder, val_fraction: float = 0.2, random_state=0) -> tuple[ImageFolder, ImageFolder]:
    """Split a dataset into train and validation views, reproducibly.

    The items are sorted by path, so the split depends only on the set of files and the seed, not
    on the file system's listing order. ``round(val_fraction * n)`` images (at least one) go to
    validation; both parts keep :attr:`ImageFolder.items` order.

    Parameters
    ----------
    dataset : ImageFolder
    val_fraction : float in (0, 1), default=0.2
    random_state : int, default=0

    Returns
    -------
    train, val : ImageFolder

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for k in range(5): Image.new("RGB", (2, 2)).save(d / f"{k}.png")
    >>> train, val = split(ImageFolder(d), 0.4, random_state=0)
    >>> len(train), len(val)
    (3, 2)
    """
    if not isinstance(dataset, ImageFolder):
        raise InputError(f"The 'dataset' parameter of split must be an ImageFolder. Got {type(dataset).__name__}.")
    val_fraction = check_real("val_fraction", val_fraction, low=0.0, high=1.0, low_open=True, high_open=True,
                              owner="split")
    n = len(dataset)
    if n < 2:
        raise InputError(f"Image folder {str(dataset.root)!r} has {n} usable image(s); a split needs at least 2.")
    n_val = min(max(int(round(val_fraction * n)), 1), n - 1)
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise InputError(f"The 'random_state' parameter of split must be an int. Got {random_state!r} instead.")
    perm = np.random.default_rng(int(random_state)).permutation(n)
    val_idx = np.sort(perm[:n_val])
    train_idx = np.sort(perm[n_val:])
    return dataset.subset(train_idx), dataset.subset(val_idx)
