"""The sentences that name what a release check found, in one place.

`release verify` (projections/release/verify.py, commands/release.py) and the page every release
carries (projections/release/page, which embeds this table into report.html's script) say
the same thing in the same words, so a reader can match the page's verdict with the CLI's.
Templates use `{field}` placeholders: Python fills them with `str.format`, the page with a
plain substitution of the same names.
"""

from __future__ import annotations

from typing import Final

MESSAGES: Final[dict[str, str]] = {
    # The folder cannot be read as a release at all (the CLI stops with exit 1).
    "no_manifest": "{folder} has no manifest.json",
    "manifest_not_json": "manifest.json is not valid JSON",
    "manifest_format": "manifest.json is not in a known format ({format})",
    "manifest_unreadable": "manifest.json cannot be read ({reason})",
    # One line per failure, in the order the checks run.
    "key_id": "manifest: the signer's key_id is not the hash of its public key",
    "public_key": "manifest: the signer's public key is missing or malformed",
    "signature": "manifest: the signature does not verify (the manifest was altered)",
    "missing": "{path}: listed in the manifest but missing",
    "extra": "{path}: present but not listed in the manifest",
    "bytes": "{path}: its bytes do not match the manifest's SHA-256",
    "unsorted": "manifest: files are not sorted by path",
    "files_not_list": "manifest: files is not a list",
    "file_entry": "manifest: file entry {number} is malformed",
    "proof": (
        "provenance.jsonl line {line}: an inclusion proof does not verify "
        "against the manifest's checkpoint"
    ),
    "malformed": "provenance.jsonl line {line}: malformed",
    "unproven": "metadata.csv: {image_id} has no verified provenance",
    "metadata_unreadable": "metadata.csv: not a UTF-8 CSV file",
    "file_name": "metadata.csv: {image_id}'s file_name is not images/<filename>",
    # Witness cosignatures (C2SP tlog-cosignature v1) against keys the verifier trusts:
    # checked by the page today, by `release verify` once the witnesses work lands.
    "note_mismatch": (
        "checkpoint: the cosigned note does not match the manifest's tree_size and root"
    ),
    "cosignature": "checkpoint: the cosignature of {witness} does not verify",
    "quorum": (
        "checkpoint: the witness quorum is not met ({verified} of the trusted witnesses cosigned)"
    ),
    "unwitnessed": "checkpoint: the manifest carries no witness cosignatures",
    "log_signature": (
        "checkpoint: the log's signature on the note does not verify with the policy's log key"
    ),
    # The witnesses' state as the page's box and `release verify --policy` state it.
    "state_unwitnessed": "Not witnessed: the manifest carries no witness cosignatures.",
    "state_unchecked": (
        "{count} cosignature(s) in the manifest, not checked: paste the witnesses' keys or "
        "load a policy file."
    ),
    "state_witnessed": (
        "Witnessed: the cosignatures of the trusted witnesses verify and the quorum holds."
    ),
    "state_failed": "The witness cosignatures do not satisfy the keys you trust.",
    # What the datasheet says of a release published with --allow-unwitnessed.
    "datasheet_unwitnessed": (
        "This release was published without the witness quorum (--allow-unwitnessed): "
        "{reason}. Its checkpoint is signed by the study's own log key only, so no outside "
        "witness vouches that the log was not rewritten before it."
    ),
    # The verdict.
    "fails": "release {name} fails {count} check(s)",
    "ok": "OK: release {name} ({files} files, tree_size {tree_size}) verifies",
}


def say(key: str, **fields: object) -> str:
    """One sentence of MESSAGES with its placeholders filled."""
    return MESSAGES[key].format(**fields)
