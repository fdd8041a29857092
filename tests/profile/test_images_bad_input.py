"""Hostile image folders: non-UTF-8 captions, subfolders that cannot be listed, only broken images.
Each is one clear line (or a listed skip), never a traceback, and nothing is stored."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from matchchoose import InputError
from matchchoose.profile import ImageFolder


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(root / f"{i}.png")
    Image.new("RGB", (8, 8)).save(root / "sub" / "s.png")
    return root


def test_non_utf8_sidecar_caption_names_the_file_and_line(folder, mnc):
    (folder / "1.txt").write_bytes(b"a cat\ncaf\xe9 au lait\n")
    with pytest.raises(InputError, match=r"1\.txt', line 2: byte 0xe9 is not UTF-8: save it as UTF-8"):
        ImageFolder(folder)
    kb = folder.parent / "kb.sqlite"
    code, _, err = mnc("profile", folder, "--name", "t", "--probe", "pixels", "--kb", kb)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "is not UTF-8" in err
    assert not kb.exists()


def test_non_utf8_metadata_jsonl_names_the_line(folder):
    (folder / "metadata.jsonl").write_bytes(b'{"file_name": "0.png", "text": "ok"}\n{"file_name": "1.png", '
                                            b'"text": "\xff"}\n')
    with pytest.raises(InputError, match=r"metadata\.jsonl:2: byte 0xff is not UTF-8"):
        ImageFolder(folder)


def test_subfolder_that_cannot_be_listed_is_reported_as_skipped(folder, monkeypatch):
    # Tests may run as root, for whom chmod 000 does not bite: make listing that one folder fail.
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith(os.sep + "sub"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    ds = ImageFolder(folder)
    assert [rel for rel, _ in ds.items] == ["0.png", "1.png", "2.png"]
    assert [(s.path, s.reason) for s in ds.report.skipped] == [("sub/", "folder cannot be listed: Permission denied")]
    assert "sub/: folder cannot be listed" in str(ds.report)


def test_root_that_cannot_be_listed_is_an_error(folder, monkeypatch):
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": (_ for _ in ()).throw(
        PermissionError(13, "Permission denied", os.fspath(path))) if os.fspath(path) == str(folder)
        else real_scandir(path))
    with pytest.raises(InputError, match=r"imgs' cannot be read: .*Permission denied"):
        ImageFolder(folder)


def test_only_broken_images_is_one_line(tmp_path):
    for name in ("a.png", "b.jpg"):
        (tmp_path / name).write_bytes(b"not an image at all")
    with pytest.raises(InputError) as info:
        ImageFolder(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "none of its 2 images is readable (first: a.png: not a readable image" in message
    assert message.endswith("check the files or point to another folder.")
