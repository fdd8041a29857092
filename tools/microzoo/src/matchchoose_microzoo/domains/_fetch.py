"""Download and unpack registry packages once, into a cache keyed by registry, name and version.

Layout of the cache (``$MNC_CACHE_DIR/microzoo/packages``, else
``$XDG_CACHE_HOME/matchchoose/microzoo/packages``, else ``~/.cache/matchchoose/microzoo/packages``)::

    deb/wesnoth-1.16-data/1%3A1.16.9-1/
        wesnoth-1.16-data_1%3a1.16.9-1_all.deb    # the file the registry served
        package.json                              # registry, name, version, file, sha256, size, command
        root/                                     # dpkg-deb -x of it (npm: the tarball; pip: the wheel)

A package counts as cached once ``package.json`` and ``root/`` exist; both are written last, through
a rename, so an interrupted download leaves nothing that looks complete. The download commands are
the registries' own clients: ``apt-get download NAME=VERSION`` (unpacked with ``dpkg-deb -x``, or in
Python where dpkg is missing), ``npm pack NAME@VERSION`` and ``pip download --no-deps``. A file put
into the package's folder by hand (on a machine without apt, say) is used instead of downloading, once
its sha256 matches the pinned one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import quote

from matchchoose import cache_dir

from ._spec import FetchError, MissingToolError, Package

__all__ = ["PackageCache", "default_cache_dir", "run_command", "sha256_file", "tool_status"]

#: pip platform of wheels: fixed, so that every machine downloads the same file (same sha256).
PIP_PLATFORM = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp",
                "--abi", "cp311", "--only-binary=:all:")
_PATTERN = {"deb": "{name}_*.deb", "npm": "*.tgz", "pip": "*.whl"}
_INSTALL_HINT = {
    "apt-get": "build it on Debian 12 (bookworm)",
    "npm": "install Node.js and npm (apt-get install npm)",
    "pip": "install pip in this environment (python -m ensurepip)",
}


def default_cache_dir() -> Path:
    """``packages`` in matchchoose's ``microzoo`` cache: ``$MNC_CACHE_DIR/microzoo/packages``, else
    ``$XDG_CACHE_HOME/matchchoose/...`` (``~/.cache``); ``mnc cache clear microzoo`` removes it."""
    return cache_dir("microzoo") / "packages"


def run_command(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``args`` in ``cwd``, capturing text output; the single place fetching runs a process."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def which(tool: str) -> str | None:
    """Path of ``tool``, or ``None``; pip is looked up as a module of this Python."""
    if tool == "pip":
        return sys.executable if importlib.util.find_spec("pip") is not None else None
    return shutil.which(tool)


def tool_status(registry: str) -> str | None:
    """``None`` when the client of ``registry`` is installed, else what to do about it."""
    tool = {"deb": "apt-get", "npm": "npm", "pip": "pip"}[registry]
    return None if which(tool) else f"{tool} not found: {_INSTALL_HINT[tool]}"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip() and not line.startswith("W:")]
    return lines[-1] if lines else "no output"


def _safe_members(member: tarfile.TarInfo, path: str):
    """tarfile's ``data`` filter, but links that point outside the tree are skipped, not fatal
    (Debian packages hold absolute symlinks such as ``/usr/share/fonts/...``)."""
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is None:  # Python < 3.11.4: keep plain files and folders with relative names only
        name = member.name.lstrip("./")
        unsafe = member.name.startswith("/") or ".." in Path(name).parts
        return None if unsafe or not (member.isfile() or member.isdir()) else member
    try:
        return data_filter(member, path)
    except tarfile.FilterError:
        return None


def extract_deb(deb: Path, dest: Path) -> None:
    """Unpack the ``data.tar.*`` member of a ``.deb`` (an ``ar`` archive) into ``dest``, like ``dpkg-deb -x``.

    Raises
    ------
    FetchError
        On a file that is not a Debian package, or whose data is compressed with zstd (which
        Python's standard library cannot read: install dpkg).
    """
    modes = {".xz": "r:xz", ".gz": "r:gz", ".bz2": "r:bz2", ".tar": "r:"}
    with open(deb, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise FetchError(f"{deb} is not a Debian package (no ar header); delete it and fetch again.")
        while True:
            header = fh.read(60)
            if len(header) < 60:
                break
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            data = fh.read(size)
            if size % 2:
                fh.read(1)
            if not name.startswith("data.tar"):
                continue
            suffix = name[len("data.tar"):] or ".tar"
            if suffix not in modes:
                raise FetchError(f"{deb.name}: data member {name} needs dpkg-deb to unpack: apt-get install dpkg.")
            with tarfile.open(fileobj=io.BytesIO(data), mode=modes[suffix]) as tar:
                tar.extractall(dest, filter=_safe_members)
            return
    raise FetchError(f"{deb} has no data.tar member; delete it and fetch again.")


class PackageCache:
    """Fetch packages once and hand out their unpacked trees.

    Parameters
    ----------
    root : path-like, optional
        Cache folder; default :func:`default_cache_dir`.

    Examples
    --------
    >>> cache = PackageCache("/tmp/mz-cache")
    >>> cache.folder(Package("deb", "kanjidic", "2022.08.23", "CC-BY-SA-3.0")).parts[-3:]
    ('deb', 'kanjidic', '2022.08.23')
    """

    def __init__(self, root=None):
        self.root = Path(root) if root is not None else default_cache_dir()

    # -------------------------------------------------------------------------------- layout
    def folder(self, pkg: Package) -> Path:
        """Folder of one package version (name and version URL-quoted: ``@``, ``/`` and ``:`` are safe)."""
        return self.root / pkg.registry / quote(pkg.name, safe="") / quote(pkg.version, safe="")

    def manifest(self, pkg: Package) -> dict | None:
        """The recorded ``package.json`` of a cached package, or ``None``."""
        path = self.folder(pkg) / "package.json"
        if not path.is_file() or not (self.folder(pkg) / "root").is_dir():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def is_cached(self, pkg: Package) -> bool:
        """Whether ``pkg`` is downloaded and unpacked."""
        return self.manifest(pkg) is not None

    def content_root(self, pkg: Package) -> Path:
        """The unpacked tree extractors read (npm: the tarball's single top folder, ``package/``)."""
        manifest = self.manifest(pkg)
        if manifest is None:
            raise FetchError(f"{pkg.key} is not in the cache {self.root}; fetch it first.")
        return self.folder(pkg) / manifest.get("content_root", "root")

    def remove(self, pkg: Package) -> bool:
        """Delete a cached package; return whether there was one."""
        folder = self.folder(pkg)
        if not folder.exists():
            return False
        shutil.rmtree(folder)
        return True

    # -------------------------------------------------------------------------------- fetching
    def fetch(self, pkg: Package, *, domain: str | None = None) -> Path:
        """Download (unless cached), verify and unpack ``pkg``; return its content root.

        Parameters
        ----------
        pkg : Package
        domain : str, optional
            Named in error messages ("domain 'wesnoth_units' needs ...").

        Raises
        ------
        MissingToolError
            The registry's client (apt-get, npm, pip) is not installed.
        FetchError
            The download failed or its sha256 differs from ``pkg.sha256``.
        """
        if self.is_cached(pkg):
            return self.content_root(pkg)
        folder = self.folder(pkg)
        folder.mkdir(parents=True, exist_ok=True)
        who = f"Domain '{domain}' needs" if domain else "Need"
        file, command = self._local_file(pkg), "placed by hand"
        if file is None:
            file, command = self._download(pkg, folder, who)
        digest = sha256_file(file)
        if pkg.sha256 and digest != pkg.sha256:
            file.unlink()
            raise FetchError(f"{who} {pkg.key} with sha256 {pkg.sha256}, but {file.name} has {digest}: the "
                             f"registry serves a different file; the deleted download will be fetched again next time.")
        content = self._unpack(pkg, file, folder)
        manifest = {"registry": pkg.registry, "name": pkg.name, "version": pkg.version, "file": file.name,
                    "sha256": digest, "size_bytes": file.stat().st_size, "command": command,
                    "content_root": content}
        tmp = folder / f".package.json.{os.getpid()}"
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, folder / "package.json")
        return self.content_root(pkg)

    def _local_file(self, pkg: Package) -> Path | None:
        pattern = _PATTERN[pkg.registry].format(name=pkg.name)
        files = sorted(p for p in self.folder(pkg).glob(pattern) if p.is_file())
        return files[0] if files else None

    def _download(self, pkg: Package, folder: Path, who: str) -> tuple[Path, str]:
        tool = {"deb": "apt-get", "npm": "npm", "pip": "pip"}[pkg.registry]
        if which(tool) is None:
            kind = {"deb": "the Debian package", "npm": "the npm package", "pip": "the PyPI package"}[pkg.registry]
            raise MissingToolError(f"{who} {kind} {pkg.spec}, but {tool} is not installed: {_INSTALL_HINT[tool]}, "
                                   f"or put the package file into {folder}.")
        args = {
            "deb": ["apt-get", "download", pkg.spec],
            "npm": ["npm", "pack", pkg.spec, "--silent"],
            "pip": [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-d", ".", pkg.spec,
                    *PIP_PLATFORM],
        }[pkg.registry]
        scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
        try:
            result = run_command(args, cwd=scratch)
            pattern = _PATTERN[pkg.registry].format(name=pkg.name)
            files = sorted(scratch.glob(pattern))
            if result.returncode != 0 or len(files) != 1:
                hint = {"deb": "the micro zoo pins Debian 12 (bookworm) packages: run 'apt-get update' on bookworm",
                        "npm": "check that registry.npmjs.org is reachable",
                        "pip": "check that pypi.org is reachable"}[pkg.registry]
                raise FetchError(f"{who} {pkg.key}, but '{' '.join(args[:3])} ...' failed "
                                 f"({_last_line(result.stderr or result.stdout)}): {hint}, or put the package file "
                                 f"into {folder}.")
            target = folder / files[0].name
            os.replace(files[0], target)
            return target, " ".join(str(a) for a in args if a != sys.executable).replace("-m pip", "pip")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _unpack(self, pkg: Package, file: Path, folder: Path) -> str:
        """Unpack ``file`` into ``folder/root`` (through a temporary folder); return the content root,
        relative to ``folder``."""
        root = folder / "root"
        if root.exists():
            shutil.rmtree(root)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=folder))
        try:
            if pkg.registry == "deb":
                if which("dpkg-deb"):
                    result = run_command(["dpkg-deb", "-x", str(file), str(tmp)], cwd=folder)
                    if result.returncode != 0:
                        raise FetchError(f"dpkg-deb -x {file.name} failed ({_last_line(result.stderr)}): delete "
                                         f"{folder} and fetch again.")
                else:
                    extract_deb(file, tmp)
            elif pkg.registry == "npm":
                with tarfile.open(file, "r:gz") as tar:
                    tar.extractall(tmp, filter=_safe_members)
            else:
                with zipfile.ZipFile(file) as whl:
                    whl.extractall(tmp)
        except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FetchError(f"Cannot unpack {file} ({exc}): delete it and fetch again.") from None
        try:
            os.replace(tmp, root)
        except OSError:  # another process unpacked the same package meanwhile: keep its tree
            shutil.rmtree(tmp, ignore_errors=True)
            if not root.is_dir():
                raise
        if pkg.registry == "npm":
            tops = [p for p in root.iterdir() if p.is_dir()]
            if len(tops) == 1 and not [p for p in root.iterdir() if p.is_file()]:
                return f"root/{tops[0].name}"
        return "root"
