"""Build domains into Hugging Face ImageFolder datasets.

Output of :func:`build_domain` (``out_dir/<domain>/``)::

    images/00000.png ...   # size x size RGB PNG (see _render.fit_square for the policy)
    metadata.jsonl         # {"file_name": "images/00000.png", "text": caption, "key", "package", "meta"}
    domain.json            # domain, packages (version, licence, sha256), n, size, seed, builder version, skips

Selection: the extractor's items, sorted by key, shuffled with ``random.Random(seed)``; the first
``n`` that decode, are not blank (one flat colour) and are not pixel-identical to an earlier image
are kept, in that order. With the
same packages (pinned by sha256), ``n``, ``size``, ``seed`` and builder version, every file is
byte-identical from one build to the next: nothing time-dependent is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from matchchoose import InputError, MatchChooseError, check_int
from matchchoose.cli import ProgressBar

from .._deps import INSTALL
from .._deps import require as require_tool
from ._fetch import PackageCache, tool_status
from ._render import fit_square, png_bytes
from ._spec import Domain, Item, Sources

__all__ = ["BUILDER_VERSION", "BuildResult", "build_all", "build_domain", "domain_status", "fetch_sources",
           "list_items"]

#: Bump when a change of the builder changes the bytes it writes.
BUILDER_VERSION = "1"
#: Fraction of ``size`` left free around padded images.
MARGIN = 0.04
_MAX_LISTED_SKIPS = 20
#: Images whose pixel standard deviation is below this (of 255) show nothing and are skipped.
BLANK_STD = 3.0


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_domain` did: ``status`` is ``"built"`` or ``"up to date"`` (nothing written)."""

    domain: str
    path: Path
    n: int
    n_available: int
    n_skipped: int
    n_duplicates: int
    seconds: float
    status: str = "built"


def _blank(img, background: str) -> bool:
    """Whether a source image, composited on the domain's background, is (almost) one flat colour:
    an empty frame, a white glow on white, a black square."""
    import numpy as np

    arr = np.asarray(img.convert("RGBA"), dtype=np.float32)
    alpha = arr[..., 3:] / 255.0
    bg = 255.0 if background == "white" else 0.0
    rgb = arr[..., :3] * alpha + bg * (1 - alpha)
    return float(rgb.std()) < BLANK_STD


def _registry() -> dict[str, Domain]:
    from . import DOMAINS

    return DOMAINS


def resolve(domain) -> Domain:
    """A :class:`Domain` from itself or its name; an unknown name lists the known ones."""
    if isinstance(domain, Domain):
        return domain
    registry = _registry()
    if domain not in registry:
        raise InputError(f"Unknown micro-zoo domain {domain!r}; known domains: {', '.join(registry)}.")
    return registry[domain]


def resolve_many(domains) -> list[Domain]:
    """Domains from ``"all"``/``None``, a comma-separated string or an iterable of names or domains."""
    if domains is None or domains == "all":
        return list(_registry().values())
    if isinstance(domains, (str, Domain)):
        domains = [d.strip() for d in domains.split(",") if d.strip()] if isinstance(domains, str) else [domains]
    out = [resolve(d) for d in domains]
    if not out:
        raise InputError("No domain given; pass 'all' or comma-separated names (mnc-microzoo datasets list).")
    return list({d.name: d for d in out}.values())


def _require_modules(domain: Domain) -> None:
    for module in domain.requires:
        require_tool(module, f"The micro-zoo domain '{domain.name}'")


def domain_status(domain, cache: PackageCache | None = None) -> str:
    """``"cached"``, ``"download N MB"`` or why the domain cannot be built here (one line)."""
    import importlib.util

    domain = resolve(domain)
    cache = cache or PackageCache()
    missing = [m for m in domain.requires if importlib.util.find_spec(m.split(".")[0]) is None]
    if missing:
        return f"no: needs {', '.join(missing)} ({INSTALL})"
    todo = [p for p in domain.packages if not cache.is_cached(p)]
    if not todo:
        return "cached"
    for pkg in todo:
        problem = tool_status(pkg.registry)
        if problem:
            return f"no: {problem}"
    size = sum(p.size_mb or 0 for p in todo)
    return f"download {size:.0f} MB" if size >= 1 else "download < 1 MB"


def fetch_sources(domain, cache: PackageCache | None = None) -> Sources:
    """Fetch (or find in the cache) every package of ``domain``; return their unpacked roots."""
    domain = resolve(domain)
    _require_modules(domain)
    cache = cache or PackageCache()
    return Sources({p.name: cache.fetch(p, domain=domain.name) for p in domain.packages})


def list_items(domain, sources: Sources) -> list[Item]:
    """The domain's items, sorted by key, duplicates of a key dropped (the first one kept)."""
    domain = resolve(domain)
    items: dict[str, Item] = {}
    try:
        for item in domain.extract(sources):
            items.setdefault(item.key, item)
    except MatchChooseError:
        raise
    except Exception as exc:  # a package whose layout is not the one the extractor knows
        where = ", ".join(str(p) for p in sources.values())
        raise MatchChooseError(f"Domain '{domain.name}' cannot read its packages ({type(exc).__name__}: {exc}); "
                               f"check the unpacked trees ({where}) or delete them to fetch again.") from exc
    return [items[k] for k in sorted(items)]


def _settings(domain: Domain, n: int, size: int, seed: int, packages: list[dict]) -> dict:
    return {"domain": domain.name, "builder_version": BUILDER_VERSION, "n_requested": n, "size": size, "seed": seed,
            "packages": packages}


def _up_to_date(target: Path, settings: dict) -> bool:
    try:
        old = json.loads((target / "domain.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(old.get(k) == v for k, v in settings.items()) and (target / "metadata.jsonl").is_file()


def build_domain(domain, out_dir, n: int = 200, size: int = 128, seed: int = 0, *, cache: PackageCache | None = None,
                 overwrite: bool = False, on_image: Callable[[int, int], None] | None = None) -> BuildResult:
    """Write ``n`` captioned images of one domain to ``out_dir/<domain>/`` (Hugging Face ImageFolder).

    Parameters
    ----------
    domain : str or Domain
        A registered name (``mnc-microzoo datasets list``) or a :class:`Domain`.
    out_dir : path-like
        Parent folder; the domain's folder is created inside it.
    n : int, default 200
        Number of images (fewer when the domain has fewer; a warning says so).
    size : int, default 128
        Side of the square output images, in pixels.
    seed : int, default 0
        Seed of the selection; the same seed gives the same files, byte for byte.
    cache : PackageCache, optional
        Where packages are downloaded; default ``$MNC_CACHE_DIR/microzoo/packages``.
    overwrite : bool, default False
        Rebuild and replace an existing folder. Without it, a folder built with the same settings,
        packages and builder version is left alone (``status="up to date"``) and one built
        otherwise is an error.
    on_image : callable, optional
        ``on_image(done, total)`` after each image written (progress bars).

    Returns
    -------
    BuildResult

    Raises
    ------
    InputError
        Unknown domain, bad parameter, or an existing folder built with other settings.
    MissingToolError, FetchError, MissingDependencyError
        A package cannot be fetched, or an optional module (cairosvg) is missing.

    Examples
    --------
    >>> build_domain("kgeography_flags", "/tmp/microzoo", n=20)  # doctest: +SKIP
    BuildResult(domain='kgeography_flags', path=PosixPath('/tmp/microzoo/kgeography_flags'), n=20, ...)
    """
    domain = resolve(domain)
    n = check_int("n", n, low=1, owner="build_domain")
    size = check_int("size", size, low=8, high=4096, owner="build_domain")
    seed = check_int("seed", seed, low=0, owner="build_domain")
    cache = cache or PackageCache()
    start = time.perf_counter()
    out_dir = Path(out_dir)
    target = out_dir / domain.name

    sources = fetch_sources(domain, cache)
    packages = []
    for pkg in domain.packages:
        manifest = cache.manifest(pkg) or {}
        packages.append({"registry": pkg.registry, "name": pkg.name, "version": pkg.version, "licence": pkg.licence,
                         "file": manifest.get("file"), "sha256": manifest.get("sha256")})
    settings = _settings(domain, n, size, seed, packages)
    if target.exists() and not overwrite:
        if _up_to_date(target, settings):
            meta = json.loads((target / "domain.json").read_text(encoding="utf-8"))
            return BuildResult(domain.name, target, meta["n"], meta["n_available"], meta["n_skipped"],
                               meta["n_duplicates"], time.perf_counter() - start, "up to date")
        raise InputError(f"{target} exists and was built with other settings or packages; pass overwrite=True "
                         f"(mnc-microzoo datasets build --overwrite) or choose another output folder.")

    items = list_items(domain, sources)
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{domain.name}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    keys = {p.name: p.key for p in domain.packages}
    rows, skipped, seen = [], [], set()
    n_duplicates = 0
    try:
        for index in order:
            if len(rows) >= n:
                break
            item = items[index]
            try:
                img = item.load()
                if img is None:
                    skipped.append({"key": item.key, "reason": "nothing to draw"})
                    continue
                if _blank(img, domain.background):
                    skipped.append({"key": item.key, "reason": "blank image (one flat colour)"})
                    continue
                img = fit_square(img, size, fit=domain.fit, trim=domain.trim, pixel_art=domain.pixel_art,
                                 background=domain.background, margin=MARGIN)
                caption = domain.caption(item)
            except MatchChooseError:
                raise
            except Exception as exc:  # a broken file in a package is skipped, and listed
                skipped.append({"key": item.key, "reason": f"{type(exc).__name__}: {exc}"[:200]})
                continue
            digest = hashlib.sha256(img.tobytes()).digest()
            if digest in seen:
                n_duplicates += 1
                continue
            seen.add(digest)
            file_name = f"images/{len(rows):05d}.png"
            (tmp / file_name).write_bytes(png_bytes(img))
            rows.append({"file_name": file_name, "text": caption, "key": item.key,
                         "package": keys.get(item.package) or domain.packages[0].key, "meta": dict(item.meta)})
            if on_image is not None:
                on_image(len(rows), n)
        if not rows:
            first = skipped[0]["reason"] if skipped else "the extractor found no images"
            raise MatchChooseError(f"Domain '{domain.name}' produced no image ({first}); check its packages in "
                                   f"{cache.root}.")
        with open(tmp / "metadata.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        info = {
            **settings, "title": domain.title, "group": domain.group, "n": len(rows), "n_available": len(items),
            "n_skipped": len(skipped), "n_duplicates": n_duplicates, "skipped": skipped[:_MAX_LISTED_SKIPS],
            "licence": domain.licence, "attribution": domain.attribution, "caption_template": domain.caption_template,
            "image_policy": {"fit": domain.fit, "trim": domain.trim, "pixel_art": domain.pixel_art,
                             "background": domain.background, "margin": MARGIN, "format": "PNG RGB"},
            "selection": "items sorted by key, shuffled with Python random.Random(seed); the first n that decode, "
                         "are not blank and are not pixel-identical to an earlier image",
        }
        (tmp / "domain.json").write_text(json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if len(rows) < n:
        warnings.warn(f"Domain '{domain.name}' has only {len(rows)} usable images of the {n} asked for.",
                      RuntimeWarning, stacklevel=2)
    return BuildResult(domain.name, target, len(rows), len(items), len(skipped), n_duplicates,
                       time.perf_counter() - start)


def build_all(out_dir, domains="all", n: int = 200, size: int = 128, seed: int = 0, *,
              cache: PackageCache | None = None, overwrite: bool = False, progress: bool = True,
              keep_going: bool = False) -> list[BuildResult | MatchChooseError]:
    """Build several domains, with a rich progress bar.

    Parameters
    ----------
    out_dir : path-like
    domains : "all", str or iterable
        ``"all"``, ``"a,b"`` or a list of names or :class:`Domain` objects.
    n, size, seed, cache, overwrite
        As in :func:`build_domain`.
    progress : bool, default True
        Show a progress bar (on stderr).
    keep_going : bool, default False
        On a domain's error, record it (as the returned exception) and build the next one.

    Returns
    -------
    list
        One :class:`BuildResult` (or, with ``keep_going``, the error) per domain, in order.
    """
    chosen = resolve_many(domains)
    cache = cache or PackageCache()
    results: list[BuildResult | MatchChooseError] = []
    with ProgressBar(len(chosen), "domains", enabled=progress, elapsed=True) as bar:
        for domain in chosen:

            def tick(done, total, name=domain.name):
                bar.update(description=f"{name}: {done}/{total} images")

            try:
                result = build_domain(domain, out_dir, n, size, seed, cache=cache, overwrite=overwrite, on_image=tick)
            except MatchChooseError as exc:
                if not keep_going:
                    raise
                result = exc
            results.append(result)
            bar.advance(description=f"{domain.name} ({_short(result)})")
    return results


def _short(result) -> str:
    if isinstance(result, BuildResult):
        return f"{result.n} images, {result.status}"
    return "failed"


def iter_metadata(folder) -> Iterable[dict]:
    """Rows of a built domain's ``metadata.jsonl``."""
    with open(Path(folder) / "metadata.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
