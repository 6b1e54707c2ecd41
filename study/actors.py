"""Actors and their keys: founding the ledger, enrolment, revocation, unlocking.

The founder's enrolment is the first event, self-signed by the key it enrols; every
later enrolment or revocation is an ordinary signed append by a coordinator.
"""

from __future__ import annotations

import fcntl
import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from dermledger.ledger.bootstrap import postgres_connect
from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import Conflict, InvalidInput, KeystoreError
from dermledger.ledger.keystore import check_actor_name
from dermledger.ledger.signing import Signer, key_id_of, public_key_problem
from dermledger.policies import keys as key_policy
from dermledger.policies import roles as role_policy
from dermledger.policies.reasons import require_reason
from dermledger.study.authority import fold_actor
from dermledger.study.kernel import Kernel, Proposal, actor_stream


class ActorService:
    """Enrol, revoke and unlock the people who sign."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def list_actors(self) -> list[dict[str, object]]:
        names = {
            e.stream_id.removeprefix("actor:")
            for e in self.kernel.log()
            if e.topic == "ActorEnrolled"
        }
        return [self.kernel.get_actor(name).as_dict() for name in sorted(names)]

    def found(self, founder: str, passphrase: str) -> tuple[str, Envelope]:
        """Create the ledger: a self-signed enrolment of the founding coordinator.

        Founders take one lock per ledger around the check, the new key and the save,
        so two concurrent `init`s make one ledger (the other is refused) rather than a
        log with two founding enrolments that never verifies.
        """
        check_actor_name(founder)
        with self._founding_lock():
            if self.kernel.is_initialised():
                raise Conflict(f"a ledger already exists at {self.kernel.settings.describe()}")
            signer, created = self._new_key(founder, passphrase)
            ledger_id = str(uuid.uuid4())
            try:
                envelope = self.kernel.seal_all(
                    signer,
                    [
                        Proposal(
                            actor_stream(founder),
                            "ActorEnrolled",
                            {
                                "actor": founder,
                                "roles": ["coordinator"],
                                "public_key": signer.public_hex,
                                "ledger_id": ledger_id,
                            },
                        )
                    ],
                    {actor_stream(founder): (0, None)},  # version 1 of the log, always
                )[0]
                self.kernel.save(envelope)
            except BaseException:
                if created:
                    self.kernel.keystore.remove(founder, signer.public_hex)
                raise
        return ledger_id, envelope

    @contextmanager
    def _founding_lock(self) -> Iterator[None]:
        """Serialise founders: a file lock in the home for SQLite (the database lives
        there), a session advisory lock on the server for PostgreSQL."""
        database = self.kernel.settings.database
        if database is None:
            with (self.kernel.settings.home / ".found.lock").open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
                yield
            return
        name = f"dermledger found {database.schema or 'public'}".encode()
        key = int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)
        with postgres_connect(self.kernel.settings) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))  # released with the session
            yield

    def enrol(
        self,
        signer: Signer,
        name: str,
        roles: list[str],
        *,
        passphrase: str | None = None,
        public_key: str | None = None,
    ) -> Envelope:
        """Enrol a new actor: with a key made here (passphrase) or one they made (public_key)."""
        check_actor_name(name)
        reason = role_policy.check_roles(roles)
        if reason:
            raise InvalidInput(reason)
        if (passphrase is None) == (public_key is None):
            raise InvalidInput("give the new actor either a passphrase or a public key")
        if public_key is not None:
            public_key = public_key.lower()
            problem = public_key_problem(public_key)
            if problem:
                raise InvalidInput(f"cannot enrol {name}: {problem}")

        def exists(key: str | None) -> None:
            if self.kernel.stream(actor_stream(name)):
                raise Conflict(f"an actor named {name} is already enrolled")
            if key is not None:
                key_id = key_id_of(bytes.fromhex(key))
                owner, revoked = self.key_owners().get(key_id, (None, False))
                key_policy.check_enrolment(
                    key_policy.KeyEnrolment(name, key_id, owner, revoked)
                ).enforce()

        exists(public_key)
        self.kernel.acting_record(signer)
        created = False
        if public_key is None:
            assert passphrase is not None
            new, created = self._new_key(name, passphrase)
            public_key = new.public_hex
        try:
            return self.kernel.append(
                signer,
                lambda: (
                    exists(public_key),
                    [
                        Proposal(
                            actor_stream(name),
                            "ActorEnrolled",
                            {"actor": name, "roles": sorted(set(roles)), "public_key": public_key},
                        )
                    ],
                )[1],
            )[0]
        except BaseException:
            # A concurrent run of the same enrolment may have enrolled this very key.
            record = fold_actor(self.kernel.stream(actor_stream(name)))
            if created and (record is None or record.public_key != public_key):
                self.kernel.keystore.remove(name, public_key)
            raise

    def revoke(self, signer: Signer, name: str, reason: str) -> Envelope:
        """Revoke an actor's key: it signs nothing from now on."""
        require_reason(reason, "revoke an actor")

        def decide() -> list[Proposal]:
            record = self.kernel.get_actor(name)
            if record.revoked:
                raise Conflict(f"{name} is already revoked")
            role_policy.check_revocation(
                role_policy.Revocation(name, record.roles, self.active_coordinators())
            ).enforce()
            return [
                Proposal(
                    actor_stream(name),
                    "ActorRevoked",
                    {"actor": name, "key_id": record.key_id, "reason": reason},
                )
            ]

        return self.kernel.append(signer, decide)[0]

    def _new_key(self, name: str, passphrase: str) -> tuple[Signer, bool]:
        """A new key for `name`, and whether this call made it. A key file left by an
        interrupted `init` or `actor add` (never enrolled: the caller checked) is reused
        when the passphrase unlocks it, so re-running the command completes it."""
        keystore = self.kernel.keystore
        if not keystore.has(name):
            return keystore.create(name, passphrase), True
        try:
            return keystore.load(name, passphrase), False
        except KeystoreError:
            raise Conflict(
                f"{keystore.path(name)} holds a key for {name} left by an interrupted "
                "enrolment; re-run with the passphrase it was made with, or delete that file"
            ) from None

    def key_owners(self) -> dict[str, tuple[str, bool]]:
        """key id -> (actor, revoked) for every key ever enrolled; read inside a decision,
        so an enrolment or revocation committed meanwhile makes it decide again."""
        owners: dict[str, tuple[str, bool]] = {}
        for env in self.kernel.events_of_type("ActorEnrolled"):
            owners[key_id_of(bytes.fromhex(env.payload["public_key"]))] = (
                env.payload["actor"],
                False,
            )
        for env in self.kernel.events_of_type("ActorRevoked"):
            key_id = env.payload["key_id"]
            if key_id in owners:
                owners[key_id] = (owners[key_id][0], True)
        return owners

    def active_coordinators(self) -> frozenset[str]:
        """Coordinators enrolled and not revoked (read inside a decision, as above)."""
        enrolled = {
            env.payload["actor"]
            for env in self.kernel.events_of_type("ActorEnrolled")
            if "coordinator" in env.payload["roles"]
        }
        revoked = {env.payload["actor"] for env in self.kernel.events_of_type("ActorRevoked")}
        return frozenset(enrolled - revoked)

    def unlock(self, actor: str, passphrase: str) -> Signer:
        return self.kernel.keystore.load(actor, passphrase)
