"""Fixtures shared across the library's test suite (keep this file small). ``kb``, ``run_cli`` and the
temporary ``MNC_CACHE_DIR`` come from the repository's root conftest.py (shared with tools/microzoo/tests)."""

from __future__ import annotations

import functools

import pytest


@pytest.fixture
def write_csv(tmp_path):
    """``write_csv(name, text)``: write ``text`` (dedented, stripped) to ``tmp_path / name``; return the path."""
    import textwrap

    def write(name: str, text: str):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).strip() + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def fresh_embedding_memory():
    """Empty the in-process graph embedding cache (every learner's) before and after the test."""
    from matchchoose.graph import _embedder

    _embedder._MEMORY.clear()
    yield _embedder._MEMORY
    _embedder._MEMORY.clear()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """``tiny(name, **options)``: folder of a tiny random-weight pipeline (:mod:`matchchoose.finetune.tiny`),
    built once per session and shared by the fine-tuning, sampling and grid tests (they only read it)."""
    from matchchoose.finetune.tiny import build_tiny_pipeline

    root = tmp_path_factory.mktemp("tiny_pipelines")
    cache = {}

    def build(name: str, **options):
        key = (name, tuple(sorted(options.items())))
        if key not in cache:
            suffix = "".join(f"-{k}{v}" for k, v in sorted(options.items()))
            cache[key] = build_tiny_pipeline(name, root / f"{name}{suffix}", **options)
        return cache[key]

    return build


@pytest.fixture
def one_line_error():
    """``one_line_error(code, err, *fragments)``: the CLI failed with exit code 2 and one line on stderr,
    no traceback, naming every fragment (what the user must read: the file, the column, the fix)."""

    def check(code, err, *fragments):
        assert code == 2, (code, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        for fragment in fragments:
            assert fragment in err, (fragment, err)

    return check


@pytest.fixture
def mnc(run_cli):
    """``mnc(*args)``: run the CLI in-process; return ``(exit code, stdout, stderr)``."""
    from matchchoose.cli import main

    return functools.partial(run_cli, main)


COLORS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200), "yellow": (220, 220, 40),
          "cyan": (40, 220, 220), "magenta": (220, 40, 220), "orange": (240, 140, 20)}


@pytest.fixture
def color_zoo(tmp_path):
    """A tiny real world: one folder of 10 noisy 16x16 PNGs per colour of :data:`COLORS` (seeded),
    and ``results.csv``: 4 models whose ``clip_fid`` depends on the colour (model i is best on
    colours strong in channel i; model 3 is the generalist), for every colour but orange.

    Returns ``(tmp_path, colour -> folder, results.csv path)``.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    folders = {}
    for name, rgb in COLORS.items():
        folder = tmp_path / "images" / name
        folder.mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(np.array(rgb)[None, None, :] + rng.normal(0, 40, (16, 16, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
        folders[name] = folder
    weights = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.4, 0.4, 0.4]])
    rows = ["model,dataset,metric,value"]
    for name, rgb in COLORS.items():
        if name == "orange":
            continue
        affinity = weights @ (np.array(rgb) / 255)
        rows += [f"m{m},{name},clip_fid,{30 - 10 * affinity[m] + rng.normal(0, 0.3):.4f}" for m in range(4)]
    results = tmp_path / "results.csv"
    results.write_text("\n".join(rows) + "\n")
    return tmp_path, folders, results
