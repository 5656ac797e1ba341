"""``ipscope registry check``: does the database agree with its log?

Recomputed from the statements alone (the event rows), without trusting the stored tree:

- every event's statement parses, its signature verifies with the log key, its work exists, and the work's
  current row matches the latest statement (hash, ISCC, owner, reservations, withdrawn or not);
- the leaf indexes are 0..n-1 without a gap, and the log holds exactly n leaves;
- each stored leaf hash equals ``SHA-256(0x00 || statement)``;
- every stored interior node equals the hash of its two children, and the root of the stored tree equals the
  root computed from the statements (RFC 9162), at every size a checkpoint could name (the full size here).

Each disagreement is one :class:`Issue` saying what differs; a clean registry gives none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
    what: str  # statement, sequence, leaf, node, root, work
    where: str  # "leaf 12", "work ab12...", "node (3, 1)"
    detail: str


@dataclass(frozen=True)
class CheckReport:
    events: int
    leaves: int
    works: int
    root: str  # hex of the root recomputed from the statements
    issues: tuple[Issue, ...]

    @property
    def ok(self) -> bool:
        return not self.issues

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "leaves": self.leaves, "works": self.works, "root": self.root,
                "issues": [{"what": i.what, "where": i.where, "detail": i.detail} for i in self.issues]}

    def text(self) -> str:
        head = (f"registry check: {self.events} statements, {self.leaves} log leaves, {self.works} works, "
                f"root {self.root}\n")
        if self.ok:
            return head + "ok: database and log agree\n"
        return head + "".join(f"DISAGREE {i.what} at {i.where}: {i.detail}\n" for i in self.issues) + \
            f"{len(self.issues)} disagreement(s)\n"


def check(reg: Registry) -> CheckReport:
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
    return CheckReport(len(events), size, len(works), want.hex(), tuple(issues))


def _complete(nodes: dict[tuple[int, int], bytes], size: int) -> bool:
    """Whether every complete subtree of the right edge of a tree of ``size`` leaves is stored."""
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            if (level, start >> level) not in nodes:
                return False
            start += 1 << level
    return True
