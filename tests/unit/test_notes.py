"""Signed notes, checkpoints and cosignatures against published examples and another
implementation.

Published values below are small literals copied from where they are published, each
cited. Interop: notes and cosignatures made here are verified by `aics-tlog` (a C2SP
implementation on PyPI we did not write), and the other way round.
"""

from __future__ import annotations

import base64
from hashlib import sha256

import aics_tlog as aics
import pytest
from aics_tlog.cosign import verify_cosignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dermledger.ledger.merkle import MerkleTree, hash_leaf
from dermledger.ledger.notes import (
    EM_DASH,
    CosignatureVerifier,
    Cosigner,
    Ed25519Signer,
    Ed25519Verifier,
    MalformedNote,
    Signature,
    UntrustedNote,
    cosignature_message,
    cosignature_timestamp,
    open_note,
    parse_note,
    parse_vkey,
    sign_note,
)
from dermledger.ledger.tlog import (
    AddCheckpointRequest,
    Checkpoint,
    open_checkpoint,
    sign_checkpoint,
)

# c2sp.org/signed-note, section "Verifier keys", example (C2SP/C2SP commit d4c16da5).
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    f"{EM_DASH} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYj"
    "OBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()

# golang.org/x/mod/sumdb/note, package documentation, "Example" (the Go reference).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    f"{EM_DASH} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_SIG = (
    f"{EM_DASH} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oO"
    "TGwnWLox33WWd1RvMc+QQ=\n"
)

# c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature, the examples at the top.
SOFA_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SOFA_LOG_SIG = (
    f"{EM_DASH} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URY"
    "N7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
SOFA_COSIG = (
    f"{EM_DASH} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9"
    "dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
# c2sp.org/tlog-witness, "add-checkpoint", example request body.
WITNESS_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    + SOFA_TEXT
    + "\n"
    + SOFA_LOG_SIG
    + f"{EM_DASH} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum"
    "2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
).encode()

# transparency-dev/formats note/note_cosigv1_test.go: a 0x04 vkey, a 0x01 vkey whose base64
# holds a '+', and a cosignature whose timestamp is 1727964367.
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
TD_COSIG = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJ"
    "XORmnFBOBA=="
)


# ------------------------------------------------------------------ published examples


def test_signed_note_spec_example_verifies() -> None:
    opened = open_note(SPEC_NOTE, [parse_vkey(SPEC_VKEY)])
    assert opened.text == "This is an example message.\n"
    assert parse_note(SPEC_NOTE).to_bytes() == SPEC_NOTE  # re-formats byte for byte
    assert parse_vkey(SPEC_VKEY).vkey == SPEC_VKEY


def test_go_reference_key_signs_the_published_note_byte_for_byte() -> None:
    signer = Ed25519Signer.from_skey(GO_SKEY)
    assert signer.verifier.vkey == GO_VKEY
    assert signer.skey == GO_SKEY
    assert signer.key_id.hex() == "c74f20a3"
    assert sign_note(GO_TEXT, [signer]) == (GO_TEXT + "\n" + GO_SIG).encode()


def test_go_doubly_signed_note_opens_with_either_key() -> None:
    note = (GO_TEXT + "\n" + GO_SIG + ENOCH_SIG).encode()
    peter, enoch = parse_vkey(GO_VKEY), parse_vkey(ENOCH_VKEY)
    both = open_note(note, [peter, enoch])
    assert [s.name for s in both.verified] == ["PeterNeumann", "EnochRoot"]
    only_enoch = open_note(note, [enoch])
    assert [s.name for s in only_enoch.unverified] == ["PeterNeumann"]


@pytest.mark.parametrize(
    "bad",
    [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # length
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # algorithm
    ],
)
def test_go_reference_bad_vkeys_are_refused(bad: str) -> None:
    with pytest.raises(MalformedNote):
        parse_vkey(bad)


def test_every_mangling_of_a_vkey_is_refused() -> None:
    """As the Go reference's TestNewVerifier: substrings and one-byte changes fail."""
    raw = GO_VKEY.encode()
    for i in range(len(raw) + 1):
        for j in range(i + 1, len(raw) + 1):
            if (i, j) != (0, len(raw)):
                with pytest.raises(MalformedNote):
                    parse_vkey(raw[i:j].decode())
    for i in range(len(raw)):
        changed = bytearray(raw)
        changed[i] += 1
        with pytest.raises((MalformedNote, UnicodeDecodeError)):
            parse_vkey(changed.decode())


def test_transparency_dev_vkeys_and_cosignature_timestamp() -> None:
    assert isinstance(parse_vkey(REMORA_VKEY), CosignatureVerifier)
    assert type(parse_vkey(PLUS_VKEY)) is Ed25519Verifier
    assert cosignature_timestamp(base64.b64decode(TD_COSIG)[4:]) == 1727964367


def test_checkpoint_and_cosignature_examples_parse_to_the_published_layout() -> None:
    note = parse_note((SOFA_TEXT + "\n" + SOFA_LOG_SIG + SOFA_COSIG).encode())
    checkpoint = Checkpoint.parse(note.text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.text() == SOFA_TEXT
    cosig = note.signatures[1]
    assert cosig.name == "witness.example.com/w1"
    # The signature is u64 timestamp || 64-byte Ed25519; the spec's message example uses
    # "time 1679315147" for this checkpoint.
    assert len(cosig.signature) == 72
    assert cosignature_timestamp(cosig.signature) == 1679315147
    assert cosignature_message(SOFA_TEXT.encode(), 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + SOFA_TEXT.encode()
    )


def test_witness_example_request_parses() -> None:
    request = AddCheckpointRequest.parse(WITNESS_REQUEST)
    assert request.old_size == 20852014
    assert len(request.proof) == 4 and all(len(h) == 32 for h in request.proof)
    assert Checkpoint.parse(parse_note(request.note).text).size == 20852163
    assert request.to_bytes() == WITNESS_REQUEST


# ------------------------------------------------------------------ strict syntax


@pytest.mark.parametrize(
    "note",
    [
        b"no blank line\n" + GO_SIG.encode(),
        GO_TEXT.encode() + b"\n",  # no signature
        GO_TEXT.encode() + b"\n" + GO_SIG.encode()[:-1],  # no final newline
        GO_TEXT.encode() + b"\n" + GO_SIG.encode().replace(EM_DASH.encode(), b"-"),
        b"tab\tinside\n\n" + GO_SIG.encode(),  # control character
        b"\xff\n\n" + GO_SIG.encode(),  # not UTF-8
        GO_TEXT.encode() + b"\n" + GO_SIG.encode().replace(b"M=\n", b"M= \n"),
    ],
)
def test_malformed_notes_are_refused(note: bytes) -> None:
    with pytest.raises(MalformedNote):
        parse_note(note)


@pytest.mark.parametrize(
    "text",
    [
        "origin\n1\n",  # two lines
        "origin\n01\n" + base64.b64encode(bytes(32)).decode() + "\n",  # leading zero
        "origin\n1\n" + base64.b64encode(bytes(31)).decode() + "\n",  # not a hash
        "origin\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n",  # empty extension
        "\n1\n" + base64.b64encode(bytes(32)).decode() + "\n",  # empty origin
        "origin\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(MalformedNote):
        Checkpoint.parse(text)


# ------------------------------------------------------------------ tampering


@pytest.fixture
def log_key() -> Ed25519Signer:
    return Ed25519Signer.generate("study.example/derm")


@pytest.fixture
def checkpoint() -> Checkpoint:
    tree = MerkleTree([hash_leaf(sha256(b"event %d" % i).digest()) for i in range(11)])
    return Checkpoint("study.example/derm", tree.size, tree.root(), ("ext line",))


def test_checkpoint_round_trip_with_extension(
    log_key: Ed25519Signer, checkpoint: Checkpoint
) -> None:
    note = sign_checkpoint(checkpoint, [log_key])
    read, opened = open_checkpoint(note, [log_key.verifier])
    assert read == checkpoint and opened.unverified == ()


def test_cosignature_verifies_and_tampering_is_named(
    log_key: Ed25519Signer, checkpoint: Checkpoint
) -> None:
    witness = Cosigner("ethics.example/w1", Cosigner.generate("x").private_key, clock=lambda: 1e9)
    note = sign_checkpoint(checkpoint, [log_key, witness])
    opened = open_note(note, [witness.verifier])
    assert cosignature_timestamp(opened.verified[0].signature) == 1_000_000_000

    stranger = Cosigner.generate("ethics.example/w1").verifier  # same name, unknown key
    with pytest.raises(UntrustedNote, match="no signature"):
        open_note(note, [stranger])
    other_origin = Checkpoint("other.example/log", checkpoint.size, checkpoint.root)
    other_root = Checkpoint(checkpoint.origin, checkpoint.size, sha256(b"x").digest())
    for other in (other_origin, other_root):
        moved = other.text().encode() + b"\n" + parse_note(note).signatures[1].line().encode()
        with pytest.raises(UntrustedNote, match="does not verify"):
            open_note(moved, [witness.verifier])
    sig = parse_note(note).signatures[1]
    for i in range(len(sig.signature)):
        changed = bytearray(sig.signature)
        changed[i] ^= 0x01
        bad = Signature(sig.name, sig.key_id, bytes(changed))
        tampered = checkpoint.text().encode() + b"\n" + bad.line().encode()
        with pytest.raises(UntrustedNote):
            open_note(tampered, [witness.verifier])


def test_one_changed_byte_of_the_text_fails(log_key: Ed25519Signer, checkpoint: Checkpoint) -> None:
    note = sign_checkpoint(checkpoint, [log_key])
    text_end = note.index(b"\n\n")
    for i in range(text_end):
        changed = bytearray(note)
        changed[i] ^= 0x01
        with pytest.raises((UntrustedNote, MalformedNote)):
            open_checkpoint(bytes(changed), [log_key.verifier])


def test_a_trusted_key_signing_twice_is_refused(
    log_key: Ed25519Signer, checkpoint: Checkpoint
) -> None:
    note = sign_checkpoint(checkpoint, [log_key, log_key])
    with pytest.raises(UntrustedNote, match="more than once"):
        open_note(note, [log_key.verifier])


def test_plain_and_cosignature_keys_of_one_seed_do_not_mix(checkpoint: Checkpoint) -> None:
    seed = bytes(range(32))
    plain, cosigner = Ed25519Signer.from_seed("w", seed), Cosigner.from_seed("w", seed)
    assert plain.key_id != cosigner.key_id
    note = sign_checkpoint(checkpoint, [cosigner])
    with pytest.raises(UntrustedNote):
        open_note(note, [plain.verifier])


# ------------------------------------------------------------------ interop (aics-tlog)


def test_aics_tlog_verifies_our_checkpoints_and_cosignatures(
    log_key: Ed25519Signer, checkpoint: Checkpoint
) -> None:
    witness = Cosigner.generate("ethics.example/w1")
    plain = Checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root)
    note = sign_checkpoint(plain, [log_key, witness])
    theirs = aics.parse_note(note)
    assert aics.verify_note(theirs, [aics.parse_vkey(log_key.verifier.vkey)])
    assert aics.parse_vkey(witness.verifier.vkey).key_id == witness.key_id
    blob = theirs.signatures[1].signature
    assert verify_cosignature(
        blob, witness.name, witness.verifier.public_key, plain.origin, plain.size, plain.root
    )


def test_we_verify_aics_tlog_checkpoints_and_cosignatures(checkpoint: Checkpoint) -> None:
    log_private, wit_private = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    their_cp = aics.Checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root)
    signed = aics.sign_checkpoint(their_cp, log_private, checkpoint.origin)
    _, cosig = aics.sign_cosignature(
        wit_private, "lab.example/w2", 1767000000, checkpoint.origin, checkpoint.size,
        checkpoint.root,
    )  # fmt: skip
    note = aics.Note(text=signed.text, signatures=(*signed.signatures, cosig)).to_bytes()
    log_vkey = aics.format_vkey(aics.vkey_from_ed25519(checkpoint.origin, log_private.public_key()))
    wit_vkey = aics.format_vkey(aics.cosignature_vkey("lab.example/w2", wit_private.public_key()))
    read, _ = open_checkpoint(note, [parse_vkey(log_vkey)])
    assert (read.origin, read.size, read.root) == (
        checkpoint.origin, checkpoint.size, checkpoint.root,
    )  # fmt: skip
    cosigned = open_note(note, [parse_vkey(wit_vkey)])
    assert cosignature_timestamp(cosigned.verified[0].signature) == 1767000000
