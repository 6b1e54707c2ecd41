"""Witness quorum: when do cosignatures make a checkpoint witnessed (c2sp.org/tlog-policy).

Two forms of one rule. The ledger keeps a plain k of n over its own witnesses (k set by
`WitnessQuorumSet`; unset means all of them); an auditor brings a tlog-policy file with
`log`, `witness`, `group` and `quorum` lines, which may nest groups. Both are decided here,
from names only: which witnesses cosigned is established by the caller, who checked the
signatures. Parsing is pure text: keys are kept as the vkey strings the file holds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from dermledger.ledger.errors import InvalidInput
from dermledger.policies.base import Decision

POLICY_NAME = "witness-quorum"
POLICY_VERSION = "1"
NONE = "none"
LEDGER_GROUP = "ledger-quorum"


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    vkey: str
    url: str | None = None


@dataclass(frozen=True)
class Group:
    name: str
    k: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class TlogPolicy:
    """A parsed tlog-policy file: logs (vkey, url), witnesses, groups, the quorum name."""

    quorum: str
    logs: tuple[tuple[str, str | None], ...] = ()
    witnesses: dict[str, PolicyWitness] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)

    def met(self, cosigned: Collection[str], name: str | None = None) -> bool:
        """Whether the witnesses named in `cosigned` satisfy `name` (default: the quorum)."""
        name = self.quorum if name is None else name
        if name == NONE:
            return True
        if name in self.witnesses:
            return name in cosigned
        group = self.groups[name]
        return sum(self.met(cosigned, m) for m in group.members) >= group.k


def _material(vkey: str) -> str:
    """The part of a vkey that identifies the public key (duplicates share it)."""
    return vkey.split("+", 2)[2] if vkey.count("+") >= 2 else vkey


def _check_vkey(vkey: str, where: str) -> str:
    parts = vkey.split("+", 2)
    if len(parts) != 3 or not parts[0] or len(parts[1]) != 8 or not parts[2]:
        raise InvalidInput(f"{where}: {vkey[:60]!r} is not a vkey (name+keyid+base64)")
    return vkey


def _threshold(word: str, n: int, where: str) -> int:
    k = {"all": n, "any": 1}.get(word)
    if k is None:
        if not word.isdigit() or word != str(int(word)):
            raise InvalidInput(f"{where}: the threshold must be all, any or a number")
        k = int(word)
    if not 1 <= k <= n:
        raise InvalidInput(f"{where}: the threshold must be between 1 and {n}")
    return k


def parse_policy(text: str) -> TlogPolicy:
    """Read a tlog-policy file; one sentence naming the line if it is not valid."""
    logs: list[tuple[str, str | None]] = []
    witnesses: dict[str, PolicyWitness] = {}
    groups: dict[str, Group] = {}
    quorum: str | None = None
    seen_keys: set[str] = set()
    for number, raw in enumerate(text.split("\n"), start=1):
        where = f"policy line {number}"
        if any(ord(c) < 0x20 and c != "\t" for c in raw):
            raise InvalidInput(f"{where}: control characters are not allowed")
        words = raw.replace("\t", " ").split()
        if not words or words[0].startswith("#"):
            continue
        kind, args = words[0], words[1:]
        if kind == "log" and len(args) in (1, 2):
            if _material(_check_vkey(args[0], where)) in seen_keys:
                raise InvalidInput(f"{where}: the log key is listed twice")
            seen_keys.add(_material(args[0]))
            logs.append((args[0], args[1] if len(args) == 2 else None))
        elif kind == "witness" and len(args) in (2, 3):
            name, vkey = args[0], _check_vkey(args[1], where)
            if name == NONE or name in witnesses or name in groups:
                raise InvalidInput(f"{where}: the name {name} is already defined")
            if _material(vkey) in seen_keys:
                raise InvalidInput(f"{where}: the key of witness {name} is listed twice")
            seen_keys.add(_material(vkey))
            witnesses[name] = PolicyWitness(name, vkey, args[2] if len(args) == 3 else None)
        elif kind == "group" and len(args) >= 3:
            name, members = args[0], tuple(args[2:])
            if name == NONE or name in witnesses or name in groups:
                raise InvalidInput(f"{where}: the name {name} is already defined")
            unknown = [m for m in members if m not in witnesses and m not in groups]
            if unknown or len(set(members)) != len(members):
                raise InvalidInput(f"{where}: group members must be defined once each before")
            groups[name] = Group(name, _threshold(args[1], len(members), where), members)
        elif kind == "quorum" and len(args) == 1:
            if quorum is not None:
                raise InvalidInput(f"{where}: a policy has exactly one quorum line")
            if args[0] != NONE and args[0] not in witnesses and args[0] not in groups:
                raise InvalidInput(f"{where}: the quorum names {args[0]}, defined nowhere before")
            quorum = args[0]
        else:
            raise InvalidInput(f"{where}: cannot read {raw.strip()[:60]!r}")
    if quorum is None:
        raise InvalidInput("the policy has no quorum line")
    return TlogPolicy(quorum, tuple(logs), witnesses, groups)


def format_policy(
    log: tuple[str, str | None] | None, witnesses: Sequence[PolicyWitness], k: int
) -> str:
    """The ledger's k-of-n as a tlog-policy file (`quorum none` when k is 0)."""
    lines = ["# DermLedger witness policy (c2sp.org/tlog-policy)"]
    if log is not None:
        lines.append(" ".join(part for part in ("log", *log) if part))
    for w in witnesses:
        lines.append(" ".join(part for part in ("witness", w.name, w.vkey, w.url) if part))
    if k == 0 or not witnesses:
        lines.append(f"quorum {NONE}")
    else:
        lines.append(f"group {LEDGER_GROUP} {k} " + " ".join(w.name for w in witnesses))
        lines.append(f"quorum {LEDGER_GROUP}")
    return "\n".join(lines) + "\n"


def as_k_of_n(policy: TlogPolicy) -> int:
    """The k of a policy the ledger can hold: `none`, its only witness, or one group of
    all its witnesses. Anything else is refused with one sentence."""
    names = set(policy.witnesses)
    if policy.quorum == NONE:
        return 0
    if policy.quorum in policy.witnesses and names == {policy.quorum}:
        return 1
    group = policy.groups.get(policy.quorum)
    if group is not None and set(group.members) == names:
        return group.k
    raise InvalidInput(
        "the ledger keeps a quorum of k of all its witnesses; this policy's quorum is another "
        "shape (nested groups or a subset), so it can be used by audit verify --policy only"
    )


def effective_k(k: int | None, witnesses: int) -> int:
    """The ledger's k: as set, else all witnesses (0 with none)."""
    return witnesses if k is None else k


def check_ledger_quorum(
    k: int | None, witnesses: Collection[str], cosigned: Collection[str]
) -> Decision:
    """k of the ledger's n witnesses cosigned (only witnesses of the ledger count)."""
    need = effective_k(k, len(witnesses))
    got = sorted(set(cosigned) & set(witnesses))
    if len(got) >= need:
        return Decision(True, POLICY_NAME, POLICY_VERSION)
    return Decision(
        False,
        POLICY_NAME,
        POLICY_VERSION,
        f"the witness quorum is not met: {len(got)} of {len(witnesses)} witnesses cosigned, "
        f"{need} needed",
    )


def check_policy_quorum(policy: TlogPolicy, cosigned: Collection[str]) -> Decision:
    """An auditor's tlog-policy quorum over the policy's witnesses that cosigned."""
    if policy.met(cosigned):
        return Decision(True, POLICY_NAME, POLICY_VERSION)
    return Decision(
        False,
        POLICY_NAME,
        POLICY_VERSION,
        f"the policy's quorum {policy.quorum} is not met: {len(set(cosigned))} of "
        f"{len(policy.witnesses)} trusted witnesses cosigned",
    )


def check_k(k: int, witnesses: int) -> Decision:
    """A quorum the ledger can hold: 0 (none) to n."""
    reason = None
    if not 0 <= k <= witnesses:
        reason = f"the quorum must be between 0 and the {witnesses} witnesses enrolled"
    return Decision.of(POLICY_NAME, POLICY_VERSION, reason)
