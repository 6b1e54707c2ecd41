"""Every Ed25519 implementation at hand, side by side, signing and verifying 32-byte digests.

The ledger signs and verifies through libsodium (PyNaCl); `cryptography` (OpenSSL) was
the old baseline. Optional bindings are measured when importable (pysodium and libnacl
call the system's libsodium through ctypes; py-ed25519-zebra-bindings is Rust, with
ZIP-215 rules, so it is not a drop-in whatever its speed). Implementations take turns,
round by round, in one process, so the load hits all alike. Each row's baseline is the
ledger's own implementation. `.venv/bin/python bench/bench_ed25519.py [--n N]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.bindings import crypto_sign_seed_keypair

from dermledger.bench.common import MEMORY, BenchArgs, Row
from dermledger.ledger.signing import sign_raw, verify_raw

Item = tuple[bytes, bytes, bytes, bytes]  # (seed, public, signature, digest)
Run = Callable[[list[Item]], None]
OURS = "libsodium (PyNaCl, the ledger's)"
ROUNDS = 3
KEYS = 16


def items(count: int) -> list[Item]:
    """Signatures by KEYS keys over distinct digests, as a log has few signers."""
    seeds = [os.urandom(32) for _ in range(KEYS)]
    keys = [Ed25519PrivateKey.from_private_bytes(seed) for seed in seeds]
    publics = [k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for k in keys]
    out = []
    for i in range(count):
        digest = hashlib.sha256(b"%d" % i).digest()
        out.append((seeds[i % KEYS], publics[i % KEYS], keys[i % KEYS].sign(digest), digest))
    return out


def openssl_verify(batch: list[Item]) -> None:
    loaded: dict[bytes, Ed25519PublicKey] = {}
    for _, public, signature, digest in batch:
        key = loaded.get(public) or loaded.setdefault(
            public, Ed25519PublicKey.from_public_bytes(public)
        )
        key.verify(signature, digest)


def openssl_sign(batch: list[Item]) -> None:
    loaded: dict[bytes, Ed25519PrivateKey] = {}
    for seed, _, signature, digest in batch:
        key = loaded.get(seed) or loaded.setdefault(
            seed, Ed25519PrivateKey.from_private_bytes(seed)
        )
        assert key.sign(digest) == signature


def sodium_verify(batch: list[Item]) -> None:
    for _, public, signature, digest in batch:
        if not verify_raw(public, signature, digest):
            raise AssertionError("libsodium rejected a valid signature")


def sodium_sign(batch: list[Item]) -> None:
    secrets: dict[bytes, bytes] = {}
    for seed, _, signature, digest in batch:
        secret = secrets.get(seed) or secrets.setdefault(seed, crypto_sign_seed_keypair(seed)[1])
        assert sign_raw(secret, digest) == signature


def optional() -> dict[str, Run]:
    """Verifiers of the optional bindings that import here."""
    found: dict[str, Run] = {}
    try:
        import pysodium  # type: ignore[import-untyped]

        def pysodium_verify(batch: list[Item]) -> None:
            for _, public, signature, digest in batch:
                pysodium.crypto_sign_verify_detached(signature, digest, public)

        found["libsodium (pysodium, ctypes)"] = pysodium_verify
    except (ImportError, OSError):
        pass
    try:
        import libnacl  # type: ignore[import-untyped]

        def libnacl_verify(batch: list[Item]) -> None:
            for _, public, signature, digest in batch:
                libnacl.crypto_sign_verify_detached(signature, digest, public)

        found["libsodium (libnacl, ctypes)"] = libnacl_verify
    except (ImportError, OSError):
        pass
    try:
        import ed25519_zebra  # type: ignore[import-not-found]

        def zebra_verify(batch: list[Item]) -> None:
            for _, public, signature, digest in batch:
                if not ed25519_zebra.ed_verify(signature, digest, public):
                    raise AssertionError("zebra rejected a valid signature")

        found["ed25519-zebra (Rust, ZIP-215: not a drop-in)"] = zebra_verify
    except ImportError:
        pass
    return found


def measure(runs: dict[str, Run], batch: list[Item]) -> dict[str, float]:
    """Rate of each run, taking turns for ROUNDS rounds (order reversed every round)."""
    seconds = dict.fromkeys(runs, 0.0)
    names = list(runs)
    for turn in range(ROUNDS):
        for name in names if turn % 2 == 0 else reversed(names):
            started = time.perf_counter()
            runs[name](batch)
            seconds[name] += time.perf_counter() - started
    return {name: ROUNDS * len(batch) / s for name, s in seconds.items()}


def rows(count: int) -> list[Row]:
    batch = items(count)
    verify = {OURS: sodium_verify, "OpenSSL (cryptography)": openssl_verify, **optional()}
    sign = {OURS: sodium_sign, "OpenSSL (cryptography)": openssl_sign}
    out = []
    for what, runs in (("verify", verify), ("sign", sign)):
        rates = measure(runs, batch)
        for name, per_s in rates.items():
            out.append(Row(f"Ed25519 {what}: {name}", MEMORY, count, per_s, rates[OURS], 0.0, OURS))
    return out


def run(args: BenchArgs) -> list[Row]:
    return rows(min(args.events, 20_000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="signatures (default 10000)")
    count = parser.parse_args(argv).n
    for row in rows(count):
        print(f"{row.measure:55s} {row.ours_per_s:9,.0f}/s  ratio {row.ratio:.2f}")
    print(f"1-minute load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
