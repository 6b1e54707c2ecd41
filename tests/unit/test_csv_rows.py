"""Bulk-import CSV validation: every problem at once, each with its spreadsheet row."""

from __future__ import annotations

import csv
import io

import pytest

from dermledger.policies.csv_rows import POLICY, RowsReport, validate_rows

KNOWN = {"P001", "P002"}
HEADER = "filename,patient_id,lesion_id,age,sex,anatom_site,image_type,dermoscopic_type,device"
CLEAN = f"""{HEADER}
img001.jpg,P001,P001-L1,38,female,Cheek,dermoscopic,contact polarized,DermLite DL4
batch2/img002.jpg,P002,P002-L1,90,male,Upper back,clinical: close-up,,
"""


def check(text: str, known: set[str] = KNOWN) -> RowsReport:
    """Parse CSV text the way the import command does, then validate it."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return validate_rows(list(reader.fieldnames or []), rows, known_patients=known)


def one_row(cells: dict[str, str], known: set[str] = KNOWN) -> RowsReport:
    base = {"filename": "img.jpg", "patient_id": "P001", "lesion_id": "L1"}
    row = base | cells
    return check(",".join(row) + "\n" + ",".join(row.values()) + "\n", known)


def test_policy_is_named_and_versioned() -> None:
    assert POLICY == ("import-csv", "1")


def test_a_clean_file() -> None:
    report = check(CLEAN)
    assert report.ok
    assert report.problems == []
    assert report.records == [
        {
            "filename": "img001.jpg",
            "patient_id": "P001",
            "lesion_id": "P001-L1",
            "age": 38,
            "sex": "female",
            "anatom_site": "Head and neck:Head:Face:Cheek",
            "image_type": "dermoscopic",
            "dermoscopic_type": "contact polarized",
            "device": "DermLite DL4",
        },
        {
            "filename": "batch2/img002.jpg",
            "patient_id": "P002",
            "lesion_id": "P002-L1",
            "age": 90,
            "sex": "male",
            "anatom_site": "Trunk:Posterior trunk:Upper back",
            "image_type": "clinical: close-up",
        },
    ]
    assert report.summary("metadata.csv") == "No problems in metadata.csv: 2 rows ready to import"


def test_every_isic_column_is_accepted() -> None:
    report = one_row(
        {
            "age": "61",
            "sex": "male",
            "fitzpatrick_skin_type": "III",
            "personal_hx_mm": "yes",
            "family_hx_mm": "no",
            "anatom_site": "Scalp",
            "clin_size_long_diam_mm": "4.5",
            "image_type": "dermoscopic",
            "dermoscopic_type": "contact non-polarized",
            "acquisition_day": "12",
            "device": "Handyscope",
        }
    )
    assert report.ok, report.problems
    assert report.records[0]["personal_hx_mm"] is True
    assert report.records[0]["clin_size_long_diam_mm"] == 4.5


def test_a_byte_order_mark_and_spaces_around_names_are_tolerated() -> None:
    assert check("\ufefffilename, patient_id ,lesion_id\nimg.jpg,P001,L1\n").ok


# --- the header ------------------------------------------------------------------------


def test_a_missing_required_column() -> None:
    report = check("filename,lesion_id\nimg.jpg,L1\n")
    assert report.problems == ["row 1 (header): required column 'patient_id' is missing"]
    assert report.records == []


def test_an_unknown_column_with_a_suggestion() -> None:
    report = one_row({"agee": "40"})
    assert report.problems == ["row 1 (header): unknown column 'agee' (did you mean 'age'?)"]


def test_an_unknown_column_without_anything_close() -> None:
    report = one_row({"colour": "red"})
    assert report.problems == ["row 1 (header): unknown column 'colour'"]


def test_the_diagnosis_is_not_imported() -> None:
    report = one_row({"diagnosis": "Nevus"})
    assert report.problems == [
        "row 1 (header): column 'diagnosis' cannot be imported: "
        "diagnoses are recorded with annotate, vote and histology"
    ]


def test_a_duplicated_or_nameless_column() -> None:
    report = check("filename,patient_id,lesion_id,age,age,\nimg.jpg,P001,L1,40,41,\n")
    assert report.problems == [
        "row 1 (header): column 'age' appears more than once",
        "row 1 (header): column 6 has no name",
    ]


def test_no_header_at_all() -> None:
    assert check("").problems == ["row 1 (header): the file has no header row"]


# --- values ----------------------------------------------------------------------------


def test_a_bad_enum_names_its_row_and_suggests() -> None:
    report = check(CLEAN + "img003.jpg,P001,P001-L2,40,mael,,,,\n")
    assert report.problems == [
        "row 4: sex 'mael' is not one of 'male' or 'female' (did you mean 'male'?)"
    ]
    assert len(report.records) == 2


def test_age_200() -> None:
    report = one_row({"age": "200"})
    assert report.problems == ["row 2: age 200 is out of range (0\u2013120)"]


def test_a_negative_number_is_out_of_range_not_a_formula() -> None:
    report = one_row({"age": "-5", "acquisition_day": "-1"})
    assert report.problems == [
        "row 2: age -5 is out of range (0\u2013120)",
        "row 2: acquisition_day -1 is out of range (0 or more)",
    ]


def test_an_unknown_anatom_site_suggests() -> None:
    report = one_row({"anatom_site": "Cheeck"})
    assert report.problems == [
        "row 2: anatom_site 'Cheeck' is not an ISIC anatomic site label "
        "(did you mean 'Cheek', 'Neck' or 'Heel'?)"
    ]


def test_every_bad_cell_of_a_row_is_reported() -> None:
    report = one_row({"age": "old", "sex": "x", "fitzpatrick_skin_type": "VII"})
    assert [problem.split(":")[0] for problem in report.problems] == ["row 2"] * 3


def test_cross_field_rules_apply_to_rows() -> None:
    report = one_row({"image_type": "dermoscopic"})
    assert report.problems == [
        "row 2: dermoscopic_type is required when image_type is 'dermoscopic'"
    ]


# --- formulas --------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
@pytest.mark.parametrize("column", ["patient_id", "lesion_id", "filename", "device", "sex"])
def test_a_formula_in_a_text_field(column: str, start: str) -> None:
    formula = f"{start}HYPERLINK(1)"
    report = one_row({column: formula})
    assert report.problems == [
        f"row 2: {column} looks like a spreadsheet formula (it starts with {start!r})"
    ]
    assert "HYPERLINK" not in report.summary()


@pytest.mark.parametrize("start", ["\t", "\r"])
def test_a_cell_starting_with_tab_or_carriage_return(start: str) -> None:
    report = check(f'filename,patient_id,lesion_id,device\nimg.jpg,P001,L1,"{start}x"\n')
    assert report.problems == [
        f"row 2: device looks like a spreadsheet formula (it starts with {start!r})"
    ]


def test_a_formula_behind_spaces_or_in_a_numeric_column() -> None:
    report = one_row({"device": " =1+1", "age": "=1+2"})
    assert report.problems == [
        "row 2: age looks like a spreadsheet formula (it starts with '=')",
        "row 2: device looks like a spreadsheet formula (it starts with '=')",
    ]


def test_hyphens_inside_values_are_fine() -> None:
    report = one_row({"patient_id": "P001", "lesion_id": "P001-L-1", "device": "DL4 - v2"})
    assert report.ok, report.problems


# --- filenames -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "problem"),
    [
        ("/etc/passwd", "filename is an absolute path; give it relative to the import folder"),
        (
            "\\\\server\\share\\x.jpg",
            "filename is an absolute path; give it relative to the import folder",
        ),
        (
            "C:\\images\\x.jpg",
            "filename is an absolute path; give it relative to the import folder",
        ),
        ("C:x.jpg", "filename is an absolute path; give it relative to the import folder"),
        ("../x.jpg", "filename contains '..'; it must stay inside the import folder"),
        ("a/../../x.jpg", "filename contains '..'; it must stay inside the import folder"),
        ("a\\x.jpg", "filename contains '\\'; separate subfolders with '/'"),
        ("a//x.jpg", "filename has an empty or '.' path segment"),
        ("./x.jpg", "filename has an empty or '.' path segment"),
        ("a/", "filename has an empty or '.' path segment"),
        ("x.jpg:stream", "filename contains ':'"),
        ("x\0.jpg", "filename contains a NUL character"),
        ("x\x1b.jpg", "filename contains a control character"),
        ("x.jpg ", "filename has leading or trailing spaces"),
        ("x" * 256, "filename is longer than 255 characters"),
    ],
)
def test_unsafe_filenames(filename: str, problem: str) -> None:
    rows = [{"filename": filename, "patient_id": "P001", "lesion_id": "L1"}]
    report = validate_rows(["filename", "patient_id", "lesion_id"], rows, known_patients=KNOWN)
    assert report.problems == [f"row 2: {problem}"]


def test_simple_subfolders_and_dots_in_names_are_fine() -> None:
    for filename in ("batch1/img.jpg", "a/b/c/img.v2.JPG", "img..jpg"):
        assert one_row({"filename": filename}).ok, filename


def test_the_same_filename_twice() -> None:
    report = check(CLEAN + "img001.jpg,P001,P001-L1,,,,,,\nIMG001.JPG,P001,P001-L1,,,,,,\n")
    assert report.problems == [
        "row 4: filename repeats row 2",
        "row 5: filename repeats row 2 (differing only in letter case)",
    ]


def test_an_empty_filename() -> None:
    report = one_row({"filename": ""})
    assert report.problems == ["row 2: filename is empty"]


# --- patients and lesions --------------------------------------------------------------


def test_an_unknown_patient() -> None:
    report = check(CLEAN, known={"P001"})
    assert report.problems == ["row 3: patient_id 'P002' is not a registered patient"]
    assert [record["filename"] for record in report.records] == ["img001.jpg"]


def test_a_name_in_place_of_a_pseudonym_is_not_repeated() -> None:
    report = one_row({"patient_id": "Jane Doe"})
    assert len(report.problems) == 1
    assert report.problems[0].startswith("row 2: patient_id is not a valid pseudonym")
    assert "Jane" not in report.summary()


def test_one_lesion_for_two_patients() -> None:
    report = check(CLEAN + "img003.jpg,P002,P001-L1,,,,,,\n")
    assert report.problems == [
        "row 4: lesion_id 'P001-L1' belongs to patient 'P001' on row 2, not 'P002'"
    ]


# --- row shape -------------------------------------------------------------------------


def test_rows_with_too_many_or_too_few_cells() -> None:
    text = "filename,patient_id,lesion_id,sex\nimg1.jpg,P001,L1,male,extra\nimg2.jpg,P001,L1\n"
    assert check(text).problems == [
        "row 2: it has more cells than the header has columns",
        "row 3: it has fewer cells than the header has columns",
    ]


def test_blank_rows_are_skipped_but_still_counted_in_row_numbers() -> None:
    report = check(f"{HEADER}\n,,,,,,,,\nimg.jpg,P001,L1,200,,,,,\n")
    assert report.problems == ["row 3: age 200 is out of range (0\u2013120)"]
    assert report.rows == 1


# --- the summary -----------------------------------------------------------------------


def test_summary_is_one_sentence_with_the_row_convention() -> None:
    report = check(CLEAN + "img003.jpg,P001,L2,200,,,,,\nimg004.jpg,P009,L3,,,,,,\n")
    assert report.summary("metadata.csv") == (
        "2 problems in metadata.csv (row 1 is the header): "
        "row 4: age 200 is out of range (0\u2013120); "
        "row 5: patient_id 'P009' is not a registered patient"
    )


def test_summary_lists_ten_problems_and_counts_the_rest() -> None:
    rows = "".join(f"img{i}.jpg,P001,L{i},200,,,,,\n" for i in range(13))
    report = check(f"{HEADER}\n{rows}")
    summary = report.summary("metadata.csv")
    assert summary.startswith("13 problems in metadata.csv (row 1 is the header): row 2: ")
    assert summary.count("out of range") == 10
    assert summary.endswith("; and 3 more")
