"""The information model: field parsing, record rules, and ISIC published notation."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from isic_metadata import AnatomSiteEnum, DiagnosisEnum, MetadataRow
from pydantic import ValidationError

from dermledger.ledger.errors import InvalidInput, PolicyViolation
from dermledger.policies.metadata_schema import (
    FIELDS,
    ISIC_METADATA_PIN,
    POLICY,
    PUBLISHED_COLUMNS,
    ImageRecord,
    age_approx,
    check_editable,
    parse_label,
    to_isic_input,
    to_isic_published,
    validate_field,
    validate_record,
)

UNTRIMMED = (
    " has leading or trailing spaces, tabs or line breaks; give the identifier exactly, "
    "without them (the value is not repeated here)"
)

NEVUS = "Benign:Benign melanocytic proliferations:Nevus"
MIS = "Malignant:Malignant melanocytic proliferations (Melanoma):Melanoma in situ"
CHEEK = "Head and neck:Head:Face:Cheek"

FULL = {
    "patient_id": "P001",
    "age": "38",
    "sex": "female",
    "fitzpatrick_skin_type": "II",
    "personal_hx_mm": "false",
    "family_hx_mm": "true",
    "lesion_id": "P001-L1",
    "anatom_site": "Cheek",
    "clin_size_long_diam_mm": "6.5",
    "image_type": "dermoscopic",
    "dermoscopic_type": "contact polarized",
    "acquisition_day": "0",
    "diagnosis": "Melanoma in situ",
    "diagnosis_confirm_type": "histopathology",
    "melanocytic": "true",
    "verification_stage": "histology",
}


def message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


# --- the sixteen fields ----------------------------------------------------------------


def test_policy_and_pin() -> None:
    assert POLICY == ("metadata-schema", "1")
    # A different isic-metadata may change labels or rules: review this module first.
    assert version("isic-metadata") == ISIC_METADATA_PIN


def test_sixteen_fields_in_six_blocks_in_order() -> None:
    assert list(FIELDS) == list(ImageRecord.model_fields) == list(FULL)
    blocks = [spec.block for spec in FIELDS.values()]
    assert list(dict.fromkeys(blocks)) == [
        "Patient",
        "Phenotype and history",
        "Lesion",
        "Acquisition",
        "Diagnosis",
        "Verification",
    ]
    assert [name for name, spec in FIELDS.items() if spec.isic_name is None] == [
        "verification_stage"
    ]
    assert all(spec.isic_name in (None, name) for name, spec in FIELDS.items())


def test_fields_isic_knows_are_fields_of_isics_model() -> None:
    for spec in FIELDS.values():
        if spec.isic_name:
            assert spec.isic_name in MetadataRow.model_fields


def test_which_fields_metadata_set_may_change() -> None:
    locked = {name for name, spec in FIELDS.items() if not spec.editable}
    assert locked == {
        "patient_id",
        "diagnosis",
        "diagnosis_confirm_type",
        "melanocytic",
        "verification_stage",
    }
    assert check_editable("age") is FIELDS["age"]


def test_check_editable_refuses_derived_fields_by_policy() -> None:
    with pytest.raises(PolicyViolation, match="diagnosis cannot be changed") as excinfo:
        check_editable("diagnosis")
    assert (excinfo.value.policy, excinfo.value.version) == POLICY
    with pytest.raises(InvalidInput, match="did you mean 'age'"):
        check_editable("agee")


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("patient_id", "P001", "P001"),
        ("patient_id", "p_01.a-b", "p_01.a-b"),
        ("age", "0", 0),
        ("age", "38", 38),
        ("age", "90", 90),  # ISIC would clamp this to 85; we keep the real age
        ("age", "120", 120),
        ("sex", "female", "female"),
        ("sex", "Male", "male"),  # ISIC lowercases sex
        ("fitzpatrick_skin_type", "IV", "IV"),
        ("personal_hx_mm", "true", True),
        ("personal_hx_mm", "no", False),
        ("family_hx_mm", "False", False),
        ("lesion_id", "L7", "L7"),
        ("anatom_site", "Cheek", CHEEK),
        ("anatom_site", CHEEK, CHEEK),
        ("anatom_site", "Head and neck", "Head and neck"),
        ("clin_size_long_diam_mm", "6.5", 6.5),
        ("clin_size_long_diam_mm", "0.5cm", 5.0),  # ISIC converts units to mm
        ("clin_size_long_diam_mm", "200", 200.0),
        ("image_type", "dermoscopic", "dermoscopic"),
        ("image_type", "clinical: close-up", "clinical: close-up"),
        ("dermoscopic_type", "non-contact polarized", "non-contact polarized"),
        ("acquisition_day", "0", 0),
        ("acquisition_day", "365", 365),
        ("diagnosis", "Nevus", NEVUS),
        ("diagnosis", MIS, MIS),
        (
            "diagnosis_confirm_type",
            "single image expert consensus",
            "single image expert consensus",
        ),
        ("diagnosis_confirm_type", "Histopathology", "histopathology"),
        ("melanocytic", "1", True),
        ("verification_stage", "consensus", "consensus"),
        ("sex", "", None),  # empty clears an optional field
        ("anatom_site", "  ", None),
    ],
)
def test_good_values(field: str, text: str, expected: object) -> None:
    value = validate_field(field, text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("age", "200", "age 200 is out of range (0\u2013120)"),
        ("age", "-1", "age -1 is out of range (0\u2013120)"),
        ("age", "abc", "age 'abc' is not a whole number of years"),
        ("age", "45.5", "age 45.5 is not a whole number of years"),
        ("age", "85+", "age '85+' is not a whole number of years"),
        ("sex", "mael", "sex 'mael' is not one of 'male' or 'female' (did you mean 'male'?)"),
        (
            "fitzpatrick_skin_type",
            "iv",
            "fitzpatrick_skin_type 'iv' is not one of 'I', 'II', 'III', 'IV', 'V' or 'VI' "
            "(did you mean 'IV'?)",
        ),
        ("personal_hx_mm", "maybe", "personal_hx_mm 'maybe' is not true or false"),
        ("family_hx_mm", "2", "family_hx_mm 2 is not true or false"),
        ("melanocytic", "unknown", "melanocytic 'unknown' is not true or false"),
        (
            "clin_size_long_diam_mm",
            "0",
            "clin_size_long_diam_mm 0 is out of range (more than 0 and at most 200 mm)",
        ),
        (
            "clin_size_long_diam_mm",
            "200.5",
            "clin_size_long_diam_mm 200.5 is out of range (more than 0 and at most 200 mm)",
        ),
        (
            "clin_size_long_diam_mm",
            "1500",
            "clin_size_long_diam_mm 1500 is out of range (more than 0 and at most 200 mm)",
        ),
        (
            "clin_size_long_diam_mm",
            "-2",
            "clin_size_long_diam_mm -2 is out of range (more than 0 and at most 200 mm)",
        ),
        (
            "clin_size_long_diam_mm",
            "5.123",
            "clin_size_long_diam_mm 5.123 has more than 2 decimal places",
        ),
        (
            "clin_size_long_diam_mm",
            "big",
            "clin_size_long_diam_mm 'big' is not a number of millimetres",
        ),
        ("acquisition_day", "-1", "acquisition_day -1 is out of range (0 or more)"),
        ("acquisition_day", "day 3", "acquisition_day 'day 3' is not a whole number of days"),
        ("lesion_id", "", "lesion_id is empty"),
        ("patient_id", "  ", "patient_id is empty"),
        ("patient_id", " p_01.a-b ", "patient_id" + UNTRIMMED),
        ("lesion_id", "L1\t", "lesion_id" + UNTRIMMED),
    ],
)
def test_bad_values_name_the_field_and_the_value(field: str, text: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_field(field, text)
    assert message(excinfo) == expected


@pytest.mark.parametrize(
    ("field", "text", "suggestion"),
    [
        ("sex", "femal", "'female'"),
        ("image_type", "Dermoscopic", "'dermoscopic'"),
        ("image_type", "clinical close-up", "'clinical: close-up'"),
        ("dermoscopic_type", "polarised", "'contact polarized'"),
        ("diagnosis_confirm_type", "histopathologie", "'histopathology'"),
        ("verification_stage", "histo", "'histology'"),
        ("fitzpatrick_skin_type", "ii", "'II'"),
    ],
)
def test_bad_enums_suggest_the_closest_value(field: str, text: str, suggestion: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_field(field, text)
    assert message(excinfo).startswith(f"{field} {text!r} is not one of ")
    assert message(excinfo).endswith(f"(did you mean {suggestion}?)")


def test_unknown_anatom_site_carries_isics_suggestions() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_field("anatom_site", "Cheeck")
    assert message(excinfo) == (
        "anatom_site 'Cheeck' is not an ISIC anatomic site label "
        "(did you mean 'Cheek', 'Neck' or 'Heel'?)"
    )


def test_unknown_anatom_site_without_anything_close() -> None:
    with pytest.raises(InvalidInput, match="'xyzzy' is not an ISIC anatomic site label, and none"):
        validate_field("anatom_site", "xyzzy")


def test_unknown_diagnosis_carries_isics_suggestions() -> None:
    # "Melanoma" alone is not an ISIC terminal value, which people will try first.
    with pytest.raises(InvalidInput) as excinfo:
        validate_field("diagnosis", "Melanoma")
    assert message(excinfo) == (
        "diagnosis 'Melanoma' is not an ISIC diagnosis label "
        "(did you mean 'Melanoma, NOS', 'Melanoacanthoma' or 'Melanoma in situ'?)"
    )


def test_a_rejected_pseudonym_is_not_echoed() -> None:
    for field in ("patient_id", "lesion_id"):
        for text in ("Jane Doe", "=cmd()", "_x", "a" * 65, "P/1"):
            with pytest.raises(InvalidInput, match=f"^{field} is not a valid pseudonym") as exc:
                validate_field(field, text)
            assert text not in message(exc)


def test_unknown_field_is_refused_with_a_suggestion() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_field("anatom_sit", "Cheek")
    assert message(excinfo) == (
        "'anatom_sit' is not one of the 16 metadata fields (did you mean 'anatom_site'?)"
    )


def test_true_is_not_an_age() -> None:
    # pydantic, and so ISIC, would read True as the age 1.
    with pytest.raises(InvalidInput, match="true/false value, not a number"):
        validate_field("age", True)  # type: ignore[arg-type]


def test_an_unhashable_value_is_refused_not_crashed_on() -> None:
    # isic-metadata's cached label lookup raises TypeError for unhashable values.
    with pytest.raises(InvalidInput, match="neither text nor a number"):
        validate_field("diagnosis", ["Nevus"])  # type: ignore[arg-type]


# --- labels ----------------------------------------------------------------------------


def test_parse_label_accepts_terminal_values_and_full_labels() -> None:
    assert parse_label("diagnosis", "Nevus") == NEVUS
    assert parse_label("diagnosis", f" {MIS} ") == MIS
    assert parse_label("anatom_site", "Cheek") == CHEEK
    assert parse_label("anatom_site", "Scalp") == "Head and neck:Head:Scalp"


def test_parse_label_is_as_exact_as_isic() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        parse_label("diagnosis", "melanoma in situ")
    assert message(excinfo) == (
        "diagnosis 'melanoma in situ' is not an ISIC diagnosis label "
        "(did you mean 'Melanoma in situ', 'Melanoma Invasive' or 'Melanoma in situ, Mucosal'?)"
    )


def test_parse_label_suggests_full_paths_for_a_wrong_path() -> None:
    with pytest.raises(InvalidInput, match="did you mean 'Head and neck:Head'"):
        parse_label("anatom_site", "Head and neck:Hed")


def test_parse_label_refuses_an_unknown_kind_and_an_empty_value() -> None:
    with pytest.raises(InvalidInput, match="not a label kind"):
        parse_label("site", "Cheek")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"^diagnosis is empty$"):
        parse_label("diagnosis", " ")


def test_every_isic_label_parses_to_itself() -> None:
    for enum, kind in ((DiagnosisEnum, "diagnosis"), (AnatomSiteEnum, "anatom_site")):
        for member in enum:
            assert parse_label(kind, member.value) == member.value  # type: ignore[arg-type]
            assert parse_label(kind, member.value.split(":")[-1]) == member.value  # type: ignore[arg-type]


# --- the record ------------------------------------------------------------------------


def test_a_full_record_from_text() -> None:
    record = validate_record(FULL)
    assert record.model_dump() == {
        "patient_id": "P001",
        "age": 38,
        "sex": "female",
        "fitzpatrick_skin_type": "II",
        "personal_hx_mm": False,
        "family_hx_mm": True,
        "lesion_id": "P001-L1",
        "anatom_site": CHEEK,
        "clin_size_long_diam_mm": 6.5,
        "image_type": "dermoscopic",
        "dermoscopic_type": "contact polarized",
        "acquisition_day": 0,
        "diagnosis": MIS,
        "diagnosis_confirm_type": "histopathology",
        "melanocytic": True,
        "verification_stage": "histology",
    }


def test_a_record_revalidates_from_its_own_dump() -> None:
    record = validate_record(FULL)
    assert ImageRecord.model_validate(record.model_dump()) == record
    assert validate_record(record.model_dump()) == record


def test_only_the_ids_are_required() -> None:
    record = validate_record({"patient_id": "P1", "lesion_id": "L1", "sex": ""})
    assert record.model_dump(exclude_none=True) == {"patient_id": "P1", "lesion_id": "L1"}
    with pytest.raises(InvalidInput, match=r"^lesion_id is required$"):
        validate_record({"patient_id": "P1"})
    with pytest.raises(InvalidInput, match=r"^patient_id is required$"):
        validate_record({"patient_id": None, "lesion_id": "L1"})


def test_a_record_is_immutable() -> None:
    record = validate_record(FULL)
    with pytest.raises(ValidationError):
        record.age = 40  # type: ignore[misc]


def test_every_field_problem_is_reported_in_one_sentence() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_record({**FULL, "age": "200", "sex": "x", "colour": "red"})
    assert message(excinfo) == (
        "3 problems: age 200 is out of range (0\u2013120); "
        "sex 'x' is not one of 'male' or 'female'; "
        "'colour' is not one of the 16 metadata fields"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"dermoscopic_type": ""},
            "dermoscopic_type is required when image_type is 'dermoscopic'",
        ),
        (
            {"image_type": "clinical: close-up"},
            "dermoscopic_type is only allowed when image_type is 'dermoscopic' "
            "(image_type is 'clinical: close-up')",
        ),
        (
            {"image_type": ""},
            "dermoscopic_type is only allowed when image_type is 'dermoscopic' "
            "(image_type is not set)",
        ),
        (
            {"melanocytic": "false"},
            "melanocytic false contradicts the diagnosis 'Melanoma in situ', which is melanocytic",
        ),
        (
            {"diagnosis": "Seborrheic keratosis", "melanocytic": "true"},
            "melanocytic true contradicts the diagnosis 'Seborrheic keratosis', "
            "which is not melanocytic",
        ),
        ({"diagnosis": ""}, "verification_stage needs a diagnosis"),
        (
            {"verification_stage": "", "diagnosis_confirm_type": ""},
            "diagnosis needs a verification_stage",
        ),
        (
            {"verification_stage": "consensus"},
            "diagnosis_confirm_type 'histopathology' does not match verification_stage "
            "'consensus' (expected 'single image expert consensus')",
        ),
    ],
)
def test_cross_field_rules(changes: dict[str, str], expected: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        validate_record({**FULL, **changes})
    assert message(excinfo) == expected


def test_cross_field_rules_allow_what_they_should() -> None:
    clinical = {**FULL, "image_type": "clinical: overview", "dermoscopic_type": ""}
    assert validate_record(clinical).dermoscopic_type is None
    unknown_flag = {**FULL, "diagnosis": "Benign", "melanocytic": "false"}
    assert validate_record(unknown_flag).melanocytic is False
    no_confirm_type = {**FULL, "verification_stage": "clinical", "diagnosis_confirm_type": ""}
    assert validate_record(no_confirm_type).verification_stage == "clinical"


def test_a_block_validates_on_its_own() -> None:
    from dermledger.policies.metadata_schema import AcquisitionBlock, PatientBlock

    assert PatientBlock(patient_id="P1", age="44").age == 44  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="dermoscopic_type is required"):
        AcquisitionBlock(image_type="dermoscopic")


# --- age_approx and ISIC published notation --------------------------------------------


@pytest.mark.parametrize(
    ("age", "expected"),
    [(0, 0), (2, 0), (3, 5), (12, 10), (13, 15), (38, 40), (82, 80), (83, 85), (90, 85), (120, 85)],
)
def test_age_approx(age: int, expected: int) -> None:
    assert age_approx(age) == expected


def test_age_approx_matches_isics_formula_on_isics_clamped_age() -> None:
    # The ISIC Archive: int(round(age / 5.0) * 5), after isic-metadata clamps age to 85.
    for age in range(121):
        isic_age = MetadataRow.model_validate({"age": age}).age
        assert isic_age is not None
        assert age_approx(age) == int(round(isic_age / 5.0) * 5)


def test_age_approx_refuses_what_is_not_an_age() -> None:
    for bad in (-1, True, 4.5):
        with pytest.raises(InvalidInput):
            age_approx(bad)  # type: ignore[arg-type]


def test_published_notation() -> None:
    published = to_isic_published(validate_record(FULL))
    assert tuple(published) == PUBLISHED_COLUMNS
    assert published == {
        "patient_id": "P001",
        "age_approx": 40,
        "sex": "female",
        "fitzpatrick_skin_type": "II",
        "personal_hx_mm": False,
        "family_hx_mm": True,
        "lesion_id": "P001-L1",
        "anatom_site_1": "Head and neck",
        "anatom_site_2": "Head",
        "anatom_site_3": "Face",
        "anatom_site_4": "Cheek",
        "anatom_site_5": None,
        "clin_size_long_diam_mm": 6.5,
        "image_type": "dermoscopic",
        "dermoscopic_type": "contact polarized",
        "acquisition_day": 0,
        "diagnosis_1": "Malignant",
        "diagnosis_2": "Malignant melanocytic proliferations (Melanoma)",
        "diagnosis_3": "Melanoma in situ",
        "diagnosis_4": None,
        "diagnosis_5": None,
        "diagnosis_confirm_type": "histopathology",
        "melanocytic": True,
    }


def test_published_notation_of_a_sparse_record_has_every_column() -> None:
    published = to_isic_published(validate_record({"patient_id": "P1", "lesion_id": "L1"}))
    assert tuple(published) == PUBLISHED_COLUMNS
    assert {k: v for k, v in published.items() if v is not None} == {
        "patient_id": "P1",
        "lesion_id": "L1",
    }


def test_published_to_input_round_trip_validates_with_isic() -> None:
    record = validate_record({**FULL, "age": "83"})
    published = to_isic_published(record)
    isic_input = to_isic_input(published)
    assert isic_input["diagnosis"] == MIS
    assert isic_input["anatom_site"] == CHEEK
    assert isic_input["age"] == 85
    row = MetadataRow.model_validate(dict(isic_input))
    assert row.model_dump(include={f"diagnosis_{i}" for i in range(1, 6)}) == {
        f"diagnosis_{i}": published[f"diagnosis_{i}"] for i in range(1, 6)
    }
    assert row.model_dump(include={f"anatom_site_{i}" for i in range(1, 6)}) == {
        f"anatom_site_{i}": published[f"anatom_site_{i}"] for i in range(1, 6)
    }


def test_round_trip_through_csv_text() -> None:
    # What a release verifier does: read metadata.csv back as text and check it with ISIC.
    published = to_isic_published(validate_record(FULL))
    as_text = {column: "" if value is None else str(value) for column, value in published.items()}
    as_text |= {"image_id": "img-1", "category": "MEL", "verification_stage": "histology"}
    isic_input = to_isic_input(as_text)
    assert "image_id" not in isic_input and "verification_stage" not in isic_input
    row = MetadataRow.model_validate(dict(isic_input))
    assert row.diagnosis == MIS and row.anatom_site == CHEEK and row.age == 40
    assert row.unstructured == {}


def test_every_label_survives_the_round_trip() -> None:
    for label in DiagnosisEnum:
        record = validate_record(
            {"patient_id": "P1", "lesion_id": "L1", "diagnosis": label.value}
            | {"verification_stage": "clinical"}
        )
        assert (
            MetadataRow.model_validate(to_isic_input(to_isic_published(record))).diagnosis == label
        )
    for site in AnatomSiteEnum:
        record = validate_record({"patient_id": "P1", "lesion_id": "L1", "anatom_site": site.value})
        assert (
            MetadataRow.model_validate(to_isic_input(to_isic_published(record))).anatom_site == site
        )


def test_a_gap_in_published_levels_is_rejected_by_isic() -> None:
    published = to_isic_published(validate_record(FULL)) | {"diagnosis_2": None}
    with pytest.raises(ValidationError, match="Unknown diagnosis"):
        MetadataRow.model_validate(to_isic_input(published))


def test_parsed_values_are_reused_only_for_the_very_same_value() -> None:
    """`parse_value` caches per (field, type, value): a cached answer is exactly the fresh
    one, equal-but-different values (1 and 1.0 and True, 0.0 and -0.0, Decimals with more
    places) are parsed on their own, and a refused value is refused every time."""
    from decimal import Decimal

    from dermledger.policies.metadata_values import FieldProblem, _checked_value, parse_value

    cases = [
        ("clin_size_long_diam_mm", v)
        for v in ("4.5", 4.5, 4, Decimal("4.5"), Decimal("4.500"), "0", 0.0, -0.0, float("nan"))
    ] + [("age", v) for v in ("38", 38, 38.0, "85+")] + [
        ("personal_hx_mm", v) for v in (True, "true", False, 1, 0)
    ]  # fmt: skip
    for _ in range(2):
        for field, value in cases:
            try:
                expected: object = _checked_value(field, value)
            except FieldProblem as problem:
                with pytest.raises(FieldProblem, match=re.escape(str(problem))):
                    parse_value(field, value)
                continue
            got = parse_value(field, value)
            assert (got, type(got)) == (expected, type(expected)), (field, value)
