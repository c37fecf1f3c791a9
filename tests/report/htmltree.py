"""A strict little HTML tree from the standard library's `html.parser`, for assertions on pages:
every non-void element must be closed, in order, and ids must be unique."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    nodes: list[Element | str] = field(default_factory=list)

    @property
    def children(self) -> list[Element]:
        return [n for n in self.nodes if isinstance(n, Element)]

    def iter(self, tag: str | None = None):
        """This element and its descendants (of one tag when given), document order."""
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            yield from child.iter(tag)

    def find(self, tag: str | None = None, **attrs) -> list[Element]:
        """Descendants of this tag whose attributes contain ``attrs`` (``class_`` for class:
        one of its space-separated names)."""
        found = []
        for element in self.iter(tag):
            ok = True
            for key, value in attrs.items():
                name = key.rstrip("_").replace("_", "-")
                have = element.attrs.get(name)
                if name == "class":
                    ok &= value in (have or "").split()
                else:
                    ok &= have == value
            if ok:
                found.append(element)
        return found

    def by_id(self, identifier: str) -> Element:
        (element,) = self.find(id=identifier)
        return element

    @property
    def text(self) -> str:
        """All text inside, whitespace collapsed."""
        parts = [n if isinstance(n, str) else n.text for n in self.nodes]
        return " ".join(" ".join(parts).split())


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.doctype = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs))
        self.stack[-1].nodes.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].nodes.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        open_tag = self.stack[-1].tag
        if open_tag != tag:
            raise AssertionError(f"</{tag}> closes <{open_tag}> at line {self.getpos()[0]}")
        self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].nodes.append(data)


def parse(text: str) -> Element:
    """The document's tree; AssertionError for unclosed or misnested elements, a missing
    doctype, or duplicate ids."""
    builder = _Builder()
    builder.feed(text)
    builder.close()
    if len(builder.stack) != 1:
        raise AssertionError(f"unclosed elements: {[e.tag for e in builder.stack[1:]]}")
    if (builder.doctype or "").lower() != "doctype html":
        raise AssertionError(f"doctype is {builder.doctype!r}, expected 'DOCTYPE html'")
    ids = [e.attrs["id"] for e in builder.root.iter() if "id" in e.attrs]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise AssertionError(f"duplicate ids: {sorted(duplicates)[:5]}")
    return builder.root
