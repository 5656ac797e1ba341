"""``ipscope registry check``: does the database agree with its log?

Recomputed from the statements alone (the event rows), without trusting the stored tree:

- every event's statement parses, its signature verifies with the log key, its work exists, and the work's
  current row matches the latest statement (hash, ISCC, owner, reservations, withdrawn or not);
- the leaf indexes are 0..n-1 without a gap, and the log holds exactly n leaves;
- each stored leaf hash equals ``SHA-256(0x00 || statement)``;
- every stored interior node equals the hash of its two children, and the root of the stored tree equals the
  root computed from the statements (RFC 9162), at every size a checkpoint could name (the full size here).

and, given the works index (``DATA/works.idx``, ``ipscope.registry.works_index``), at the log position it has
applied (``synced_to``):

- the position is not beyond the log;
- every work registered before the position and not withdrawn is in the index, with the text the database
  holds (its SHA-256 is the work's ``content_sha256``), and none registered after it is;
- no work withdrawn before the position is still in the index, and every document of the index is a work;
- the log's leaf before the position is the one the index recorded when it applied it (same hash).

Leaves after the position are not yet applied: they are counted (``pending``), not reported; the indexer
applies them (``ipscope serve``), as it does after a crash.

Each disagreement is one :class:`Issue` saying what differs; a clean registry gives none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from .dbstore import DbStore
from .merkle import MerkleLog, leaf_hash, node_hash, root_hash
from .models import Event, LogNode, Work
from .receipt import ReceiptFormatError, Statement

if TYPE_CHECKING:
    from .service import Registry


@dataclass(frozen=True, slots=True)
class Issue:
    what: str  # statement, sequence, leaf, node, root, work, index
    where: str  # "leaf 12", "work ab12...", "node (3, 1)"
    detail: str


@dataclass(frozen=True)
class IndexReport:
    """The works index against the database: where it is, how far it has applied the log, what disagrees."""

    path: str
    present: bool
    generation: int
    synced_to: int  # log leaves applied
    pending: int  # log leaves not yet applied
    documents: int
    issues: tuple[Issue, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "present": self.present, "generation": self.generation,
                "synced_to": self.synced_to, "pending": self.pending, "documents": self.documents,
                "issues": [{"what": i.what, "where": i.where, "detail": i.detail} for i in self.issues]}


@dataclass(frozen=True)
class CheckReport:
    events: int
    leaves: int
    works: int
    root: str  # hex of the root recomputed from the statements
    issues: tuple[Issue, ...]
    index: IndexReport | None = None  # the works index's half, when a data directory was given

    @property
    def ok(self) -> bool:
        return not self.issues and (self.index is None or not self.index.issues)

    def to_dict(self) -> dict[str, Any]:
        d = {"ok": self.ok, "events": self.events, "leaves": self.leaves, "works": self.works, "root": self.root,
             "issues": [{"what": i.what, "where": i.where, "detail": i.detail} for i in self.issues]}
        if self.index is not None:
            d["index"] = self.index.to_dict()
        return d

    def text(self) -> str:
        head = (f"registry check: {self.events} statements, {self.leaves} log leaves, {self.works} works, "
                f"root {self.root}\n")
        ix = self.index
        if ix is not None:
            head += (f"works index {ix.path}: generation {ix.generation}, {ix.documents} works, {ix.synced_to} log "
                     f"leaves applied ({ix.pending} pending)\n" if ix.present else
                     f"works index {ix.path}: not made yet ({ix.pending} log leaves to apply)\n")
        issues = self.issues + (ix.issues if ix is not None else ())
        if not issues:
            return head + ("ok: database, log and works index agree\n" if ix is not None else
                           "ok: database and log agree\n")
        return head + "".join(f"DISAGREE {i.what} at {i.where}: {i.detail}\n" for i in issues) + \
            f"{len(issues)} disagreement(s)\n"


def check(reg: Registry, works_index: str | Path | None = None) -> CheckReport:
    """Database against log; and against the works index at ``works_index`` (a ``works.idx`` directory) when
    given."""
    issues: list[Issue] = []
    key = reg.public_key
    with reg.engine.connect() as conn:
        events = conn.execute(select(Event).order_by(Event.leaf_index)).all()
        nodes = {(r.level, r.idx): bytes(r.hash) for r in conn.execute(select(LogNode))}
        works = {r.id: r for r in conn.execute(select(Work))}
        size = DbStore(conn).size()
        stored_root = MerkleLog(DbStore(conn)).root() if _complete(nodes, size) else None
    leaves: list[bytes] = []
    latest: dict[str, Statement] = {}
    for i, ev in enumerate(events):
        where = f"leaf {ev.leaf_index}"
        if ev.leaf_index != i:
            issues.append(Issue("sequence", where, f"expected leaf {i}: the leaf indexes have a gap or repeat"))
        data = bytes(ev.statement)
        leaves.append(leaf_hash(data))
        try:
            st = Statement.from_json(json.loads(data), where)
        except (ReceiptFormatError, ValueError) as e:
            issues.append(Issue("statement", where, f"does not parse: {e}"))
            continue
        if st.canonical() != data:
            issues.append(Issue("statement", where, "is not in RFC 8785 canonical form"))
        if not key.verify(data, bytes(ev.signature)):
            issues.append(Issue("statement", where, "its signature does not verify with the log key"))
        if st.work_id != ev.work_id or st.event != ev.event:
            issues.append(Issue("statement", where, f"says work {st.work_id} {st.event}, the row says "
                                                    f"{ev.work_id} {ev.event}"))
        latest[st.work_id] = st
    if size != len(events):
        issues.append(Issue("sequence", "log", f"the log has {size} leaves, the history {len(events)} statements"))
    for i, lh in enumerate(leaves):
        if nodes.get((0, i)) not in (None, lh):
            issues.append(Issue("leaf", f"leaf {i}", "the stored leaf hash is not SHA-256(0x00 || statement)"))
    for (level, idx), h in sorted(nodes.items()):
        if level == 0:
            continue
        left, right = nodes.get((level - 1, 2 * idx)), nodes.get((level - 1, 2 * idx + 1))
        if left is None or right is None:
            issues.append(Issue("node", f"node ({level}, {idx})", "a child is missing"))
        elif node_hash(left, right) != h:
            issues.append(Issue("node", f"node ({level}, {idx})", "is not the hash of its two children"))
    want = root_hash(leaves)
    if stored_root is None:
        issues.append(Issue("root", "log", "the stored tree lacks subtree hashes it needs for its root"))
    elif stored_root != want:
        issues.append(Issue("root", "log", f"the stored tree's root {stored_root.hex()} is not the root of the "
                                           f"statements {want.hex()}"))
    for wid, row in works.items():
        st = latest.get(wid)
        if st is None:
            issues.append(Issue("work", f"work {wid}", "has no statement in the log"))
            continue
        diffs = []
        if row.content_sha256 != st.content_sha256:
            diffs.append("content SHA-256")
        if row.iscc != st.iscc:
            diffs.append("ISCC")
        if row.owner_id != st.owner:
            diffs.append("owner")
        if json.loads(row.reservations_json) != dict(st.reservations):
            diffs.append("reservations")
        if (row.deleted is not None) != (st.event == "delete"):
            diffs.append("withdrawn or not")
        if diffs:
            issues.append(Issue("work", f"work {wid}", f"its row differs from its last statement (leaf of "
                                                       f"{st.time}) in: {', '.join(diffs)}"))
    for wid in latest.keys() - works.keys():
        issues.append(Issue("work", f"work {wid}", "is in the log but not in the works table"))
    index = check_index(reg, Path(works_index)) if works_index is not None else None
    return CheckReport(len(events), size, len(works), want.hex(), tuple(issues), index)


def check_index(reg: Registry, root: Path) -> IndexReport:
    """The works index at ``root`` against the database, at the log position it has applied (module doc)."""
    from ..errors import IpscopeError
    from ..index.format import Index
    from .works_index import indexed_texts, log_mismatch, synced_to, text_sha256

    with reg.engine.connect() as conn:
        size = DbStore(conn).size()
        works = {r.id: r for r in conn.execute(select(Work.id, Work.deleted, Work.content_sha256))}
        first: dict[str, dict[str, int]] = {}  # work -> event -> its first leaf
        for r in conn.execute(select(Event.work_id, Event.event, Event.leaf_index)
                              .where(Event.event.in_(("register", "delete"))).order_by(Event.leaf_index)):
            first.setdefault(r.work_id, {}).setdefault(r.event, int(r.leaf_index))
    if not (root / "manifest.json").is_file():
        return IndexReport(str(root), False, 0, 0, size, 0, ())
    try:
        idx = Index.open(root)
        texts = indexed_texts(root, idx.manifest)
    except (IpscopeError, OSError, ValueError, KeyError) as e:
        return IndexReport(str(root), True, 0, 0, size, 0,
                           (Issue("index", str(root), f"cannot be read: {str(e).splitlines()[0]}"),))
    pos = synced_to(idx.manifest)
    issues: list[Issue] = []
    mismatch = log_mismatch(idx.manifest, reg)
    if mismatch is not None:
        issues.append(Issue("index", "position", f"{mismatch} (an index of another database, or a database "
                                                 "restored from an older backup)"))
    for wid, row in works.items():
        leaves = first.get(wid, {})
        reg_leaf, del_leaf = leaves.get("register"), leaves.get("delete")
        held = wid in texts
        if row.deleted is None:
            if reg_leaf is not None and reg_leaf < pos and not held:
                issues.append(Issue("index", f"work {wid}", f"registered at leaf {reg_leaf}, before the index's "
                                                            f"position {pos}, but not in the index"))
            elif held and (reg_leaf is None or reg_leaf >= pos):
                issues.append(Issue("index", f"work {wid}", f"in the index, but its registration (leaf {reg_leaf}) "
                                                            f"is not before the index's position {pos}"))
            elif held and text_sha256(texts[wid]) != row.content_sha256:
                issues.append(Issue("index", f"work {wid}", "the index holds another text than the database (its "
                                                            "SHA-256 is not the work's content_sha256)"))
        elif held and del_leaf is not None and del_leaf < pos:
            issues.append(Issue("index", f"work {wid}", f"withdrawn at leaf {del_leaf}, before the index's position "
                                                        f"{pos}, but still in the index"))
    for wid in sorted(texts.keys() - works.keys()):
        issues.append(Issue("index", f"document {wid}", "is in the index but is no work of the registry"))
    return IndexReport(str(root), True, idx.generation, pos, max(0, size - pos), len(texts), tuple(issues))


def _complete(nodes: dict[tuple[int, int], bytes], size: int) -> bool:
    """Whether every complete subtree of the right edge of a tree of ``size`` leaves is stored."""
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            if (level, start >> level) not in nodes:
                return False
            start += 1 << level
    return True
