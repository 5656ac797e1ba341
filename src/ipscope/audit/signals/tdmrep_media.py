"""TDMRep in EPUB and PDF files (§ TDM Metadata in EPUB, § TDM Metadata in PDF): split from ``tdmrep``,
which re-exports :func:`epub_findings` and :func:`pdf_findings` and decides precedence.

Nothing here raises on bad input: every reader returns its findings and a list of :class:`Problem`.
"""

from __future__ import annotations

import mmap
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from pathlib import Path

from ipscope.audit.signals.base import Finding, Problem
from ipscope.audit.signals.tdmrep import MAX_XML, TDM_NAMESPACES, _level, _p

_PREFIX = re.compile(r"([A-Za-z_][\w.-]*):\s+(\S+)")
_OPF_MEDIA = "application/oebps-package+xml"


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _xml(data: bytes, where: str, problems: list[Problem]) -> ET.Element | None:
    if b"<!ENTITY" in data:
        problems.append(_p(where, "XML declares entities; not parsed (entity expansion is a known attack)"))
        return None
    try:
        return ET.fromstring(data)
    except (ET.ParseError, ValueError, RecursionError) as e:
        problems.append(_p(where, f"not well-formed XML ({e}); TDMRep metadata not read"))
        return None


def _zip_read(zf: zipfile.ZipFile, name: str, where: str, problems: list[Problem]) -> bytes | None:
    info = zf.getinfo(name)
    if info.file_size > MAX_XML:
        problems.append(_p(where, f"{name} is {info.file_size:,} bytes uncompressed (limit {MAX_XML:,}); not read"))
        return None
    with zf.open(info) as fh:
        return fh.read(MAX_XML + 1)[:MAX_XML]


def epub_findings(path: Path) -> tuple[list[Finding], list[Problem]]:
    """TDMRep metadata of an EPUB's package document (covers every resource of the package). Never raises."""
    problems: list[Problem] = []
    where = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            opf_name = _rootfile(zf, where, problems)
            data = _zip_read(zf, opf_name, where, problems) if opf_name else None
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, RuntimeError,
            NotImplementedError, zlib.error, ValueError) as e:
        return [], [_p(where, f"cannot read the EPUB ({type(e).__name__}: {e}); TDMRep metadata not read")]
    if data is None:
        return [], problems
    where = f"{path}!{opf_name}"
    root = _xml(data, where, problems)
    if root is None:
        return [], problems
    prefixes = dict(_PREFIX.findall(root.get("prefix", "")))
    res: list[str] = []
    pol: list[str] = []
    snippets: list[str] = []
    undeclared = False
    for meta in (el for el in root.iter() if _local(el.tag) == "meta"):
        name = meta.get("name")
        if name in ("tdm:reservation", "tdm:policy"):
            value = meta.get("content", "")
            snippets.append(f'<meta name="{name}" content="{value}"/>')
            (res if name == "tdm:reservation" else pol).append(value)
            continue
        prop = meta.get("property") or ""
        pfx, colon, term = prop.partition(":")
        if not colon or term not in ("reservation", "policy") or meta.get("refines"):
            continue
        iri = prefixes.get(pfx)
        if iri is None and pfx == "tdm":
            undeclared = True
        elif iri not in TDM_NAMESPACES:
            continue
        value = (meta.text or "").strip()
        snippets.append(f'<meta property="{prop}">{value}</meta>')
        (res if term == "reservation" else pol).append(value)
    if undeclared:
        problems.append(_p(where, "prefix \"tdm\" is used but not declared on <package>; read as TDMRep — add "
                                  "prefix=\"tdm: http://www.w3.org/ns/tdmrep#\""))
    if not res:
        return [], problems
    f = _level(f"{where} <meta tdm:reservation>", where, res, pol, " ".join(snippets), problems)
    return ([f] if f else []), problems


def _rootfile(zf: zipfile.ZipFile, where: str, problems: list[Problem]) -> str | None:
    names = zf.namelist()
    if "META-INF/container.xml" in names:
        data = _zip_read(zf, "META-INF/container.xml", where, problems)
        root = _xml(data, f"{where}!META-INF/container.xml", problems) if data else None
        if root is not None:
            found = [(el.get("media-type"), el.get("full-path")) for el in root.iter()
                     if _local(el.tag) == "rootfile" and el.get("full-path")]
            for media, full in sorted(found, key=lambda x: x[0] != _OPF_MEDIA):
                if full in names:
                    return full
    opfs = [n for n in names if n.lower().endswith(".opf")]
    if opfs:
        problems.append(_p(where, f"META-INF/container.xml does not name a package document; used {opfs[0]}"))
        return opfs[0]
    problems.append(_p(where, "no package document (.opf) found; not an EPUB? TDMRep metadata not read"))
    return None


# -------------------------------------------------------------------------------------------------- PDF
# § TDM Metadata in PDF files: tdm:reservation / tdm:policy in the XMP packet, namespace
# http://www.w3.org/ns/tdmrep/. The packet lives in a stream object whose dictionary has /Type /Metadata. A
# stream's dictionary is never inside a compressed object stream, so it is always visible in the raw bytes;
# the stream data may be /FlateDecode-compressed, which zlib undoes. The document's own packet is the one the
# catalog's /Metadata names (pages and images may carry their own); when the catalog sits in a compressed
# object stream and cannot be seen, every packet that has TDMRep properties counts.

_PDF_META = re.compile(rb"/Type\s*/Metadata\b")
_PDF_OBJ = re.compile(rb"(\d+)\s+\d+\s+obj\b")
_PDF_STREAM = re.compile(rb"\bstream(?:\r\n|\n|\r)")
_PDF_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[^\s/<>\[\]()]+)")
_PDF_CATALOG = re.compile(rb"/Type\s*/Catalog\b")
_PDF_REF = re.compile(rb"/Metadata\s+(\d+)\s+\d+\s+R")
_XMP = re.compile(rb"<(?:[\w.-]+:)?xmpmeta\b.*?</(?:[\w.-]+:)?xmpmeta\s*>", re.DOTALL)
_RDF = re.compile(rb"<((?:[\w.-]+:)?)RDF\b.*?</\1RDF\s*>", re.DOTALL)
_XMLNS_TDM = re.compile(rb"""xmlns:([\w.-]+)\s*=\s*["']?http://www\.w3\.org/ns/tdmrep[/#]""")


def pdf_findings(path: Path) -> tuple[list[Finding], list[Problem]]:
    """TDMRep properties of a PDF's XMP metadata (covers every page). Never raises."""
    where = str(path)
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _pdf(data, where)
    except (OSError, ValueError) as e:  # ValueError: an empty file cannot be mapped
        return [], [_p(where, f"cannot read the PDF ({type(e).__name__}: {e}); TDMRep metadata not read")]


def _obj_head(data: mmap.mmap, pos: int) -> re.Match[bytes] | None:
    """The ``N G obj`` header nearest before ``pos`` (within 4 KiB: dictionaries before a stream are short)."""
    head = None
    for head in _PDF_OBJ.finditer(data, max(0, pos - 4096), pos):
        pass
    return head


def _pdf(data: mmap.mmap, where: str) -> tuple[list[Finding], list[Problem]]:
    problems: list[Problem] = []
    if data.find(b"%PDF-", 0, 1024) < 0:
        return [], [_p(where, "no %PDF- header: not a PDF; TDMRep metadata not read")]
    packets: dict[int | None, tuple[int, bytes]] = {}  # object number -> (offset, XMP); a later object wins
    seen = 0  # metadata streams found, read or not
    for m in _PDF_META.finditer(data):
        s = _PDF_STREAM.search(data, m.end(), m.end() + 65536)
        if s is None or data.find(b"endobj", m.end(), s.start()) >= 0:
            continue
        seen += 1
        head = _obj_head(data, m.start())
        num = int(head.group(1)) if head else None
        label = f"{where} object {num}"
        end = data.find(b"endstream", s.end(), s.end() + MAX_XML)
        if end < 0:
            problems.append(_p(label, "metadata stream has no endstream within the size limit; not read"))
            continue
        flt = _PDF_FILTER.search(data, m.start(), s.start())
        raw = data[s.end():end]
        names = re.findall(rb"/(\w+)", flt.group(1)) if flt else []
        if names == [b"FlateDecode"]:
            try:
                raw = zlib.decompressobj().decompress(raw, MAX_XML)
            except zlib.error as e:
                problems.append(_p(label, f"metadata stream does not inflate ({e}); not read"))
                continue
        elif names:
            problems.append(_p(label, f"metadata stream uses filter {b' '.join(names).decode()}, which ipscope "
                                      "does not decode; not read"))
            continue
        packets[num] = (m.start(), raw)
    catalog = None
    for c in _PDF_CATALOG.finditer(data):
        head = _obj_head(data, c.start())
        stop = data.find(b"endobj", c.end())
        ref = _PDF_REF.search(data, head.end() if head else c.start(), stop if stop >= 0 else len(data))
        if ref:
            catalog = int(ref.group(1))  # the last catalog in the file (incremental updates) wins
    if catalog in packets:
        chosen = [(catalog, packets[catalog][1])]
    else:
        chosen = [(n, raw) for n, (_, raw) in sorted(packets.items(), key=lambda kv: kv[1][0])]
    if not seen:  # no stream dictionary recognised (a damaged file?): scan for a bare packet
        bare = _XMP.search(data)
        if bare is not None:
            chosen = [(None, bare.group(0))]
    if not chosen:
        if seen:
            return [], problems  # each unreadable stream has its Problem already
        if data.find(b"/Encrypt") >= 0:
            why = "the PDF is encrypted"
        elif data.find(b"/ObjStm") >= 0:
            why = "its objects are in compressed object streams and no metadata stream was found"
        elif data.find(b"/Metadata") >= 0:
            why = "a /Metadata entry exists but its stream could not be read"
        else:
            return [], problems  # no XMP at all: nothing to read, nothing wrong
        problems.append(_p(where, f"XMP metadata not found ({why}); TDMRep properties, if any, were not read"))
        return [], problems
    res: list[str] = []
    pol: list[str] = []
    snippets: list[str] = []
    first = None
    for num, raw in chosen:
        label = f"{where} XMP" + (f" (object {num})" if num is not None else "")
        r, p = _xmp_props(raw, label, problems)
        if r and first is None:
            first = label
        res += [v for v, _ in r]
        pol += [v for v, _ in p]
        snippets += [s for _, s in r + p]
    if not res or first is None:
        return [], problems
    f = _level(f"{first} tdm:reservation", first, res, pol, " ".join(snippets), problems)
    return ([f] if f else []), problems


def _xmp_props(raw: bytes, where: str, problems: list[Problem]
               ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(value, evidence) of each tdm:reservation and tdm:policy in one XMP packet."""
    m = _XMP.search(raw) or _RDF.search(raw)
    if m is None:
        return [], []
    xml = m.group(0)
    props: dict[str, list[tuple[str, str]]] = {"reservation": [], "policy": []}
    if b"<!ENTITY" not in xml:
        try:
            root = ET.fromstring(xml)
        except (ET.ParseError, ValueError, RecursionError) as e:
            problems.append(_p(where, f"XMP is not well-formed XML ({e}); TDMRep properties read by pattern"))
        else:
            for el in root.iter():
                for k, v in el.attrib.items():  # XMP shorthand: <rdf:Description tdm:reservation="1">
                    ns, _, term = k[1:].partition("}")
                    if k[:1] == "{" and ns in TDM_NAMESPACES and term in props:
                        props[term].append((v.strip(), f'tdm:{term}="{v.strip()}"'))
                tag = el.tag if isinstance(el.tag, str) else ""
                ns, _, term = tag[1:].partition("}")
                if tag[:1] == "{" and ns in TDM_NAMESPACES and term in props:
                    v = (el.text or "").strip()
                    props[term].append((v, f"<tdm:{term}>{v}</tdm:{term}>"))
            return props["reservation"], props["policy"]
    for pfx in set(_XMLNS_TDM.findall(xml)):
        p = re.escape(pfx)
        for t, v in re.findall(rb"<" + p + rb":(reservation|policy)\s*>\s*([^<]*?)\s*</" + p + rb":\1\s*>", xml):
            term, value = t.decode(), v.decode("utf-8", "replace")
            props[term].append((value, f"<tdm:{term}>{value}</tdm:{term}>"))
        for t, v in re.findall(rb"\b" + p + rb""":(reservation|policy)\s*=\s*["']([^"']*)["']""", xml):
            term, value = t.decode(), v.decode("utf-8", "replace").strip()
            props[term].append((value, f'tdm:{term}="{value}"'))
    return props["reservation"], props["policy"]
