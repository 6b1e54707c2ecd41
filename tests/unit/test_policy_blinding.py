"""policies/blinding.py: `reader-blinding` v1, what a reader may see, and queue order."""

from __future__ import annotations

import pytest

from dermledger.policies import blinding
from dermledger.policies.blinding import BLINDED, FULL, OWN_VOTE, ReaderFacts, visibility
from dermledger.study.reading import redact


def facts(*roles: str, voted: bool = False, complete: bool = False) -> ReaderFacts:
    return ReaderFacts(frozenset(roles), has_voted=voted, panel_complete=complete)


def test_policy_is_named_and_versioned() -> None:
    assert (blinding.POLICY_NAME, blinding.POLICY_VERSION) == ("reader-blinding", "1")
    assert BLINDED.as_record() == {"policy": "reader-blinding", "version": "1", "level": "blinded"}


def test_a_reader_sees_no_judgement_before_their_vote() -> None:
    seen = visibility(facts("specialist"))
    assert seen is BLINDED and seen.blinded
    assert not any(
        (seen.annotation, seen.own_vote, seen.other_votes, seen.consensus, seen.histology)
    )


def test_after_their_vote_a_reader_sees_their_own_and_the_annotation_then_all() -> None:
    assert visibility(facts("specialist", voted=True)) is OWN_VOTE
    assert OWN_VOTE.annotation and OWN_VOTE.own_vote and not OWN_VOTE.other_votes
    assert visibility(facts("specialist", voted=True, complete=True)) is FULL


@pytest.mark.parametrize("oversight", ["coordinator", "auditor", "pathologist"])
def test_oversight_roles_see_everything(oversight: str) -> None:
    assert visibility(facts("specialist", oversight)) is FULL
    assert visibility(facts(oversight)) is FULL


def test_annotators_are_not_readers() -> None:
    assert not blinding.is_reader_only({"annotator"})
    assert blinding.is_reader_only({"specialist", "annotator"})


def test_queue_order_is_reproducible_per_seed_and_stable_as_images_arrive() -> None:
    images = [f"IMG-{n:016x}" for n in range(50)]
    first = blinding.queue_order("a" * 32, images)
    assert first == blinding.queue_order("a" * 32, list(reversed(images)))
    assert sorted(first) == sorted(images)
    assert first != blinding.queue_order("b" * 32, images)
    more = blinding.queue_order("a" * 32, [*images, "IMG-ffffffffffffffff"])
    assert [i for i in more if i in images] == first


def test_a_blinded_reader_does_not_see_corrections_of_the_labels() -> None:
    """Issue 18 item 6: a correction carries a diagnosis, so it is withheld like the
    judgement it corrects."""
    history = [{"type": t, "actor": "ann"} for t in
               ("ImageCaptured", "AnnotationCorrected", "HistologyCorrected")]  # fmt: skip
    record = {"metadata": {}, "history": history}
    seen = [e["type"] for e in redact(record, BLINDED, "sam")["history"]]
    assert seen == ["ImageCaptured"]
    seen = [e["type"] for e in redact(record, OWN_VOTE, "sam")["history"]]
    assert seen == ["ImageCaptured", "AnnotationCorrected"]
