"""A safe, small XML reader for signal documents (RSL licences): expat, no DTD, no entities, bounded depth.

Python's ``xml.etree`` expands internal entities and a DTD can declare entities that expand to gigabytes
("billion laughs") or name local files. Rights documents never need a DTD, so :func:`parse_xml` refuses one
outright, before any entity can be declared, never parses parameter entities and caps nesting; the caller caps
the size before calling. The result is a plain tree of :class:`Node` with namespace URIs and line numbers.
"""

from __future__ import annotations

import xml.parsers.expat as expat
from dataclasses import dataclass, field


class Refused(Exception):
    """The document was refused unread (a DTD, an entity, too deep); the message says why."""


@dataclass(slots=True)
class Node:
    """One element: namespace URI (``""`` for none), local name, attributes by local name, line, children,
    and its text (character data directly inside it, stripped)."""

    ns: str
    name: str
    attrs: dict[str, str]
    line: int
    children: list["Node"] = field(default_factory=list)
    text: str = ""
    max_text: int = 200

    def start_tag(self) -> str:
        attrs = "".join(f' {k}="{v}"' for k, v in self.attrs.items())
        return f"<{self.name}{attrs}>"

    def shown(self) -> str:
        """The element as evidence: ``<permits type="usage">ai-train</permits>`` (text cut at ``max_text``)."""
        body = " ".join(self.text.split())
        if len(body) > self.max_text:
            body = body[: self.max_text] + "…"
        return f"{self.start_tag()}{body}</{self.name}>" if body or not self.children else self.start_tag()


def parse_xml(data: bytes, max_depth: int = 64, max_text: int = 200) -> Node:
    """The element tree of ``data``; raises :class:`Refused` or ``expat.ExpatError`` with the reason."""
    p = expat.ParserCreate(namespace_separator="\x01")
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root: list[Node] = []
    stack: list[Node] = []
    texts: list[list[str]] = []

    def doctype(*_a: object) -> None:
        raise Refused("has a document type declaration (<!DOCTYPE>); refused unread, as RSL documents have none "
                      "and a DTD can declare entities that expand to gigabytes or read local files")

    def entity(*_a: object) -> None:
        raise Refused("declares an entity; refused unread")

    def start(tag: str, attrs: dict[str, str]) -> None:
        if len(stack) >= max_depth:
            raise Refused(f"elements nested deeper than {max_depth} levels; refused")
        ns, _, name = tag.rpartition("\x01")
        node = Node(ns, name, {k.rpartition("\x01")[2]: v for k, v in attrs.items()}, p.CurrentLineNumber,
                    max_text=max_text)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)
        texts.append([])

    def end(_tag: str) -> None:
        node = stack.pop()
        node.text = "".join(texts.pop()).strip()

    def chars(s: str) -> None:
        if texts:
            texts[-1].append(s)

    p.StartDoctypeDeclHandler = doctype
    p.EntityDeclHandler = entity
    p.ExternalEntityRefHandler = lambda *_a: 0  # never reached (no DTD); refuse anyway
    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = chars
    p.Parse(data, True)
    return root[0]
