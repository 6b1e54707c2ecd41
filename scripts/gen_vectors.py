"""Write DermLedger's own Merkle proof probes to tests/vectors/dermledger/.

    .venv/bin/python scripts/gen_vectors.py          # rewrite the probe files
    .venv/bin/python scripts/gen_vectors.py --check  # exit 1 if the files are stale

Same schema as transparency-dev/merkle's probes (one JSON object per file, hashes base64):

- inclusion/<case>/<desc>.json: leafIdx, treeSize, root, leafHash, proof, desc, wantErr
- consistency/<case>/<desc>.json: size1, size2, root1, root2, proof, desc, wantErr

The leaves are DermLedger-shaped: leaf data is a 32-byte event hash (here SHA-256 of a fixed
label, so the output is deterministic), leaf hash = SHA-256(0x00 || event hash).

This script deliberately does not import dermledger.ledger.merkle: trees and proofs come from
a direct transcription of RFC 6962's recursive MTH, PATH and PROOF definitions, and `wantErr`
from an oracle that knows the one correct proof for each claim. The probes are therefore an
independent second opinion on the module rather than a snapshot of it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "dermledger"

LEAF_COUNT = 160  # Enough for every size below, including the doubled ones.

INCLUSION_CASES = [
    (0, 1),
    (0, 2),
    (1, 2),
    (2, 3),
    (3, 7),
    (6, 7),
    (0, 8),
    (5, 8),
    (8, 9),
    (12, 13),
    (21, 41),
    (63, 64),
    (64, 70),
]
CONSISTENCY_CASES = [
    (1, 1),
    (5, 5),
    (1, 2),
    (1, 8),
    (2, 5),
    (3, 7),
    (4, 8),
    (6, 8),
    (7, 8),
    (5, 13),
    (8, 9),
    (16, 33),
    (33, 70),
]

Probe = dict[str, Any]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 2.1 MTH over leaf hashes."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 2.1.1 PATH(m, D[n])."""
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], known: bool) -> list[bytes]:
    """RFC 6962 2.1.2 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if known else [mth(leaves)]
    k = split(n)
    if m <= k:
        return [*subproof(m, leaves[:k], known), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def event_hash(i: int) -> bytes:
    return sha256(b"dermledger/merkle-vectors/event/%d" % i)


EVENTS = [event_hash(i) for i in range(LEAF_COUNT)]
LEAVES = [leaf(e) for e in EVENTS]
UNRELATED = sha256(b"dermledger/merkle-vectors/unrelated")


def root_from_path(m: int, n: int, leaf_hash: bytes, proof: list[bytes]) -> bytes | None:
    """Undo RFC 6962 PATH(m, D[n]): the root `proof` implies, or None if it cannot fit.

    Each recursion step peels the last (topmost) hash off the proof, exactly mirroring how
    PATH appends it, so the proof's hashes stand in for whatever subtrees produced them.
    """
    if n == 1:
        return leaf_hash if not proof else None
    if not proof:
        return None
    k = split(n)
    if m < k:
        below = root_from_path(m, k, leaf_hash, proof[:-1])
        return None if below is None else node(below, proof[-1])
    below = root_from_path(m - k, n - k, leaf_hash, proof[:-1])
    return None if below is None else node(proof[-1], below)


def roots_from_subproof(
    m: int, n: int, known: bool, proof: list[bytes], old_root: bytes
) -> tuple[bytes, bytes] | None:
    """Undo RFC 6962 SUBPROOF(m, D[n], b): the (old, new) roots `proof` implies, or None."""
    if m == n:
        if known:
            return (old_root, old_root) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = split(n)
    if m <= k:
        below = roots_from_subproof(m, k, known, proof[:-1], old_root)
        return None if below is None else (below[0], node(below[1], proof[-1]))
    below = roots_from_subproof(m - k, n - k, False, proof[:-1], old_root)
    if below is None:
        return None
    return node(proof[-1], below[0]), node(proof[-1], below[1])


def inclusion_is_valid(p: Probe) -> bool:
    """The oracle: does some tree of 32-byte leaf hashes fit every field of the claim?

    That is all a verifier can know. In particular it cannot tell sizes apart whose paths
    hash the same way (e.g. leaf 5 of 7 and of 8), so some "wrong size" probes are valid:
    the size is only meaningful together with a root signed for it.
    """
    i, n, proof = p["leafIdx"], p["treeSize"], p["proof"]
    if not 0 <= i < n or len(p["leafHash"]) != 32 or any(len(h) != 32 for h in proof):
        return False
    return root_from_path(i, n, p["leafHash"], proof) == p["root"]


def consistency_is_valid(p: Probe) -> bool:
    """The oracle for consistency claims; old size 0 is refused, as transparency-dev does."""
    m, n, proof = p["size1"], p["size2"], p["proof"]
    if not 0 < m <= n or any(len(h) != 32 for h in proof):
        return False
    if m == n:  # Nothing to rebuild: only the roots can be compared.
        return not proof and p["root1"] == p["root2"]
    roots = roots_from_subproof(m, n, True, proof, p["root1"])
    return roots == (p["root1"], p["root2"])


def flip(h: bytes, byte: int = 0, mask: int = 0x10) -> bytes:
    return h[:byte] + bytes([h[byte] ^ mask]) + h[byte + 1 :]


def proof_damage(proof: list[bytes], root: bytes) -> list[tuple[str, list[bytes]]]:
    """Ways to break a proof's list of hashes, each (desc, damaged proof)."""
    out: list[tuple[str, list[bytes]]] = [
        ("empty proof", []),
        ("extra zero hash at end", [*proof, bytes(32)]),
        ("extra root at end", [*proof, root]),
        ("extra zero hash at start", [bytes(32), *proof]),
        ("empty element at end", [*proof, b""]),
    ]
    if proof:
        out += [
            ("last element removed", proof[:-1]),
            ("first element removed", proof[1:]),
            ("first element duplicated", [proof[0], *proof]),
            ("proof reversed", proof[::-1]),
            ("first element truncated to 31 bytes", [proof[0][:31], *proof[1:]]),
            ("first element padded to 33 bytes", [proof[0] + b"\x00", *proof[1:]]),
            ("last element replaced by root", [*proof[:-1], root]),
            ("last element bit 0 of byte 31 flipped", [*proof[:-1], flip(proof[-1], 31, 1)]),
        ]
    for j in range(len(proof)):
        out.append(
            (f"proof {j} bit 4 of byte 0 flipped", [*proof[:j], flip(proof[j]), *proof[j + 1 :]])
        )
    for j in range(len(proof) - 1):
        swapped = [*proof[:j], proof[j + 1], proof[j], *proof[j + 2 :]]
        if swapped != proof:
            out.append((f"proof {j} and {j + 1} swapped", swapped))
    return out


def inclusion_probes(i: int, n: int) -> list[Probe]:
    good: Probe = {
        "leafIdx": i,
        "treeSize": n,
        "root": mth(LEAVES[:n]),
        "leafHash": LEAVES[i],
        "proof": path(i, LEAVES[:n]),
    }
    variants: list[tuple[str, Probe]] = [("happy path", {})]
    for desc, idx in [
        ("index minus 1", i - 1),
        ("index plus 1", i + 1),
        ("index xor 2", i ^ 2),
        ("index equals size", n),
        ("index far beyond size", n + 1000),
    ]:
        if idx >= 0:
            variants.append((desc, {"leafIdx": idx}))
    for desc, size in [
        ("size minus 1", n - 1),
        ("size plus 1", n + 1),
        ("size doubled", 2 * n),
        ("size halved", n // 2),
        ("size zero", 0),
    ]:
        if size != n:
            variants.append((desc, {"treeSize": size}))
    variants += [
        ("other leaf", {"leafHash": LEAVES[(i + 1) % LEAF_COUNT]}),
        ("event hash passed as leaf hash", {"leafHash": EVENTS[i]}),
        ("leaf hash with bit flipped", {"leafHash": flip(LEAVES[i])}),
        ("leaf hash truncated", {"leafHash": LEAVES[i][:31]}),
        ("empty leaf hash", {"leafHash": b""}),
        ("root of previous size", {"root": mth(LEAVES[: n - 1])}),
        ("root of next size", {"root": mth(LEAVES[: n + 1])}),
        ("empty tree root", {"root": sha256(b"")}),
        ("unrelated root", {"root": UNRELATED}),
        ("empty root", {"root": b""}),
        ("root with bit flipped", {"root": flip(good["root"], 31, 1)}),
        ("leaf and root swapped", {"leafHash": good["root"], "root": good["leafHash"]}),
    ]
    variants += [(d, {"proof": p}) for d, p in proof_damage(good["proof"], good["root"])]
    return finish(good, variants, inclusion_is_valid)


def consistency_probes(m: int, n: int) -> list[Probe]:
    good: Probe = {
        "size1": m,
        "size2": n,
        "root1": mth(LEAVES[:m]),
        "root2": mth(LEAVES[:n]),
        "proof": subproof(m, LEAVES[:n], True),
    }
    variants: list[tuple[str, Probe]] = [("happy path", {})]
    for desc, size in [
        ("size1 minus 1", m - 1),
        ("size1 plus 1", m + 1),
        ("size1 xor 2", m ^ 2),
        ("size1 zero", 0),
        ("size1 equals size2", n),
        ("size1 above size2", n + 1),
    ]:
        if size >= 0 and size != m:
            variants.append((desc, {"size1": size}))
    for desc, size in [
        ("size2 minus 1", n - 1),
        ("size2 plus 1", n + 1),
        ("size2 doubled", 2 * n),
        ("size2 halved", n // 2),
        ("size2 equals size1", m),
    ]:
        if size != n:
            variants.append((desc, {"size2": size}))
    variants += [
        ("root1 of previous size", {"root1": mth(LEAVES[: m - 1])}),
        ("root2 of previous size", {"root2": mth(LEAVES[: n - 1])}),
        ("root1 unrelated", {"root1": UNRELATED}),
        ("root2 unrelated", {"root2": UNRELATED}),
        ("root1 with bit flipped", {"root1": flip(good["root1"], 31, 1)}),
        ("root2 with bit flipped", {"root2": flip(good["root2"], 31, 1)}),
        ("root1 empty", {"root1": b""}),
        ("root2 empty", {"root2": b""}),
        ("roots swapped", {"root1": good["root2"], "root2": good["root1"]}),
        ("both roots are root2", {"root1": good["root2"]}),
        ("both roots are root1", {"root2": good["root1"]}),
    ]
    variants += [(d, {"proof": p}) for d, p in proof_damage(good["proof"], good["root2"])]
    return finish(good, variants, consistency_is_valid)


def static_consistency_probes() -> list[Probe]:
    """Edge cases of empty and single-entry trees, and impossible orders of sizes."""
    empty, r1, r2 = sha256(b""), LEAVES[0], mth(LEAVES[:2])
    cases: list[tuple[str, Probe]] = [
        (
            "sizes zero roots empty",
            {"size1": 0, "size2": 0, "root1": empty, "root2": empty, "proof": []},
        ),
        (
            "size1 zero with empty root",
            {"size1": 0, "size2": 2, "root1": empty, "root2": r2, "proof": []},
        ),
        (
            "size1 zero with proof",
            {"size1": 0, "size2": 2, "root1": empty, "root2": r2, "proof": [r2]},
        ),
        ("sizes one roots equal", {"size1": 1, "size2": 1, "root1": r1, "root2": r1, "proof": []}),
        ("sizes one with proof", {"size1": 1, "size2": 1, "root1": r1, "root2": r1, "proof": [r1]}),
        ("sizes one roots differ", {"size1": 1, "size2": 1, "root1": r1, "root2": r2, "proof": []}),
        ("size1 above size2", {"size1": 2, "size2": 1, "root1": r2, "root2": r1, "proof": []}),
    ]
    out = []
    for desc, probe in cases:
        probe = {**probe, "desc": desc}
        probe["wantErr"] = not consistency_is_valid(probe)
        out.append(probe)
    return out


def finish(
    good: Probe, variants: list[tuple[str, Probe]], valid: Callable[[Probe], bool]
) -> list[Probe]:
    out = []
    for desc, change in variants:
        if desc != "happy path" and {**good, **change} == good:
            continue  # Not damage in this case (e.g. in a one-leaf tree the leaf is the root).
        probe = {**good, **change, "desc": desc}
        probe["wantErr"] = not valid(probe)
        if desc == "happy path":
            assert not probe["wantErr"], f"the oracle rejects a correct proof: {good}"
        elif not probe["wantErr"]:
            # A change that leaves a valid claim (only sizes whose paths hash alike do): say so
            # in the name, so nobody "fixes" the verifier to reject it.
            probe["desc"] = f"{desc} same path shape still verifies"
        out.append(probe)
    return out


def file_name(desc: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", desc.lower()).strip("-") + ".json"


def encode(probe: Probe) -> str:
    """JSON text of one probe: key order as transparency-dev's, hashes in standard base64."""

    def b64(h: bytes) -> str:
        return base64.b64encode(h).decode("ascii")

    out = {k: (b64(v) if isinstance(v, bytes) else v) for k, v in probe.items()}
    out["proof"] = [b64(h) for h in probe["proof"]]
    return json.dumps(out, indent=2) + "\n"


INCLUSION_KEYS = ["leafIdx", "treeSize", "root", "leafHash", "proof", "desc", "wantErr"]
CONSISTENCY_KEYS = ["size1", "size2", "root1", "root2", "proof", "desc", "wantErr"]


def build() -> dict[str, str]:
    """Every probe file as {path relative to OUT_DIR (posix): JSON text}."""
    groups: list[tuple[str, list[str], list[Probe]]] = []
    for i, n in INCLUSION_CASES:
        groups.append((f"inclusion/index-{i}-size-{n}", INCLUSION_KEYS, inclusion_probes(i, n)))
    for m, n in CONSISTENCY_CASES:
        groups.append((f"consistency/size-{m}-to-{n}", CONSISTENCY_KEYS, consistency_probes(m, n)))
    groups.append(("consistency/additional", CONSISTENCY_KEYS, static_consistency_probes()))
    files: dict[str, str] = {}
    for folder, keys, probes in groups:
        for probe in probes:
            rel = f"{folder}/{file_name(probe['desc'])}"
            assert rel not in files, f"two probes named {rel}"
            files[rel] = encode({k: probe[k] for k in keys})
    return files


def on_disk() -> dict[str, str]:
    return {p.relative_to(OUT_DIR).as_posix(): p.read_text() for p in OUT_DIR.rglob("*.json")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = sorted(set(files.items()) ^ set(on_disk().items()))
        for rel in sorted({rel for rel, _ in stale}):
            print(f"stale: {rel}", file=sys.stderr)
        return 1 if stale else 0
    # Only this script writes here, so clearing old probes cannot lose anything hand-made.
    for old in OUT_DIR.rglob("*.json"):
        old.unlink()
    for rel, text in files.items():
        target = OUT_DIR / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for folder in sorted(OUT_DIR.rglob("*"), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    print(f"wrote {len(files)} probes to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
