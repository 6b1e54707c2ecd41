"""Who may sign what, as the log says at each point: keys, roles and revocations.

The service folds one actor's stream into an `ActorRecord` to decide an append;
`audit verify` folds the whole log through `Authority` to check every event against
the key enrolled and not revoked at its position and the role it held then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from dermledger.ledger.envelope import Envelope
from dermledger.ledger.errors import BadSignature, VerificationError
from dermledger.ledger.signing import key_id_of
from dermledger.policies import keys as key_policy
from dermledger.policies.base import Decision
from dermledger.policies.roles import AppendRequest, check_append


@dataclass(frozen=True)
class ActorRecord:
    """An actor's current standing."""

    name: str
    roles: frozenset[str]
    key_id: str
    public_key: str
    enrolled_at: str
    enrolled_by: str
    revoked: bool = False
    revoked_at: str | None = None
    revoke_reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "actor": self.name,
            "roles": sorted(self.roles),
            "key_id": self.key_id,
            "status": "revoked" if self.revoked else "active",
            "enrolled_at": self.enrolled_at,
            "enrolled_by": self.enrolled_by,
            "revoked_at": self.revoked_at,
        }


def apply_actor_event(record: ActorRecord | None, env: Envelope) -> ActorRecord | None:
    """Fold one actor-stream event into the record."""
    p = env.payload
    if env.type == "ActorEnrolled":
        return ActorRecord(
            name=p["actor"],
            roles=frozenset(p["roles"]),
            key_id=key_id_of(bytes.fromhex(p["public_key"])),
            public_key=p["public_key"],
            enrolled_at=env.recorded_at,
            enrolled_by=env.actor,
        )
    if env.type == "ActorRevoked" and record is not None:
        return replace(record, revoked=True, revoked_at=env.recorded_at, revoke_reason=p["reason"])
    return record


def fold_actor(events: Iterable[Envelope]) -> ActorRecord | None:
    record: ActorRecord | None = None
    for env in events:
        record = apply_actor_event(record, env)
    return record


@dataclass
class Authority:
    """The key directory replayed along the log, for verification."""

    actors: dict[str, ActorRecord] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # key_id -> actor name
    # The role policy is pure: its decision for the same request is the same decision.
    decisions: dict[tuple[str, frozenset[str], bool, str], Decision] = field(default_factory=dict)
    # (key id, actor, type) -> raw key, for what was allowed since the last actor event:
    # the same answer again, without the lookups (a verification asks once per event).
    allowed: dict[tuple[str, str, str], bytes] = field(default_factory=dict)

    def check(self, env: Envelope, seq: int) -> None:
        """Raise VerificationError unless `env` is signed by a key that may sign it here."""
        env.check_signature(self.signing_key(env, seq))

    def signing_key(self, env: Envelope, seq: int) -> bytes:
        """The raw public key that must have signed `env` here; raises if no key may.

        Every check but the signature itself, so a verifier can check signatures in
        parallel while the key directory is replayed in order.
        """
        asked = (env.key_id, env.actor, env.type)
        found = self.allowed.get(asked)
        if found is not None:
            return found
        if not self.actors:
            return self._check_founding(env, seq)
        owner = self.keys.get(env.key_id)
        if owner is None:
            raise BadSignature(f"it is signed by key {env.key_id[:16]}…, which is not enrolled")
        if owner != env.actor:
            raise BadSignature(f"it names actor {env.actor} but the key belongs to {owner}")
        record = self.actors[owner]
        request = (env.actor, record.roles, record.revoked, env.type)
        decision = self.decisions.get(request)
        if decision is None:
            decision = self.decisions[request] = check_append(AppendRequest(*request))
        if not decision.allowed:
            raise VerificationError(
                f"policy {decision.policy} v{decision.version}: {decision.reason}"
            )
        public = bytes.fromhex(record.public_key)
        if env.type == "ActorEnrolled":
            self._check_new_key(env)  # depends on the payload: never cached
        else:
            self.allowed[asked] = public
        return public

    def _check_new_key(self, env: Envelope) -> None:
        """The key an enrolment names must never have been enrolled before (key-ownership)."""
        try:
            key_id = key_id_of(bytes.fromhex(env.payload["public_key"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationError("the enrolment does not carry a hex public key") from exc
        owner = self.keys.get(key_id)
        revoked = owner is not None and self.actors[owner].revoked
        decision = key_policy.check_enrolment(
            key_policy.KeyEnrolment(str(env.payload.get("actor")), key_id, owner, revoked)
        )
        if not decision.allowed:
            raise VerificationError(
                f"policy {decision.policy} v{decision.version}: {decision.reason}"
            )

    def _check_founding(self, env: Envelope, seq: int) -> bytes:
        if seq != 1 or env.type != "ActorEnrolled":
            raise VerificationError("the log does not start with the founding enrolment")
        public = env.payload.get("public_key", "")
        if key_id_of(bytes.fromhex(public)) != env.key_id or env.payload.get("actor") != env.actor:
            raise BadSignature("the founding enrolment is not self-signed by the enrolled key")
        if "coordinator" not in env.payload.get("roles", []):
            raise VerificationError("the founding actor is not a coordinator")
        return bytes.fromhex(public)

    def public_key_of(self, actor: str) -> bytes:
        return bytes.fromhex(self.actors[actor].public_key)

    def count(self) -> int:
        return len(self.actors)

    def observe(self, env: Envelope) -> None:
        """Take an already verified event into account."""
        if not env.stream_id.startswith("actor:"):
            return
        name = env.stream_id.removeprefix("actor:")
        record = apply_actor_event(self.actors.get(name), env)
        if record is not None:
            self.actors[name] = record
            self.keys[record.key_id] = name
            self.allowed.clear()
