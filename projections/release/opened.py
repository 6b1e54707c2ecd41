"""Images of sealed captures in a release: decrypted into the release, checked first.

A capture sealed under its patient's key (erasure v2) is stored encrypted; the release
publishes the plain file, so the service opens it and this writes it, after checking
that its SHA-256 is the one sealed in the capture event (the manifest then reuses that
hash). The release folder is the release's own: erasing the patient later removes
nothing from it, and it still verifies.
"""

from __future__ import annotations

import os
from pathlib import Path

from dermledger.ledger.errors import VerificationError


def place_opened(data: bytes, digest: str, sha: str, target: Path) -> int:
    """Write the opened bytes of one image to `target`; its size. `digest` is the SHA-256
    (hex) of `data` as the sealed read computed it (not hashed a second time here)."""
    if digest != sha:
        raise VerificationError(f"the opened image for {target.name} does not match its capture")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return len(data)
