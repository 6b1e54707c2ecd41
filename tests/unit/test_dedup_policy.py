"""Duplicate detection v2 on generated images: recall on copies, precision on hard negatives.

Every image goes through the production path: `inspect_image` (whole-image pHash and
dHash, region hash and probe), `DedupIndex.candidates` (exact pHash search, region
distance) and `duplicates.classify`. The bounds asserted here are the figures measured
on this sample (see each test); they are lower bounds on quality, so a change that
makes detection worse fails. The full-cohort and 1,800-copy survey figures are in the
comment above the constants in policies/duplicates.py.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

import pytest
from PIL import Image

from dermledger.policies import duplicates
from dermledger.policies.duplicates import Candidate, classify, is_near
from dermledger.projections.dedup_index import DedupIndex, IndexedImage
from dermledger.study.imaging import ImageFacts, inspect_image, region_hex, region_probe
from dermledger.synthetic.cohort import plan_cohort
from dermledger.synthetic.duplicates import (
    DUPLICATE_KINDS,
    hard_negatives,
    plant_duplicates,
    recapture,
)
from dermledger.synthetic.images import ImageSpec, decode, encode_jpeg, encode_png, image_bytes

ORIGINALS = 12  # first originals of the seed-2026 plan: every kind planted on each


def indexed(name: str, f: ImageFacts, *, region: bool = True) -> IndexedImage:
    return IndexedImage(
        name, f.sha256, f.pixel_sha256, f.phash, f.dhash, f.region_hash if region else None
    )


def suspicions(index: DedupIndex, f: ImageFacts) -> list[duplicates.SuspectedDuplicate]:
    """What capture() decides for `f` against `index` (its duplicate section, verbatim)."""
    return classify(
        sha256=f.sha256,
        pixel_sha256=f.pixel_sha256,
        candidates=(
            Candidate(
                n.image.image_id,
                n.image.sha256,
                n.image.pixel_sha256,
                n.distance,
                (int(n.image.dhash, 16) ^ int(f.dhash, 16)).bit_count(),
                n.region_distance,
            )
            for n in index.candidates(f.phash, duplicates.DEFAULT_THRESHOLD, f.region_probe)
        ),
        threshold=duplicates.DEFAULT_THRESHOLD,
    )


def region_distance(earlier: ImageFacts, later: ImageFacts) -> int:
    near = DedupIndex([indexed("e", earlier)]).candidates(later.phash, 64, later.region_probe)
    assert near[0].region_distance is not None
    return near[0].region_distance


@dataclass
class Sample:
    originals: list[ImageFacts]
    copies: list[tuple[int, str, ImageFacts]]  # (original, kind, facts)
    negatives: list[tuple[int, ImageFacts]]  # another lesion, another capture
    recaptures: list[tuple[int, ImageFacts]]  # the same lesion photographed again
    same_setup: list[tuple[int, ImageFacts]]  # another lesion, the very same capture


@cache
def sample() -> Sample:
    s = Sample([], [], [], [], [])
    for i, record in enumerate(plan_cohort(seed=2026).originals[:ORIGINALS]):
        data = image_bytes(record.spec)
        s.originals.append(inspect_image(data))
        for kind, dup in plant_duplicates(data, seed=i).items():
            s.copies.append((i, kind, inspect_image(dup)))
        for spec in hard_negatives(record.spec, 2, seed=i):
            s.negatives.append((i, inspect_image(image_bytes(spec))))
        s.recaptures.append((i, inspect_image(image_bytes(recapture(record.spec, seed=i)))))
        (same,) = hard_negatives(record.spec, 1, seed=i, same_capture=True)
        s.same_setup.append((i, inspect_image(image_bytes(same))))
    return s


# ------------------------------------------------------------------ the pure rule


def candidate(distance: int, confirm: int, region: int | None, **kw: str) -> Candidate:
    return Candidate(kw.get("image_id", "A"), "s" * 64, "p" * 64, distance, confirm, region)


def test_region_rule_and_its_thresholds() -> None:
    t, r = duplicates.DEFAULT_THRESHOLD, duplicates.REGION_THRESHOLD
    assert is_near(candidate(t, 64, r))
    assert not is_near(candidate(t + 1, 0, 0))  # outside the candidate radius
    assert not is_near(candidate(0, 0, r + 1))  # whole-image hashes cannot overrule the region
    assert is_near(candidate(t, 64, 0))  # dHash plays no part when the region is measured


def test_candidates_without_region_hash_keep_the_version_1_rule() -> None:
    legacy, confirm = duplicates.LEGACY_THRESHOLD, duplicates.CONFIRM_THRESHOLD
    assert is_near(candidate(legacy, confirm, None))
    assert not is_near(candidate(legacy + 1, 0, None))
    assert not is_near(candidate(0, confirm + 1, None))


def test_classify_orders_kinds_and_skips_the_unconfirmed() -> None:
    found = classify(
        sha256="x" * 64,
        pixel_sha256="y" * 64,
        candidates=[
            candidate(3, 0, 2, image_id="near"),
            candidate(0, 0, 30, image_id="far"),
            Candidate("bytes", "x" * 64, "q" * 64, 9, 9, 40),
            Candidate("pixels", "z" * 64, "y" * 64, 1, 1, None),
        ],
        threshold=duplicates.DEFAULT_THRESHOLD,
    )
    assert [(s.duplicate_of, s.kind) for s in found] == [
        ("bytes", "exact-bytes"),
        ("pixels", "exact-pixels"),
        ("near", "near"),
    ]


# --------------------------------------------------------------- the measurements


def test_region_hash_is_the_probes_identity_framing() -> None:
    data = image_bytes(ImageSpec(5, 6))
    facts = inspect_image(data)
    assert len(facts.region_hash) == 48 and facts.region_probe.shape == (625, 3)
    with Image.open(io.BytesIO(data)) as im:
        probe = region_probe(im.convert("L"))
    assert region_hex(probe) == facts.region_hash
    assert region_distance(facts, facts) == 0
    # A 4% crop moves the whole-image pHash; one of the probe's reframings finds it.
    pixels = decode(data)
    h, w = pixels.shape[:2]
    cropped = inspect_image(encode_jpeg(pixels[: h - round(0.04 * h), round(0.04 * w) :]))
    assert region_distance(facts, cropped) <= 8
    assert region_distance(cropped, facts) <= 8


def test_every_planted_copy_is_confirmed_in_either_capture_order() -> None:
    """Measured: 108 copies (12 originals x 9 kinds), each captured after and before its
    original: 216/216 flagged, region distance at most 9 (survey of 1,800 copies: 11),
    whole-image pHash at most 14."""
    s = sample()
    assert len(s.copies) == ORIGINALS * len(DUPLICATE_KINDS)
    caught = 0
    worst = 0
    for i, kind, copy in s.copies:
        original = s.originals[i]
        for earlier, later in ((original, copy), (copy, original)):
            found = suspicions(DedupIndex([indexed("E", earlier)]), later)
            caught += [x.duplicate_of for x in found] == ["E"]
            if kind not in ("exact", "png"):
                worst = max(worst, region_distance(earlier, later))
    recall = caught / (2 * len(s.copies))
    assert recall >= 1.0, recall
    assert worst <= 11, worst  # measured 9; 11 in the survey, 3 below REGION_THRESHOLD


def test_hard_negatives_recaptures_and_other_originals_are_not_flagged() -> None:
    """Measured: 12 originals, 24 other lesions with the same category, skin type and
    artefacts, and 12 recaptures of the same lesions (48 photographs, 1,128 pairs, 28 of
    them pHash candidates): none flagged; the nearest candidate is at region distance 33
    (over the full cohort's 6,539 distinct candidates: 18)."""
    s = sample()
    distinct = (
        [(i, f) for i, f in enumerate(s.originals)] + s.negatives + s.recaptures
    )  # any two of these are different photographs
    index = DedupIndex()
    flagged = 0
    nearest = 192
    for n, (_, f) in enumerate(distinct):
        flagged += len(suspicions(index, f))
        for near in index.candidates(f.phash, duplicates.DEFAULT_THRESHOLD, f.region_probe):
            assert near.region_distance is not None
            nearest = min(nearest, near.region_distance)
        index.add(indexed(f"D{n}", f))
    assert flagged == 0
    assert nearest >= 18, nearest  # measured 33 here, 18 on the full cohort


def test_precision_and_recall_on_a_mixed_capture_stream() -> None:
    """Originals, then copies, negatives and recaptures, captured in one stream as the
    ledger does. Measured: recall 1.00 (108/108), precision 1.00 (no distinct image
    flagged); the cohort figures are 18/18 and 1.00."""
    s = sample()
    stream = [(f"O{i}", i, f) for i, f in enumerate(s.originals)]
    stream += [(f"C{n}", i, f) for n, (i, _, f) in enumerate(s.copies)]
    stream += [(f"N{n}", -1, f) for n, (_, f) in enumerate(s.negatives + s.recaptures)]
    source = {name: i for name, i, _ in stream}
    index = DedupIndex()
    true_flags = false_flags = copies_found = 0
    for name, i, f in stream:
        found = suspicions(index, f)
        same = [x for x in found if i >= 0 and source[x.duplicate_of] == i]
        true_flags += len(same)
        false_flags += len(found) - len(same)
        copies_found += name.startswith("C") and bool(same)
        index.add(indexed(name, f))
    recall = copies_found / len(s.copies)
    precision = true_flags / (true_flags + false_flags)
    assert recall >= 1.0, recall
    assert precision >= 1.0, precision


def test_same_capture_negatives_are_a_known_limit() -> None:
    """`hard_negatives(same_capture=True)` shares framing, skin, noise, light and hair
    with the original: only the lesion differs, so the frame's centre is nearly the same
    picture. No global hash separates these, version 1 did not either; they do not
    occur in practice (two captures never share sensor noise). Measured on this
    sample's 12: v2 flags 6, v1 flags 10; on 120 such pairs (60 originals): v2 54, v1 106."""
    s = sample()
    v2 = v1 = 0
    for i, f in s.same_setup:
        original = s.originals[i]
        v2 += bool(suspicions(DedupIndex([indexed("O", original)]), f))
        v1 += bool(suspicions(DedupIndex([indexed("O", original, region=False)]), f))
    assert v2 <= 6, v2
    assert v2 <= v1, (v2, v1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lossless_and_lossy_encodings_of_the_same_pixels_agree(seed: int) -> None:
    pixels = decode(image_bytes(ImageSpec(seed, seed + 100)))
    lossy, lossless = inspect_image(encode_jpeg(pixels, 75)), inspect_image(encode_png(pixels))
    # Measured 0-3 on seeds 0-5; the survey's re-encoded copies: at most 5.
    assert region_distance(lossy, lossless) <= 5 and region_distance(lossless, lossy) <= 5


def test_clearing_an_exact_copy_as_distinct_needs_the_override() -> None:
    """Issue 18 item 3: an exact copy is cleared as distinct only by an explicit override."""
    check_distinct = duplicates.check_distinct
    exact = [("IMG-A", "near"), ("IMG-B", "exact-bytes")]
    refused = check_distinct("IMG-C", exact, override_exact=False)
    assert not refused.allowed
    assert (refused.policy, refused.version) == ("duplicate-resolution", "1")
    assert "exact-bytes copy of IMG-B" in refused.reason and "--override-exact" in refused.reason
    assert not check_distinct("IMG-C", [("IMG-B", "exact-pixels")], override_exact=False).allowed
    assert check_distinct("IMG-C", exact, override_exact=True).allowed
    assert check_distinct("IMG-C", [("IMG-A", "near")], override_exact=False).allowed
    needless = check_distinct("IMG-C", [("IMG-A", "near")], override_exact=True)
    assert not needless.allowed and "does not apply" in needless.reason
