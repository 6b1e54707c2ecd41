"""A small real release, the damage `release verify` catches, witness cosignatures made
from the C2SP spec's format, and the CLI's own verdict on a folder."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from dermledger.commands.main import app
from dermledger.ledger.bootstrap import Settings
from dermledger.ledger.signing import Signer
from dermledger.projections.release.verify import manifest_digest
from dermledger.synthetic.images import draw_image, encode_jpeg
from tests.support import LedgerHandle, open_handle, register_with_consent

META = {
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "anatom_site": "Trunk:Posterior trunk",
    "clin_size_long_diam_mm": "6.5",
}
NEVUS, SEBK, MEL = "Nevus, NOS, Compound", "Seborrheic keratosis", "Melanoma Invasive"


def _verified(team: LedgerHandle, patient: str, seed: int, label: str, histology: bool) -> None:
    image = team.ledger.capture.capture(
        team["ada"],
        encode_jpeg(draw_image(seed)),
        patient_id=patient,
        lesion_id=f"L{seed}",
        metadata=META,
    ).image_id
    team.ledger.confirmation.annotate(team["ann"], image, label, ["pigment_network=typical"])
    for reader in ("sam", "sue", "sid"):
        team.ledger.confirmation.vote(team[reader], image, label)
    if histology:
        team.ledger.confirmation.record_histology(
            team["pat"], image, label, f"PATH-{seed}", "2026-11-01"
        )


def build_release(workdir: Path) -> tuple[Path, Signer]:
    """A release of four images (one melanoma with histology) and one left out by a gate;
    returns its folder and the signer, to re-sign manifests the tests change."""
    team = open_handle(Settings(home=workdir / "home", kdf_log2_n=10))
    register_with_consent(team, "P1", {"age": "47", "sex": "female", "fitzpatrick_skin_type": "II"})
    register_with_consent(team, "P2", {"age": "63", "sex": "male", "fitzpatrick_skin_type": "III"})
    _verified(team, "P1", 1, NEVUS, False)
    _verified(team, "P1", 2, SEBK, False)
    _verified(team, "P2", 3, MEL, True)
    _verified(team, "P2", 4, NEVUS, False)
    _verified(team, "P2", 5, MEL, False)  # no histology: left out by a gate
    folder = workdir / "v1"
    team.ledger.releases.create_release(team["ada"], "v1", folder)
    signer = team["ada"]
    team.ledger.close()
    return folder, signer


def copy_release(folder: Path, target: Path) -> Path:
    """A copy whose images are files of their own (a release hard-links its blobs)."""
    shutil.copytree(folder, target, copy_function=shutil.copyfile)
    return target


def zip_release(folder: Path, archive: Path, *, top: bool, method: int) -> Path:
    """The folder as a zip, its files under a top folder of its name or at the root."""
    with zipfile.ZipFile(archive, "w", compression=method) as z:
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder.parent if top else folder).as_posix()
            z.write(path, name)
    return archive


# ------------------------------------------------------------------ the CLI's verdict


@dataclass(frozen=True)
class CliVerdict:
    ok: bool
    verdict: str  # the last line the CLI prints, "Error: " taken off
    failures: list[str]


def cli_verify(folder: Path) -> CliVerdict:
    """`dermledger release verify FOLDER`, once with --json for the failures, once plain."""
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["release", "verify", str(folder), "--json"]).stdout)
    plain = runner.invoke(app, ["release", "verify", str(folder)])
    lines = [line for line in plain.output.splitlines() if line.strip()]
    return CliVerdict(data["ok"], lines[-1].removeprefix("Error: "), data["failures"])


# ------------------------------------------------------------------ damage


def first_image(folder: Path) -> Path:
    return sorted((folder / "images").iterdir())[0]


def flip_image_byte(folder: Path) -> None:
    data = bytearray(first_image(folder).read_bytes())
    data[len(data) // 2] ^= 0x01
    first_image(folder).write_bytes(bytes(data))


def change_metadata_cell(folder: Path) -> None:
    text = (folder / "metadata.csv").read_text()
    (folder / "metadata.csv").write_text(text.replace("female", "male", 1))


def break_proof_line(folder: Path) -> None:
    lines = (folder / "provenance.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    proof = record["events"][0]["proof"]
    proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]
    lines[1] = json.dumps(record)
    (folder / "provenance.jsonl").write_text("\n".join(lines) + "\n")


def truncate_proof_line(folder: Path) -> None:
    lines = (folder / "provenance.jsonl").read_text().splitlines()
    lines[0] = lines[0][: len(lines[0]) // 2]
    short = json.loads(lines[2])
    short["events"][-1]["proof"][-1] = short["events"][-1]["proof"][-1][:-2]  # 31 bytes
    lines[2] = json.dumps(short)
    odd = json.loads(lines[3])
    odd["events"][0]["hash"] = "zz" + odd["events"][0]["hash"][2:]  # not hex: malformed
    lines[3] = json.dumps(odd)
    (folder / "provenance.jsonl").write_text("\n".join(lines) + "\n")


def alter_manifest(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["name"] = "v1-final"
    (folder / "manifest.json").write_text(json.dumps(manifest))


def add_extra_file(folder: Path) -> None:
    (folder / "images" / "extra.jpg").write_bytes(encode_jpeg(draw_image(998)))


def remove_file(folder: Path) -> None:
    (folder / "annotations.csv").unlink()


DAMAGE = {
    "image-byte": flip_image_byte,
    "metadata-cell": change_metadata_cell,
    "proof-line": break_proof_line,
    "malformed-proof-lines": truncate_proof_line,
    "manifest": alter_manifest,
    "extra-file": add_extra_file,
    "missing-file": remove_file,
}


# ------------------------------------------------------------------ witnesses (C2SP)


@dataclass(frozen=True)
class Witness:
    name: str
    key: Ed25519PrivateKey

    @property
    def public(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        """SHA-256(name || "\\n" || 0x04 || public key)[:4] (tlog-cosignature)."""
        return hashlib.sha256(self.name.encode() + b"\n\x04" + self.public).digest()[:4]

    @property
    def vkey(self) -> str:
        material = base64.b64encode(b"\x04" + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def cosign(self, body: str, timestamp: int) -> str:
        """One `cosignature/v1` note signature line over a checkpoint body."""
        message = f"cosignature/v1\ntime {timestamp}\n{body}".encode()
        blob = self.key_id + struct.pack(">Q", timestamp) + self.key.sign(message)
        return f"\u2014 {self.name} {base64.b64encode(blob).decode()}"


def checkpoint_body(manifest: dict[str, object], origin: str) -> str:
    checkpoint = manifest["checkpoint"]
    assert isinstance(checkpoint, dict)
    root = base64.b64encode(bytes.fromhex(checkpoint["root"])).decode()
    return f"{origin}\n{checkpoint['tree_size']}\n{root}\n"


def add_cosignatures(folder: Path, signer: Signer, lines: list[str], body: str) -> None:
    """Put a cosigned checkpoint note into the manifest and sign it again, as a release
    made after a witnessed checkpoint would carry it."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["checkpoint"]["note"] = body + "\n" + "".join(line + "\n" for line in lines)
    manifest.pop("signature")
    manifest["signature"] = signer.sign_digest(manifest_digest(manifest))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
