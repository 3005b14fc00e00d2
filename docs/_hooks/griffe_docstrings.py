"""Griffe extension: read minikeras's docstrings the way their authors meant them.

The docstrings are Google style with a few reStructuredText habits that Markdown renders badly:

* an ``Example:`` section made of ``>>>`` lines (Griffe only turns the plural ``Examples:`` into
  code blocks; the singular becomes an admonition where ``>>>`` reads as nested quotes);
* Sphinx roles such as ``:class:`~minikeras.autograd.tape.GradientTape```, shown as code here;
* a paragraph ending in ``::`` before an indented literal block (Markdown needs only the indent).

The source stays untouched; only what the API reference shows is rewritten.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj|py:\w+):`(~?)([^`]+)`")
_LITERAL = re.compile(r"(\S)::[ \t]*$", re.M)
_SECTION = re.compile(r"^([ \t]*)Example:[ \t]*$")


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _examples(text: str) -> str:
    """Rename an ``Example:`` section to ``Examples:`` when its body is doctest lines."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        head = _SECTION.match(line)
        if not head:
            continue
        indent = len(head.group(1))
        body = []
        for nxt in lines[i + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            body.append(nxt.strip())
        if any(b.startswith(">>>") for b in body):
            lines[i] = f"{head.group(1)}Examples:"
    return "\n".join(lines)


def rewrite(text: str) -> str:
    """The Markdown-friendly form of one docstring."""
    text = _examples(text)
    text = _ROLE.sub(_role, text)
    return _LITERAL.sub(r"\1:", text)


class MarkdownDocstrings(Extension):
    """Apply :func:`rewrite` to every docstring Griffe loads."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is created."""
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
