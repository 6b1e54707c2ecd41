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
from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, InvalidInput, VerificationError
from dermledger.ledger.merkle import MerkleTree, hash_leaf, verify_consistency
from dermledger.ledger.signing import Signer
from dermledger.ledger.store import read_topic
from dermledger.policies import roles as role_policy
from dermledger.projections.release.diff import diff_releases
from dermledger.projections.release.replay import Replay
from dermledger.projections.release.verify import MANIFEST, file_sha256, manifest_digest
from dermledger.projections.release.writer import Progress, write_manifest, write_release
from dermledger.study.audit import AuditService
from dermledger.study.authority import ActorRecord, apply_actor_event
from dermledger.study.erasure import (
    checked_blob_opener,
    mark_erased,
    refuse_rebuild_after_erasure,
)
from dermledger.study.kernel import Kernel, Proposal, actor_stream
from dermledger.study.partitions import PartitionService, require_assigned
from dermledger.study.position import Position
from dermledger.study.queries import QueryService
from dermledger.study.release_witnessing import Witnessing, release_witnessing
from dermledger.study.sealing import ReleaseKeys, erased_patients
from dermledger.study.witnesses import WitnessService


def _partial_folder(out: Path) -> Path:
    """A new folder beside `out` to build the release in; one sentence if it cannot be."""
    tmp = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create the release folder {out}: {exc.strerror}") from None
    return tmp


def actor_stream_of(signer: dict[str, Any]) -> str:
    """The actor stream a manifest's signer names."""
    return actor_stream(str(signer.get("actor", "")))


def release_stream(name: str) -> str:
    return f"release:{name}"


class ReleaseService:
    """Create, list, check and compare releases of this ledger."""

    def __init__(
        self,
        kernel: Kernel,
        queries: QueryService,
        audit: AuditService | None = None,
        witnesses: WitnessService | None = None,
        *,
        partitions: PartitionService | None = None,
    ) -> None:
        self.kernel = kernel
        self.queries = queries
        self.audit = audit or AuditService(kernel)
        self.witnesses = witnesses or WitnessService(kernel)
        self.partitions = partitions or PartitionService(kernel)

    def create_release(
        self,
        signer: Signer,
        name: str,
        out: Path,
        *,
        as_of: Position | None = None,
        progress: Progress | None = None,
        publish: bool = True,
        witnessing: Witnessing | None = None,
        partition: str | None = None,
        purpose: str | None = None,
    ) -> dict[str, Any]:
        """Build, sign and publish release `name` of the dataset at `as_of` into `out`.

        `partition`: only its patients (cutting the test partition needs a `purpose`,
        recorded as a reading). publish=False: built and signed but not appended (a
        preview, or a rebuild that must reproduce byte for byte). With witnesses the
        manifest carries the cosigned checkpoint note; without the quorum publishing is
        refused unless `witnessing.allow_unwitnessed`, which the datasheet then states.
        """
        self.kernel.permit(signer, "ReleasePublished")
        access = self.partitions.access_proposal(partition, purpose, "release", name) if (
            partition is not None
        ) else None  # fmt: skip
        out = _checked_target(name, out)
        interrupted = self._interrupted_publication(name, out) if publish else None
        if interrupted is not None:
            return self._recover_release(signer, name, out, interrupted, progress)
        keys = ReleaseKeys(self.kernel.sealer)  # read once per patient; dies with the call
        replayed = self._replay(as_of, progress, name, partition, keys)
        position = replayed.position
        root = replayed.tree.root(position).hex()
        note, statement = release_witnessing(
            self.audit, self.witnesses, signer, position,
            witnessing if publish else None,
        )  # fmt: skip
        tmp = _partial_folder(out)
        try:
            manifest, summary = write_release(
                tmp, name=name, replayed=replayed, root=root,
                blobs=BlobStore(self.kernel.settings.blobs_dir),
                signer={"actor": signer.actor, "key_id": signer.key_id,
                        "public_key": signer.public_hex},
                progress=progress, witnessing=statement, partition=partition,
                open_blob=checked_blob_opener(self.kernel, keys),
            )  # fmt: skip
            manifest_sha = _sign_and_write(tmp, manifest, note, signer)
            published = _publication(name, position, root, manifest_sha, summary["images"])
            self._record(signer, name, published if publish else None, access)
            _move_into_place(tmp, out)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise InvalidInput(f"cannot write the release to {out}: {exc.strerror}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _remove_stale_partials(out)
        return summary | {"manifest_sha256": manifest_sha, "out": str(out), "partition": partition}

    def _interrupted_publication(self, name: str, out: Path) -> dict[str, Any] | None:
        """The ReleasePublished payload of a run that died before renaming its folder into
        place at `out` (to recover), None if `name` is not published; else a Conflict."""
        published = self.kernel.stream(release_stream(name))
        if not published:
            return None
        interrupted = any(out.parent.glob(f".{out.name}.partial-*"))
        if not out.exists() and interrupted:
            return dict(published[0].payload)
        raise Conflict(f"a release named {name} is already published")

    def _replay(
        self,
        as_of: Position | None,
        progress: Progress | None,
        name: str,
        partition: str | None,
        keys: ReleaseKeys,
    ) -> Replay:
        """The log replayed to the release's position, opened in memory (erasure v2:
        erased patients' images without values); refused when it would rebuild an older
        release after an erasure, or name a partition nobody was assigned to."""
        upto = self.queries.position(as_of)
        expected = upto or int(self.kernel.recorder.max_notification_id() or 0)  # for progress only
        replayed = Replay.of(
            self.kernel.sealer.opened_log(
                self.kernel.log(), erased_patients(self.kernel.recorder), keys
            ),
            upto,
            progress=(lambda done: progress("Replaying the log", done, expected))
            if progress
            else None,
        )
        refuse_rebuild_after_erasure(self.kernel, replayed.view, name)
        if partition is not None:
            require_assigned(replayed.view.partitions, partition)
        return replayed

    def _record(
        self,
        signer: Signer,
        name: str,
        published: dict[str, Any] | None,
        access: Proposal | None,
    ) -> None:
        """Append ReleasePublished (unless a preview) with the test-set reading, if any: a
        preview of the test set is a reading too."""
        extra = [access] if access is not None else []
        if published is None:
            if extra:
                self.kernel.append(signer, lambda: extra)
            return

        def decide() -> list[Proposal]:
            if self.kernel.stream(release_stream(name)):
                raise Conflict(f"a release named {name} is already published")
            return [
                self.kernel.proposal(release_stream(name), "ReleasePublished", published),
                *extra,
            ]

        self.kernel.append(signer, decide)

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
            signer, name, out, as_of=Position.at_seq(int(published["as_of_seq"])),
            progress=progress, publish=False,
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

    def check_release_against_ledger(self, manifest: dict[str, Any], folder: Path) -> list[str]:
        """With the ledger at hand: this very manifest is the one published here (its
        SHA-256 is the one in ReleasePublished), its signer could publish at that position
        (enrolled with that key, a coordinator, not revoked), and its checkpoint is
        consistent with the current log."""
        if manifest.get("ledger_id") != self.kernel.ledger_id():
            return ["the release belongs to another ledger"]
        name, signer = manifest.get("name"), manifest.get("signer")
        signer = signer if isinstance(signer, dict) else {}
        leaves, published, standing = [], None, None
        for entry in self.kernel.log():
            env = entry.envelope()
            leaves.append(hash_leaf(bytes.fromhex(env.hash)))
            if published is None and env.stream_id == release_stream(str(name)):
                published = env
            elif published is None and env.stream_id == actor_stream_of(signer):
                standing = apply_actor_event(standing, env)
        tree = MerkleTree(leaves)
        if published is None:
            failures = [f"release {name} is not published on this ledger"]
        else:
            failures = self._check_published(folder, published, signer, standing)
        return failures + self._check_consistency(manifest, tree)

    @staticmethod
    def _check_published(
        folder: Path, published: Envelope, signer: dict[str, Any], standing: ActorRecord | None
    ) -> list[str]:
        """The manifest against its ReleasePublished event and its signer's standing then."""
        failures = []
        if file_sha256(folder / MANIFEST) != published.payload["manifest_sha256"]:
            failures.append(
                f"{MANIFEST} is not the manifest published as release {published.payload['name']}"
                " (its SHA-256 differs from the one the ledger recorded): the release was "
                "altered and re-signed"
            )
        if (published.actor, published.key_id) != (signer.get("actor"), signer.get("key_id")):
            failures.append("the manifest's signer is not the actor who published the release")
        if standing is None or standing.key_id != signer.get("key_id"):
            failures.append(
                f"the manifest's signer {signer.get('actor')} was not enrolled with that key "
                "when the release was published"
            )
        else:
            decision = role_policy.check_append(
                role_policy.AppendRequest(
                    standing.name, standing.roles, standing.revoked, "ReleasePublished"
                )
            )
            if not decision.allowed:
                failures.append(f"the manifest's signer may not publish: {decision.reason}")
        return failures

    @staticmethod
    def _check_consistency(manifest: dict[str, Any], tree: MerkleTree) -> list[str]:
        """The release's checkpoint is a prefix of the current log (RFC 6962 consistency)."""
        try:
            cp = manifest["checkpoint"]
            size, old_root = int(cp["tree_size"]), bytes.fromhex(cp["root"])
        except (KeyError, TypeError, ValueError):
            return ["manifest: the checkpoint is missing or malformed"]
        if size > tree.size:
            return [f"the release claims {size} events; the log holds {tree.size}"]
        try:
            verify_consistency(
                old_size=size,
                new_size=tree.size,
                old_root=old_root,
                new_root=tree.root(),
                proof=tree.consistency_proof(size),
            )
        except VerificationError:
            return [
                "the release's checkpoint is not consistent with the current log "
                "(the log was rewritten since the release)"
            ]
        return []

    def log_tree(self) -> MerkleTree:
        """The Merkle tree of the current log."""
        return MerkleTree(hash_leaf(bytes.fromhex(e.envelope().hash)) for e in self.kernel.log())

    def diff_releases(self, old: Path, new: Path) -> dict[str, Any]:
        """Images added, removed and relabelled, and whether `new`'s log extends `old`'s."""
        return mark_erased(self.kernel, diff_releases(old, new, self.log_tree()))


def _checked_target(name: str, out: Path) -> Path:
    """The release's folder, refused when the name is not a plain name or the folder
    holds anything already."""
    if not name or not all(c.isalnum() or c in "._-" for c in name) or len(name) > 64:
        raise InvalidInput(f"release name {name!r} must be 1-64 letters, digits, '.', '_', '-'")
    out = out.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Conflict(f"{out} already exists and is not an empty folder")
    return out


def _sign_and_write(
    folder: Path, manifest: dict[str, Any], note: str | None, signer: Signer
) -> str:
    """Add the cosigned checkpoint note, sign the manifest, write it; its SHA-256."""
    if note is not None:
        manifest["checkpoint"]["note"] = note
    manifest["signature"] = signer.sign_digest(manifest_digest(manifest))
    write_manifest(folder, manifest)
    return file_sha256(folder / MANIFEST)


def _publication(
    name: str, position: int, root: str, manifest_sha: str, images: int
) -> dict[str, Any]:
    """ReleasePublished's payload (DESIGN section 5: name, as_of_seq, root, manifest_sha256)."""
    return {
        "name": name, "as_of_seq": position, "tree_size": position, "root": root,
        "manifest_sha256": manifest_sha, "images": images,
    }  # fmt: skip


def _remove_stale_partials(out: Path) -> None:
    """Partial folders left next to `out` by interrupted runs: never trusted, removed."""
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished folder onto `out` (an empty folder there is replaced)."""
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)
