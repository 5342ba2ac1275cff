"""Griffe extension for the API pages: the code's docstrings are written in reST habits
(``:class:`~jepa_core.x.Y``` roles, ``>>>`` doctests, ``Example::`` literal blocks); this turns
them into Markdown before mkdocstrings renders them.

* a role becomes an optional cross-reference (a link when the target is documented, plain code
  otherwise);
* a run of doctest lines (``>>>`` at the start of a line, with its continuation and output lines)
  becomes a fenced ``pycon`` block;
* a paragraph ending in ``::`` ends in ``:`` (the indented block after it is already a Markdown
  code block).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`(?P<body>[^`]+)`")


def _role(match: re.Match[str]) -> str:
    body = match.group("body").strip()
    explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", body)
    if explicit:
        title, target = explicit.group("title"), explicit.group("target")
    else:
        target = body.lstrip("~.")
        title = target.rsplit(".", 1)[-1] if body.startswith("~") else target
    title = html.escape(title)
    return f'<autoref identifier="{html.escape(target)}" optional><code>{title}</code></autoref>'


def _fence_doctests(text: str) -> str:
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            if out and out[-1].strip():
                out.append("")
            out += ["```pycon", *block, "```"]
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def convert(text: str) -> str:
    """The docstring ``text`` in Markdown (see the module docstring)."""
    text = ROLE.sub(_role, text)
    text = _fence_doctests(text)
    return re.sub(r"(\S)::[ \t]*$", r"\1:", text, flags=re.MULTILINE)


class ReSTToMarkdown(griffe.Extension):
    """Applies :func:`convert` to every loaded docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
