"""Offline verification of a release directory (DESIGN section 6, a contract).

Needs nothing but the directory: the manifest's Ed25519 signature over SHA-256 of the
JCS of the manifest without `signature`, every listed file's size and hash, no missing
or extra file, and every event's RFC 6962 inclusion proof against the manifest's
checkpoint. Each failure is named; the caller decides the exit status.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dermledger.ledger.canonical import jcs_sha256
from dermledger.ledger.errors import VerificationError
from dermledger.ledger.merkle import hash_leaf, verify_inclusion
from dermledger.ledger.signing import key_id_of, verify_digest
from dermledger.projections.release.messages import say

# Format 2 adds metadata.csv's `file_name` column (images/<image_id>.<ext>), so that
# Hugging Face datasets' imagefolder loader reads a release as it is. Releases of format 1
# stay verifiable: nothing else of the layout changed.
FORMAT_1 = "dermledger-release/1"
FORMAT = "dermledger-release/2"
FORMATS = (FORMAT_1, FORMAT)
MANIFEST = "manifest.json"


def manifest_digest(manifest: dict[str, Any]) -> bytes:
    return jcs_sha256({k: v for k, v in manifest.items() if k != "signature"})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VerificationError(say("no_manifest", folder=folder)) from None
    except ValueError:  # UnicodeDecodeError included
        raise VerificationError(say("manifest_not_json")) from None
    except OSError as exc:
        raise VerificationError(say("manifest_unreadable", reason=exc.strerror)) from None
    if not isinstance(manifest, dict) or manifest.get("format") not in FORMATS:
        raise VerificationError(say("manifest_format", format=", ".join(FORMATS)))
    return manifest


def listed_files(manifest: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The manifest's well-formed file entries by path, in listed order, and a failure for
    each entry that is not {path: text, sha256: text, bytes: whole number}."""
    files = manifest.get("files")
    if not isinstance(files, list):
        return {}, [say("files_not_list")]
    listed: dict[str, dict[str, Any]] = {}
    failures = []
    for number, entry in enumerate(files, start=1):
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and isinstance(entry.get("sha256"), str)
            and type(entry.get("bytes")) is int
        ):
            listed[entry["path"]] = entry
        else:
            failures.append(say("file_entry", number=number))
    return listed, failures


def verify_release_dir(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """(manifest, failures); an empty list means the release verifies."""
    manifest = load_manifest(folder)
    failures: list[str] = []
    signer = manifest.get("signer") or {}
    try:
        public = bytes.fromhex(signer["public_key"])
        if key_id_of(public) != signer.get("key_id"):
            failures.append(say("key_id"))
        verify_digest(public_raw=public, digest=manifest_digest(manifest),
                      signature_b64=manifest.get("signature", ""))  # fmt: skip
    except (KeyError, ValueError, TypeError, AttributeError):
        failures.append(say("public_key"))
    except VerificationError:
        failures.append(say("signature"))
    listed, malformed = listed_files(manifest)
    failures += malformed
    present = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }
    for path in sorted(set(listed) - present):
        failures.append(say("missing", path=path))
    for path in sorted(present - set(listed)):
        failures.append(say("extra", path=path))
    for path in sorted(set(listed) & present):
        entry, actual = listed[path], folder / path
        if actual.stat().st_size != entry["bytes"] or file_sha256(actual) != entry["sha256"]:
            failures.append(say("bytes", path=path))
    paths = list(listed)
    if paths != sorted(paths):
        failures.append(say("unsorted"))
    failures += _check_provenance(folder, manifest)
    return manifest, failures


def _check_provenance(folder: Path, manifest: dict[str, Any]) -> list[str]:
    failures = []
    checkpoint = manifest.get("checkpoint")
    checkpoint = checkpoint if isinstance(checkpoint, dict) else {}
    size, root = checkpoint.get("tree_size"), checkpoint.get("root", "")
    path = folder / "provenance.jsonl"
    if not path.exists():
        return failures
    proven: set[str] = set()
    with path.open("rb") as lines:  # streamed: 7 kB a line, 0.7 GB at 100k images
        failures += _check_proof_lines(lines, size, root, proven)
    metadata = folder / "metadata.csv"
    if metadata.exists():
        released: set[str] = set()
        misplaced: list[str] = []
        try:
            with metadata.open(encoding="utf-8", newline="") as rows:
                for row in csv.DictReader(rows):
                    released.add(row.get("image_id") or "")
                    if manifest.get("format") != FORMAT_1 and (
                        row.get("file_name") != f"images/{row.get('filename')}"
                    ):
                        misplaced.append(row.get("image_id") or "")
        except (UnicodeDecodeError, csv.Error):
            return [*failures, say("metadata_unreadable")]
        for image_id in sorted(released - proven):
            failures.append(say("unproven", image_id=image_id))
        for image_id in sorted(misplaced):
            failures.append(say("file_name", image_id=image_id))
    return failures


def _check_proof_lines(lines: Iterable[bytes], size: Any, root: Any, proven: set[str]) -> list[str]:
    """Check every inclusion proof of the provenance lines; add each proven image to
    `proven`; return the failures, each naming its line."""
    failures = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line.decode("utf-8"))
            image_id = record["image_id"]
            for event in record["events"]:
                verify_inclusion(
                    index=int(event["seq"]) - 1,
                    size=int(size),
                    leaf_hash=hash_leaf(bytes.fromhex(event["hash"])),
                    proof=[bytes.fromhex(h) for h in event["proof"]],
                    root=bytes.fromhex(root),
                )
            proven.add(image_id)
        except VerificationError:
            failures.append(say("proof", line=number))
        except (KeyError, ValueError, TypeError, AttributeError):  # UnicodeDecodeError too
            failures.append(say("malformed", line=number))
    return failures
