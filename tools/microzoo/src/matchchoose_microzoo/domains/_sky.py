"""Stellarium's sky: real astrophotographs of deep-sky objects, and constellation artwork of 25
sky cultures."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

from ._render import open_image
from ._spec import Domain, Item, Package, Sources
from ._text import nice

__all__ = ["DOMAINS", "MESSIER_NGC", "designation", "read_textures_json"]

STELLARIUM = Package("deb", "stellarium-data", "0.22.2-1", "GPL-2.0-or-later",
                     sha256="45aaebf39a814acbd6dcccea058c2f5651bcb5635599da03a215feeb51f4d5a5", size_mb=246)
_BASE = "usr/share/stellarium"

#: NGC number (or other designation) of each Messier object, M1 to M110 (the photos are named
#: ``m<N>.png`` while Stellarium's names table lists most of them by NGC number).
MESSIER_NGC = dict(enumerate((
    "NGC 1952", "NGC 7089", "NGC 5272", "NGC 6121", "NGC 5904", "NGC 6405", "NGC 6475", "NGC 6523", "NGC 6333",
    "NGC 6254", "NGC 6705", "NGC 6218", "NGC 6205", "NGC 6402", "NGC 7078", "NGC 6611", "NGC 6618", "NGC 6613",
    "NGC 6273", "NGC 6514", "NGC 6531", "NGC 6656", "NGC 6494", "M 24", "IC 4725", "NGC 6694", "NGC 6853",
    "NGC 6626", "NGC 6913", "NGC 7099", "NGC 224", "NGC 221", "NGC 598", "NGC 1039", "NGC 2168", "NGC 1960",
    "NGC 2099", "NGC 1912", "NGC 7092", "M 40", "NGC 2287", "NGC 1976", "NGC 1982", "NGC 2632", "M 45",
    "NGC 2437", "NGC 2422", "NGC 2548", "NGC 4472", "NGC 2323", "NGC 5194", "NGC 7654", "NGC 5024", "NGC 6715",
    "NGC 6809", "NGC 6779", "NGC 6720", "NGC 4579", "NGC 4621", "NGC 4649", "NGC 4303", "NGC 6266", "NGC 5055",
    "NGC 4826", "NGC 3623", "NGC 3627", "NGC 2682", "NGC 4590", "NGC 6637", "NGC 6681", "NGC 6838", "NGC 6981",
    "NGC 6994", "NGC 628", "NGC 6864", "NGC 650", "NGC 1068", "NGC 2068", "NGC 1904", "NGC 6093", "NGC 3031",
    "NGC 3034", "NGC 5236", "NGC 4374", "NGC 4382", "NGC 4406", "NGC 4486", "NGC 4501", "NGC 4552", "NGC 4569",
    "NGC 4548", "NGC 6341", "NGC 2447", "NGC 4736", "NGC 3351", "NGC 3368", "NGC 3587", "NGC 4192", "NGC 4254",
    "NGC 4321", "NGC 5457", "NGC 5866", "NGC 581", "NGC 4594", "NGC 3379", "NGC 4258", "NGC 6171", "NGC 3556",
    "NGC 3992", "NGC 205"), start=1))
#: File-name prefix -> (catalogue shown in captions, catalogue of names.dat).
_CATALOGUES = {"m": ("Messier", "M"), "n": ("NGC", "NGC"), "ngc": ("NGC", "NGC"), "ic": ("IC", "IC"),
               "sh": ("Sh2-", "SH2"), "barnard": ("Barnard", "B"), "b": ("Barnard", "B"), "abell": ("Abell", "ACO"),
               "lbn": ("LBN", "LBN"), "ldn": ("LDN", "LDN"), "u": ("UGC", "UGC"), "p": ("PGC", "PGC"),
               "vdb": ("vdB", "VDB"), "rcw": ("RCW", "RCW")}
#: Photos named in words rather than by catalogue number.
_SPECIAL = {"lmc": "part of the Large Magellanic Cloud", "smc": "part of the Small Magellanic Cloud",
            "barnard_loop": "part of Barnard's Loop", "rho": "part of the Rho Ophiuchi cloud complex",
            "cas": "Cassiopeia A", "pleiades": "the Pleiades", "etacarinae": "the Eta Carinae Nebula",
            "red_rectangle": "the Red Rectangle Nebula", "darkshark": "the Dark Shark Nebula",
            "gammacygni": "the Gamma Cygni Nebula", "jones": "the Jones-Emberson 1 planetary nebula",
            "velasnr": "the Vela Supernova Remnant", "wilds": "Wild's Triplet", "calabash": "the Calabash Nebula",
            "medusa": "the Medusa Nebula"}


def read_textures_json(path: Path) -> dict:
    """Parse Stellarium's ``textures.json``, which is JSON except for numbers such as ``-.97``."""
    text = path.read_text(encoding="utf-8")
    return json.loads(re.sub(r"(?<=[\[\s,:])(-?)\.(\d)", r"\g<1>0.\2", text))


def read_names(path: Path) -> dict[tuple[str, str], str]:
    """``names.dat``: ``(catalogue, number) -> first common name`` (``("NGC", "224") -> "Andromeda Galaxy"``)."""
    names: dict[tuple[str, str], str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r'^(\S+)\s+(\S+)\s+_\("([^"]+)"\)', line)
        if m and not line.startswith("#"):
            names.setdefault((m.group(1).upper(), m.group(2).lstrip("0") or "0"), m.group(3))
    return names


def designation(file_name: str, names: dict[tuple[str, str], str]) -> str:
    """What a photo shows, from its file name: ``"m31.png"`` -> ``"Messier 31, the Andromeda Galaxy"``.

    Examples
    --------
    >>> designation("m31.png", {("NGC", "224"): "Andromeda Galaxy"})
    'Messier 31, the Andromeda Galaxy'
    >>> designation("sh2-132.png", {})
    'Sh2-132'
    >>> designation("lmc_03.png", {})
    'part of the Large Magellanic Cloud'
    """
    stem = re.sub(r"(-vasey|-dss|-sdss\d*|dumont|(?<=\d)h)$", "", file_name.rsplit(".", 1)[0], flags=re.I)
    stem = re.sub(r"^sh2-", "sh", stem, flags=re.I)
    m = re.match(r"^([a-z]+?)_?(\d+)(?:-\d+)?$", stem, re.I)
    prefix = (m.group(1).lower() if m else "")
    if m and prefix in _CATALOGUES and prefix not in ("lmc", "smc"):
        shown, catalogue = _CATALOGUES[prefix]
        number = m.group(2).lstrip("0") or "0"
        label = f"{shown}{'' if shown.endswith('-') else ' '}{number}"
        lookup = [(catalogue, number)]
        if prefix == "m" and int(number) in MESSIER_NGC:
            lookup.insert(0, tuple(MESSIER_NGC[int(number)].split(" ", 1)))
        common = next((names[k] for k in lookup if k in names), None)
        return f"{label}, the {common}" if common and not common.startswith(label) else label
    key = re.sub(r"[-_]?\d+$", "", stem).lower()
    if key in _SPECIAL:
        return _SPECIAL[key]
    if key.endswith("_cluster"):
        return f"the {nice(key).title().replace(' Cluster', '')} galaxy cluster"
    return nice(stem)


def nebulae(src: Sources):
    """Stellarium's default deep-sky photographs (galaxies, nebulae, clusters), credits kept."""
    base = src[STELLARIUM.name] / _BASE / "nebulae" / "default"
    names = read_names(base / "names.dat")
    for tile in read_textures_json(base / "textures.json")["subTiles"]:
        file = tile["imageUrl"]
        credits = tile.get("imageCredits") or {}
        credit = credits.get("short") or credits.get("Short") or ""
        if not (base / file).is_file():
            continue
        yield Item(key=f"nebulae/default/{file}", load=lambda p=base / file: open_image(p),
                   fields={"object": designation(file, names)},
                   meta={"credit": credit, "info": credits.get("infoUrl", "")}, package=STELLARIUM.name)


def _culture_info(folder: Path) -> tuple[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(folder / "info.ini", encoding="utf-8")
        return parser.get("info", "name", fallback=nice(folder.name)), parser.get("info", "license", fallback="")
    except configparser.Error:
        return nice(folder.name), ""


def constellation_art(src: Sources):
    """Constellation drawings of Stellarium's sky cultures (light drawings on black), named in English."""
    base = src[STELLARIUM.name] / _BASE / "skycultures"
    for culture in sorted(p for p in base.iterdir() if (p / "constellationsart.fab").is_file()):
        title, licence = _culture_info(culture)
        english = {}
        names_file = culture / "constellation_names.eng.fab"
        if names_file.is_file():
            for line in names_file.read_text(encoding="utf-8").splitlines():
                m = re.match(r'^(\S+)\s+"([^"]*)"\s*(?:_\("([^"]*)"\))?', line)
                if m:
                    english[m.group(1)] = m.group(3) or m.group(2)
        for line in (culture / "constellationsart.fab").read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) < 2 or line.startswith("#"):
                continue
            path = culture / parts[1]
            if path.is_file():
                yield Item(key=f"skycultures/{culture.name}/{parts[1]}", load=lambda p=path: open_image(p),
                           fields={"culture": title, "name": english.get(parts[0], parts[0])},
                           meta={"licence": licence}, package=STELLARIUM.name)


DOMAINS = [
    Domain("astrophotos", "Stellarium deep-sky astrophotographs: galaxies, nebulae, star clusters", "photos",
           (STELLARIUM,), "GPL-2.0-or-later (per-image credits in metadata)", "astronomical photograph of {object}",
           nebulae, fit="crop", background="black",
           attribution="Stellarium nebula images by the credited photographers (GPL-2.0-or-later)"),
    Domain("constellation_art", "Stellarium constellation artwork of 25 sky cultures", "illustration",
           (STELLARIUM,), "GPL-2.0-or-later AND CC-BY-SA-4.0 (per sky culture)",
           "constellation artwork of {name}, {culture} sky culture", constellation_art, trim=True,
           background="black", attribution="Stellarium sky cultures by their authors (see each culture's info.ini)"),
]
