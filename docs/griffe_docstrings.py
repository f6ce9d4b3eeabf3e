"""Griffe extension for the API reference: read steervec's docstrings as napoleon would.

* ``Example:`` heads the doctests of most docstrings (napoleon and the Google style guide allow
  it); griffe only knows ``Examples:`` and would render the singular as an admonition, where
  ``>>>`` lines become block quotes. The heading is renamed in the text griffe parses.
* Sphinx roles (``:class:`~steervec.core.model.LanguageModel```, ``:func:`trait_vector```) become
  links to the object's entry, resolved from the docstring's scope as Sphinx would; a name that
  does not resolve to a documented object (torch, a private helper) stays plain code.

The source is unchanged; only the text griffe parses is.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
_ROLE = re.compile(r":(?:class|func|meth|data|attr|mod|exc|obj):`(~?)([\w.]+)(?:\(\))?`")


def _canonical(obj: griffe.Object, target: str, loader: griffe.GriffeLoader) -> str | None:
    """The canonical path of ``target`` seen from ``obj``'s scope, or ``None``."""
    head, _, rest = target.partition(".")
    try:
        if head in loader.modules_collection.members:
            found: Any = loader.modules_collection[target]
        else:
            scope: Any = obj if obj.is_class or obj.is_module else obj.parent
            path = scope.resolve(head) + (f".{rest}" if rest else "")
            found = loader.modules_collection[path]
        return str(found.canonical_path)
    except Exception:  # unresolvable or outside the loaded packages: plain code
        return None


class NapoleonDocstrings(griffe.Extension):
    """Normalise ``Example:`` headings and turn Sphinx roles into optional cross-references."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            stack.extend(m for m in obj.members.values() if not m.is_alias)  # type: ignore[misc]
            if obj.docstring is not None:
                obj.docstring.value = self._rewrite(obj, obj.docstring.value, loader)

    def _rewrite(self, obj: griffe.Object, text: str, loader: griffe.GriffeLoader) -> str:
        def role(match: re.Match[str]) -> str:
            short, target = match.group(1), match.group(2)
            title = html.escape(target.rsplit(".", 1)[-1] if short else target)
            path = _canonical(obj, target, loader)
            if path is None:
                return f"<code>{title}</code>"
            return f'<autoref identifier="{html.escape(path)}" optional><code>{title}</code></autoref>'

        return _ROLE.sub(role, _EXAMPLE.sub(r"\1Examples:", text))
