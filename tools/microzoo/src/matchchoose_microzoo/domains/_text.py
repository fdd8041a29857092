"""Small text helpers shared by the extractors: names from file names, and three file formats
(Java ``.properties``, Lisp-like ``.sprite`` files and Wesnoth's WML) read with the standard library."""

from __future__ import annotations

import re

__all__ = ["nice", "parse_properties", "parse_sexpr", "parse_wml", "strip_digits"]


def nice(text: str) -> str:
    """A file or icon name as words: separators become spaces, runs of spaces collapse.

    Examples
    --------
    >>> nice("preferences-desktop_peripherals")
    'preferences desktop peripherals'
    """
    return re.sub(r"\s+", " ", re.sub(r"[_\-+.]+", " ", text)).strip()


def strip_digits(stem: str) -> str:
    """Drop a trailing number (``green2`` -> ``green``, ``ladybug_01`` -> ``ladybug``).

    Examples
    --------
    >>> strip_digits("ladybug_01")
    'ladybug'
    """
    return re.sub(r"[_\-]?\d+$", "", stem) or stem


def parse_properties(text: str) -> dict[str, str]:
    """Parse a Java ``.properties`` file: ``key=value`` or ``key: value``, ``#``/``!`` comments,
    backslash line continuations and ``\\uXXXX`` escapes.

    Examples
    --------
    >>> parse_properties("name#1=Caf\\\\u00e9 \\\\\\n  table\\n# c\\ncategory#1 : Kitchen")
    {'name#1': 'Café table', 'category#1': 'Kitchen'}
    """
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        line = line.lstrip()
        if not line or line[0] in "#!":
            continue
        while line.endswith("\\") and not line.endswith("\\\\"):
            line = line[:-1] + next(lines, "").lstrip()
        match = re.match(r"((?:\\.|[^=:\s])+)(?:\s*[=:]\s*|\s+|$)(.*)$", line)
        if not match:
            continue
        key, value = (_unescape(part) for part in match.groups())
        out[key] = value
    return out


def _unescape(text: str) -> str:
    def sub(m):
        code = m.group(1)
        if code.startswith("u"):
            return chr(int(code[1:], 16))
        return {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(code, code)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", sub, text)


def parse_sexpr(text: str) -> list:
    """Parse S-expressions (SuperTux ``.sprite`` files) into nested lists of atoms and strings.

    Strings stay quoted-free ``str``; atoms are ``str`` too (numbers are not converted); ``;``
    starts a comment.

    Examples
    --------
    >>> parse_sexpr('(sprite (action (name "left") (images "a.png" "b.png")))')
    [['sprite', ['action', ['name', 'left'], ['images', 'a.png', 'b.png']]]]
    """
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[()]|;[^\n]*|[^\s()";]+', text)
    stack: list[list] = [[]]
    for tok in tokens:
        if tok.startswith(";"):
            continue
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if len(stack) > 1:
                done = stack.pop()
                stack[-1].append(done)
        elif tok.startswith('"'):
            stack[-1].append(tok[1:-1].replace('\\"', '"'))
        else:
            stack[-1].append(tok)
    while len(stack) > 1:  # unbalanced file: close what is open
        done = stack.pop()
        stack[-1].append(done)
    return stack[0]


class WmlNode:
    """One ``[tag]`` of a WML file: its attributes (``key=value``) and its child nodes."""

    __slots__ = ("tag", "attrs", "children")

    def __init__(self, tag: str):
        self.tag = tag
        self.attrs: dict[str, str] = {}
        self.children: list[WmlNode] = []

    def find(self, tag: str) -> list["WmlNode"]:
        """Direct children called ``tag``."""
        return [c for c in self.children if c.tag == tag]

    def __repr__(self):
        return f"WmlNode({self.tag!r}, {len(self.attrs)} attrs, {len(self.children)} children)"


def parse_wml(text: str) -> WmlNode:
    """Parse Wesnoth Markup Language enough to read unit definitions.

    Keeps tags and attributes, reads translatable (``_ "..."``) and multi-line strings with
    doubled-quote escapes, and skips comments, ``#define ... #enddef`` macro bodies and macro
    calls (``{...}`` lines). Both branches of ``#ifdef`` are read.

    Examples
    --------
    >>> text = '[unit_type]\\n name= _ "Spearman"\\n race=human\\n[female]\\n  name= _ "female^Spearman"\\n[/female]'
    >>> root = parse_wml(text + '\\n[/unit_type]')
    >>> unit = root.find("unit_type")[0]
    >>> unit.attrs["name"], unit.find("female")[0].attrs["name"]
    ('Spearman', 'female^Spearman')
    """
    root = WmlNode("")
    stack = [root]
    in_define = False
    pending_key, pending_value = None, ""
    for raw in text.splitlines():
        if pending_key is not None:  # inside a multi-line string
            pending_value += "\n" + raw
            if _closed(pending_value):
                stack[-1].attrs[pending_key] = _wml_value(pending_value)
                pending_key = None
            continue
        line = raw.strip()
        if in_define:
            in_define = not line.startswith("#enddef")
            continue
        if line.startswith("#define"):
            in_define = True
            continue
        if not line or line.startswith("#") or line.startswith("{"):
            continue
        tag = re.match(r"^\[(/?)([+]?)([a-z_0-9]+)\]", line)
        if tag:
            closing, _, name = tag.groups()
            if closing:
                if len(stack) > 1 and stack[-1].tag == name:
                    stack.pop()
            else:
                node = WmlNode(name)
                stack[-1].children.append(node)
                stack.append(node)
            continue
        attr = re.match(r"^([a-z_0-9,]+)\s*=\s*(.*)$", line)
        if attr:
            key, value = attr.groups()
            if _closed(value):
                stack[-1].attrs[key] = _wml_value(value)
            else:
                pending_key, pending_value = key, value
    return root


def _closed(value: str) -> bool:
    """Whether every string opened in ``value`` is closed (an even number of quotes)."""
    return value.count('"') % 2 == 0


def _wml_value(value: str) -> str:
    value = re.sub(r'\s+#[^"]*$', "", value.strip())  # a trailing comment outside strings
    parts = re.findall(r'"((?:[^"]|"")*)"', value)
    if parts:
        return "".join(p.replace('""', '"') for p in parts).strip()
    return value.strip()
