"""Publishing releases (DESIGN section 6): permit, build, sign, append, rename.

A release is built in a hidden partial folder next to the target by the release
projection (`projections/release/`), from the log replayed up to the as-of position;
its manifest is signed here, `ReleasePublished` is appended, and only then is the
folder renamed into place, so a crash never leaves a directory that looks like a
release.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from dermledger.ledger.blobs import BlobStore
from dermledger.ledger.errors import Conflict, InvalidInput, NotFound, VerificationError
from dermledger.ledger.merkle import MerkleTree, hash_leaf, verify_consistency
from dermledger.ledger.signing import Signer
from dermledger.ledger.store import read_topic
from dermledger.projections.release.diff import diff_releases
from dermledger.projections.release.replay import Replay
from dermledger.projections.release.verify import MANIFEST, file_sha256, manifest_digest
from dermledger.projections.release.writer import Progress, write_manifest, write_release
from dermledger.study.erasure import blob_opener, mark_erased, refuse_rebuild_after_erasure
from dermledger.study.kernel import Kernel, Proposal
from dermledger.study.queries import QueryService


def release_stream(name: str) -> str:
    return f"release:{name}"


class ReleaseService:
    """Create, list, check and compare releases of this ledger."""

    def __init__(self, kernel: Kernel, queries: QueryService) -> None:
        self.kernel = kernel
        self.queries = queries

    def create_release(
        self,
        signer: Signer,
        name: str,
        out: Path,
        *,
        as_of: str | None = None,
        progress: Progress | None = None,
        publish: bool = True,
    ) -> dict[str, Any]:
        """Build, sign and publish release `name` of the dataset at `as_of` into `out`.

        With publish=False the folder is built and signed but no ReleasePublished event is
        appended: a preview, or a rebuild to check that a release reproduces byte for byte.
        """
        self.kernel.permit(signer, "ReleasePublished")
        if not name or not all(c.isalnum() or c in "._-" for c in name) or len(name) > 64:
            raise InvalidInput(f"release name {name!r} must be 1-64 letters, digits, '.', '_', '-'")
        out = out.resolve()
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise Conflict(f"{out} already exists and is not an empty folder")
        published = self.kernel.stream(release_stream(name)) if publish else []
        interrupted = any(out.parent.glob(f".{out.name}.partial-*"))
        if published and not out.exists() and interrupted:
            # The run that published it died before renaming its folder into place here.
            return self._recover_release(signer, name, out, published[0].payload, progress)
        if published:
            raise Conflict(f"a release named {name} is already published")
        upto = self.queries.position(as_of)
        expected = upto or int(self.kernel.recorder.max_notification_id() or 0)  # for progress only
        replayed = Replay.of(
            self.kernel.sealer.opened_log(self.kernel.log()),  # erasure v2: opened in memory
            upto,
            progress=(lambda done: progress("Replaying the log", done, expected))
            if progress
            else None,
        )
        refuse_rebuild_after_erasure(self.kernel, replayed.view, name)
        position = replayed.position
        root = replayed.tree.root(position).hex()
        tmp = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
        tmp.mkdir(parents=True)
        try:
            manifest, summary = write_release(
                tmp, name=name, replayed=replayed, root=root,
                blobs=BlobStore(self.kernel.settings.blobs_dir),
                signer={"actor": signer.actor, "key_id": signer.key_id,
                        "public_key": signer.public_hex},
                progress=progress, open_blob=blob_opener(self.kernel),
            )  # fmt: skip
            manifest["signature"] = signer.sign_digest(manifest_digest(manifest))
            write_manifest(tmp, manifest)
            manifest_sha = file_sha256(tmp / MANIFEST)

            def decide() -> list[Proposal]:
                if self.kernel.stream(release_stream(name)):
                    raise Conflict(f"a release named {name} is already published")
                return [
                    self.kernel.proposal(
                        release_stream(name),
                        "ReleasePublished",
                        {
                            "name": name,
                            "as_of_seq": position,
                            "tree_size": position,
                            "root": root,
                            "manifest_sha256": manifest_sha,
                            "images": summary["images"],
                        },
                    )
                ]

            if publish:
                self.kernel.append(signer, decide)
            if out.exists():
                out.rmdir()
            os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for stale in out.parent.glob(f".{out.name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted run: untrusted
        return summary | {"manifest_sha256": manifest_sha, "out": str(out)}

    def _recover_release(
        self,
        signer: Signer,
        name: str,
        out: Path,
        published: dict[str, Any],
        progress: Progress | None,
    ) -> dict[str, Any]:
        """A release published whose folder never reached its place (the process died
        between the event and the rename): rebuild it at the published position, and keep
        it only if its manifest is byte for byte the one the ledger recorded."""
        summary = self.create_release(
            signer, name, out, as_of=str(published["as_of_seq"]), progress=progress,
            publish=False,
        )  # fmt: skip
        if summary["manifest_sha256"] != published["manifest_sha256"]:
            shutil.rmtree(out, ignore_errors=True)
            raise VerificationError(
                f"release {name} is published but its folder is missing, and the rebuild does "
                "not reproduce the published manifest (rebuild it as its original signer)"
            )
        return summary | {"recovered": True}

    def list_releases(self) -> list[dict[str, Any]]:
        rows = []
        for env in read_topic(self.kernel.recorder, "ReleasePublished"):
            p = env.payload
            rows.append(
                {
                    "name": p["name"],
                    "as_of_seq": p["as_of_seq"],
                    "images": p["images"],
                    "root": p["root"],
                    "manifest_sha256": p["manifest_sha256"],
                    "published_by": env.actor,
                    "recorded_at": env.recorded_at,
                }
            )
        return rows

    def check_release_against_ledger(self, manifest: dict[str, Any]) -> list[str]:
        """With the ledger at hand: the release is published here, its signer's key is
        enrolled, and its checkpoint is consistent with the current log."""
        failures = []
        if manifest.get("ledger_id") != self.kernel.ledger_id():
            return ["the release belongs to another ledger"]
        published = {r["name"]: r for r in self.list_releases()}.get(manifest.get("name"))
        if published is None:
            failures.append(f"release {manifest.get('name')} is not published on this ledger")
        tree = self.log_tree()
        cp = manifest["checkpoint"]
        size, old_root = int(cp["tree_size"]), bytes.fromhex(cp["root"])
        if size > tree.size:
            return [*failures, f"the release claims {size} events; the log holds {tree.size}"]
        try:
            verify_consistency(
                old_size=size,
                new_size=tree.size,
                old_root=old_root,
                new_root=tree.root(),
                proof=tree.consistency_proof(size),
            )
        except VerificationError:
            failures.append(
                "the release's checkpoint is not consistent with the current log "
                "(the log was rewritten since the release)"
            )
        signer = manifest.get("signer", {})
        try:
            if self.kernel.get_actor(signer.get("actor", "")).key_id != signer.get("key_id"):
                failures.append("the manifest's signer key is not the key enrolled for that actor")
        except NotFound:
            failures.append(f"the manifest's signer {signer.get('actor')} is not enrolled")
        return failures

    def log_tree(self) -> MerkleTree:
        """The Merkle tree of the current log."""
        return MerkleTree(hash_leaf(bytes.fromhex(e.envelope().hash)) for e in self.kernel.log())

    def diff_releases(self, old: Path, new: Path) -> dict[str, Any]:
        """Images added, removed and relabelled, and whether `new`'s log extends `old`'s."""
        return mark_erased(self.kernel, diff_releases(old, new, self.log_tree()))
