"""A witness operator's home folder: its own key, its config and its state.

Another institution runs the witness, so nothing here is shared with a ledger home:

    <home>/witness.json        name and cosigner verifier key (public)
    <home>/keys/witness.key.json  the Ed25519 key, sealed with the operator's passphrase
                                   by the ledger's Keystore (scrypt + AES-256-GCM, 0600)
    <home>/witness.sqlite      logs witnessed: origin, trusted keys, latest cosigned state
    <home>/refusals.jsonl      every refused add-checkpoint request, appended
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dermledger.ledger.errors import Conflict, InvalidInput
from dermledger.ledger.keystore import KDF_LOG2_N, Keystore
from dermledger.ledger.notes import Cosigner, Ed25519Verifier, MalformedNote, check_key_name
from dermledger.ledger.witness import RefusalLog, Witness, WitnessStore

__all__ = ["FORMAT", "WitnessHome"]

FORMAT = "dermledger-witness/1"
KEY_HANDLE = "witness"


class WitnessHome:
    """Paths and set-up of one witness; `open` unlocks the key and gives a Witness."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config_path = folder / "witness.json"
        self.db_path = folder / "witness.sqlite"
        self.refusals_path = folder / "refusals.jsonl"
        self.keystore = Keystore(folder / "keys")

    def init(self, name: str, passphrase: str, *, kdf_log2_n: int = KDF_LOG2_N) -> str:
        """Make the witness's key and config; return its cosigner verifier key."""
        try:
            check_key_name(name)
        except MalformedNote:
            raise InvalidInput(
                f"{name[:80]!r} is not a witness name: use a URL-like name without spaces or '+'"
            ) from None
        if self.config_path.exists():
            raise Conflict(f"{self.folder} is already a witness home")
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        self.keystore.kdf_log2_n = kdf_log2_n
        signer = self.keystore.create(KEY_HANDLE, passphrase)
        vkey = Cosigner(name, signer.private_key).verifier.vkey
        config = {"format": FORMAT, "name": name, "vkey": vkey}
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")
        WitnessStore(self.db_path)
        return vkey

    def config(self) -> dict[str, str]:
        if not self.config_path.exists():
            raise InvalidInput(f"{self.folder} is not a witness home: run 'witness init' first")
        try:
            config = json.loads(self.config_path.read_text())
        except ValueError:
            raise InvalidInput(f"the witness config {self.config_path} is unreadable") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise InvalidInput(f"the witness config {self.config_path} is not {FORMAT}")
        return config

    @property
    def vkey(self) -> str:
        return str(self.config()["vkey"])

    def store(self) -> WitnessStore:
        self.config()
        return WitnessStore(self.db_path)

    def trust(self, origin: str, vkey: str) -> Ed25519Verifier:
        """Witness a log: its origin and the verifier key that signs its checkpoints."""
        return self.store().trust(origin, vkey)

    def open(self, passphrase: str) -> Witness:
        """Unlock the key; refuse a key file that does not match the configured vkey."""
        config = self.config()
        signer = self.keystore.load(KEY_HANDLE, passphrase)
        cosigner = Cosigner(config["name"], signer.private_key)
        if cosigner.verifier.vkey != config["vkey"]:
            raise InvalidInput(f"the witness key in {self.folder} does not match witness.json")
        return Witness(self.store(), cosigner, RefusalLog(self.refusals_path))
