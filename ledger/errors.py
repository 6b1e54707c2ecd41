"""The error hierarchy. Every refusal or failure the user sees is one of these.

The CLI maps DermLedgerError to exit status 1 and prints `Error: <message>`:
one sentence, never personal data.
"""

from __future__ import annotations


class DermLedgerError(Exception):
    """Base of every error a command reports as a refusal or failure (exit 1)."""

    def diagnostics(self) -> str:
        """A one-sentence explanation for people."""
        return str(self)


class NotFound(DermLedgerError):
    """The named actor, patient, image or release does not exist."""


class Conflict(DermLedgerError):
    """The change clashes with what is already recorded."""


class PolicyViolation(DermLedgerError):
    """A named policy refused the proposed event."""

    def __init__(self, message: str, *, policy: str = "", version: str = "") -> None:
        super().__init__(message)
        self.policy = policy
        self.version = version


class InvalidInput(DermLedgerError):
    """The input (file, CSV, value) is malformed or unsafe."""


class KeystoreError(DermLedgerError):
    """A key cannot be loaded: missing keystore entry or wrong passphrase."""


class VerificationError(DermLedgerError):
    """A hash, signature, chain or proof does not verify."""


class BadSignature(VerificationError):
    """An Ed25519 signature does not verify against the enrolled key."""


class SignatureRequired(DermLedgerError):
    """An external signer was asked to sign a digest it holds no signature for: the
    envelope was sealed differently (its stream moved), so its holder must sign again."""

    def __init__(self, digest: bytes) -> None:
        super().__init__("the event changed before it was saved; it must be signed again")
        self.digest = digest


class RootMismatch(VerificationError):
    """A Merkle root computed from the data differs from the expected one."""

    def __init__(self, message: str, *, expected: bytes, calculated: bytes) -> None:
        super().__init__(message)
        self.expected = expected
        self.calculated = calculated


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof is malformed or does not verify."""
