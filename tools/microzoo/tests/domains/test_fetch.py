"""The package cache: one download per package version, verified, unpacked; one-line errors when a
registry client is missing or a download fails. The registries' commands are replaced by a fake."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import zipfile

import pytest

from matchchoose_microzoo.domains import FetchError, MissingToolError, Package, PackageCache, _fetch
from matchchoose_microzoo.domains._fetch import extract_deb


def _tar_xz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("./usr/share/doc/x/changelog")  # Debian packages hold absolute links
        link.type, link.linkname = tarfile.SYMTYPE, "/usr/share/doc/other/changelog"
        tar.addfile(link)
    return buf.getvalue()


def make_deb(files: dict[str, bytes]) -> bytes:
    """A minimal Debian package (``ar``: debian-binary, control.tar.xz, data.tar.xz)."""
    control = b"Package: fake\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: d\n"
    members = [("debian-binary", b"2.0\n"), ("control.tar.xz", _tar_xz({"./control": control})),
               ("data.tar.xz", _tar_xz(files))]
    out = b"!<arch>\n"
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += header + data + (b"\n" if len(data) % 2 else b"")
    return out


def make_tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_whl(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


class FakeRegistry:
    """Stands in for ``run_command``: serves one file per registry, counts the calls, fails on demand."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.fail = False
        self.files = {
            "apt-get": ("fake-data_1.0-1_all.deb", make_deb({"./usr/share/fake/hello.txt": b"hello"})),
            "npm": ("scope-fake-2.0.0.tgz", make_tgz({"icons.json": b"{}"})),
            "pip": ("fake-3.0-py3-none-any.whl", make_whl({"fake/data.txt": b"data"})),
        }

    def __call__(self, args, cwd):
        self.calls.append(list(args))
        tool = "pip" if "pip" in args else args[0]
        if tool == "dpkg-deb":
            return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
        if self.fail:
            return subprocess.CompletedProcess(args, 100, "", "E: Unable to locate package fake-data\n")
        name, data = self.files[tool]
        (cwd / name).write_bytes(data)
        return subprocess.CompletedProcess(args, 0, "", "W: Download is performed unsandboxed as root\n")

    def downloads(self):
        return [c for c in self.calls if c[0] != "dpkg-deb"]


@pytest.fixture
def registry(monkeypatch):
    fake = FakeRegistry()
    monkeypatch.setattr(_fetch, "run_command", fake)
    monkeypatch.setattr(_fetch, "which", lambda tool: None if tool == "dpkg-deb" else f"/usr/bin/{tool}")
    return fake


DEB = Package("deb", "fake-data", "1:1.0-1", "GPL-2.0-or-later")
NPM = Package("npm", "@scope/fake", "2.0.0", "MIT")
PIP = Package("pip", "fake", "3.0", "MIT")


def test_cache_folder_under_mnc_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MNC_CACHE_DIR", str(tmp_path))
    assert PackageCache().root == tmp_path / "microzoo" / "packages"
    assert PackageCache().folder(NPM).relative_to(tmp_path).as_posix() == \
        "microzoo/packages/npm/%40scope%2Ffake/2.0.0"
    monkeypatch.delenv("MNC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert PackageCache().root == tmp_path / "xdg" / "matchchoose" / "microzoo" / "packages"


@pytest.mark.parametrize("pkg, inside", [(DEB, "usr/share/fake/hello.txt"), (NPM, "icons.json"),
                                         (PIP, "fake/data.txt")])
def test_second_fetch_does_not_download_again(registry, tmp_path, pkg, inside):
    cache = PackageCache(tmp_path)
    root = cache.fetch(pkg)
    assert (root / inside).is_file()
    assert len(registry.downloads()) == 1
    manifest = cache.manifest(pkg)
    file = cache.folder(pkg) / manifest["file"]
    assert manifest["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert manifest["name"] == pkg.name and manifest["version"] == pkg.version
    assert PackageCache(tmp_path).fetch(pkg) == root  # a new cache object, same folder
    assert len(registry.downloads()) == 1
    assert not list(cache.folder(pkg).glob(".download-*")) and not list(cache.folder(pkg).glob(".unpack-*"))


def test_download_commands(registry, tmp_path):
    cache = PackageCache(tmp_path)
    for pkg in (DEB, NPM, PIP):
        cache.fetch(pkg)
    apt, npm, pip = registry.downloads()
    assert apt == ["apt-get", "download", "fake-data=1:1.0-1"]
    assert npm[:3] == ["npm", "pack", "@scope/fake@2.0.0"]
    assert pip[1:5] == ["-m", "pip", "download", "--no-deps"] and "fake==3.0" in pip and "--only-binary=:all:" in pip
    assert json.loads((cache.folder(DEB) / "package.json").read_text())["command"].startswith("apt-get download")


def test_npm_content_root_is_the_package_folder(registry, tmp_path):
    root = PackageCache(tmp_path).fetch(NPM)
    assert root.name == "package"


def test_sha256_mismatch_is_rejected_and_the_file_removed(registry, tmp_path):
    pinned = Package("deb", "fake-data", "1:1.0-1", "GPL", sha256="0" * 64)
    cache = PackageCache(tmp_path)
    with pytest.raises(FetchError, match="sha256") as err:
        cache.fetch(pinned, domain="fake_domain")
    assert "Domain 'fake_domain' needs deb:fake-data=1:1.0-1" in str(err.value)
    assert not cache.is_cached(pinned) and not list(cache.folder(pinned).glob("*.deb"))


def test_pinned_sha256_that_matches_is_accepted(registry, tmp_path):
    data = registry.files["npm"][1]
    pinned = Package("npm", "@scope/fake", "2.0.0", "MIT", sha256=hashlib.sha256(data).hexdigest())
    assert PackageCache(tmp_path).fetch(pinned).is_dir()


def test_missing_registry_client_says_what_to_install(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(_fetch, "run_command", lambda args, cwd: calls.append(args))
    monkeypatch.setattr(_fetch, "which", lambda tool: None)
    cache = PackageCache(tmp_path)
    with pytest.raises(MissingToolError) as err:
        cache.fetch(DEB, domain="wesnoth_units")
    message = str(err.value)
    assert "\n" not in message and not calls
    assert "Domain 'wesnoth_units' needs the Debian package fake-data=1:1.0-1" in message
    assert "apt-get is not installed" in message and "Debian 12 (bookworm)" in message
    assert str(cache.folder(DEB)) in message
    with pytest.raises(MissingToolError, match="npm is not installed: install Node.js and npm"):
        cache.fetch(NPM)


def test_failed_download_is_one_line(registry, tmp_path):
    registry.fail = True
    with pytest.raises(FetchError) as err:
        PackageCache(tmp_path).fetch(DEB, domain="wesnoth_units")
    message = str(err.value)
    assert "\n" not in message
    assert "Unable to locate package fake-data" in message and "apt-get update" in message


def test_a_package_file_put_by_hand_is_used(monkeypatch, tmp_path):
    monkeypatch.setattr(_fetch, "run_command", lambda args, cwd: pytest.fail("must not download"))
    monkeypatch.setattr(_fetch, "which", lambda tool: None)  # no apt, no dpkg: Python unpacks it
    cache = PackageCache(tmp_path)
    folder = cache.folder(DEB)
    folder.mkdir(parents=True)
    (folder / "fake-data_1.0-1_all.deb").write_bytes(FakeRegistry().files["apt-get"][1])
    root = cache.fetch(DEB)
    assert (root / "usr/share/fake/hello.txt").read_bytes() == b"hello"
    assert cache.manifest(DEB)["command"] == "placed by hand"


def test_python_deb_extraction_matches_dpkg(tmp_path):
    deb = tmp_path / "fake.deb"
    deb.write_bytes(FakeRegistry().files["apt-get"][1])
    extract_deb(deb, tmp_path / "py")
    assert (tmp_path / "py/usr/share/fake/hello.txt").read_bytes() == b"hello"
    assert not (tmp_path / "py/usr/share/doc/x/changelog").exists()  # the absolute link is skipped
    if _fetch.shutil.which("dpkg-deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "dpkg")], check=True)
        assert (tmp_path / "dpkg/usr/share/fake/hello.txt").read_bytes() == b"hello"
    (tmp_path / "bad.deb").write_bytes(b"not a deb")
    with pytest.raises(FetchError, match="not a Debian package"):
        extract_deb(tmp_path / "bad.deb", tmp_path / "bad")


def test_dpkg_deb_is_used_when_present(monkeypatch, registry, tmp_path):
    if not _fetch.shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb is not installed")
    monkeypatch.setattr(_fetch, "which", lambda tool: f"/usr/bin/{tool}")
    root = PackageCache(tmp_path).fetch(DEB)
    assert (root / "usr/share/fake/hello.txt").is_file()
    assert any(c[0] == "dpkg-deb" for c in registry.calls)


def test_remove(registry, tmp_path):
    cache = PackageCache(tmp_path)
    cache.fetch(PIP)
    assert cache.remove(PIP) and not cache.is_cached(PIP) and not cache.remove(PIP)
