"""What the read and judgement commands tell a coordinator (issue 18), run as a user would.

A small study is built through the command line; each test checks one promise: the
dataset shows consent and the release gate an image would fail, "included" means one
thing everywhere, an ordered histology is awaited and listed, a vote and a histology
say what they changed, and values and identifiers print whole at 80 columns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermledger.commands.main import app
from dermledger.synthetic.images import blur, draw_image, encode_jpeg

PASS = "views test passphrase"
TEAM = {"ann": "annotator", "sam": "specialist", "sue": "specialist", "sid": "specialist",
        "pat": "pathologist"}  # fmt: skip
SITE = ("--dermoscopic-type", "contact polarized", "--anatom-site", "Trunk:Posterior trunk")
NEVUS, MEL, BKL = "Nevus, NOS, Compound", "Melanoma Invasive", "Solar lentigo"
REPR = re.compile(r"\bNone\b|\bTrue\b|\bFalse\b|\[\]|\{\}|\['|\{'|\(\d+, \d+\)")


def run(*args: str):
    return CliRunner().invoke(app, ["--quiet", *args])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ledger with a team and two consenting patients, made through the CLI."""
    home = tmp_path / "home"
    for key, value in {"DERMLEDGER_HOME": str(home), "DERMLEDGER_PASSPHRASE": PASS,
                       "DERMLEDGER_NEW_PASSPHRASE": PASS, "DERMLEDGER_KDF_LOG2_N": "10",
                       "COLUMNS": "80"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    for key in ("DERMLEDGER_DB", "DERMLEDGER_ACTOR"):
        monkeypatch.delenv(key, raising=False)
    ok(run("init", "--founder", "ada-coordinator"))
    for name, role in TEAM.items():
        ok(run("--as", "ada-coordinator", "actor", "add", f"dr-{name}-{role}", "--role", role))
    form = tmp_path / "consent.pdf"
    form.write_bytes(b"signed consent form")
    for patient in ("P0001", "P0002"):
        ok(as_("patient", "register", patient, "--age", "38", "--sex", "female"))
        ok(as_("consent", "record", patient, "--scope", "study", "--document", str(form)))
    return home


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def as_(*args: str, who: str = "ada-coordinator"):
    actor = who if who == "ada-coordinator" else f"dr-{who}-{TEAM[who]}"
    return run("--as", actor, *args)


def image_file(folder: Path, seed: int, *, blurred: bool = False) -> Path:
    pixels = draw_image(seed)
    path = folder / f"lesion-{seed}.jpg"
    path.write_bytes(encode_jpeg(blur(pixels, 6) if blurred else pixels))
    return path


def capture(home: Path, seed: int, patient: str = "P0001", *extra: str) -> str:
    path = image_file(home.parent, seed)
    result = ok(as_("capture", str(path), "--patient", patient, "--lesion", f"L{seed}", *SITE,
                    *extra, "--json"))  # fmt: skip
    return json.loads(result.stdout)[0]["image_id"]


def dataset(*args: str) -> dict[str, dict]:
    return {r["image_id"]: r for r in json.loads(ok(run("dataset", "--json", *args)).stdout)}


def votes(image: str, *diagnoses: str) -> list:
    return [as_("vote", image, "--diagnosis", d, who=r)
            for r, d in zip(("sam", "sue", "sid"), diagnoses, strict=True)]  # fmt: skip


def log_size() -> int:
    return json.loads(ok(run("audit", "verify", "--json")).stdout)["events"]


def test_dataset_shows_consent_and_the_release_gate_it_would_fail(home: Path) -> None:
    image = capture(home, 1, "P0002")
    ok(as_("consent", "withdraw", "P0002", "--reason", "patient request"))
    row = dataset()[image]
    assert row["consent"] == "withdrawn" and row["release_gate_failed"] == "consent-in-force"
    table = ok(run("dataset")).stdout
    assert "withdrawn" in table and "fails consent-in-force" in table
    shown = ok(run("show", image)).stdout
    assert "consent: withdrawn" in shown and "release_gate_failed: consent-in-force" in shown


def test_dataset_json_has_flat_verification_fields_like_metadata_csv(home: Path) -> None:
    image = capture(home, 2)
    ok(as_("annotate", image, "--diagnosis", NEVUS, who="ann"))
    row = dataset()[image]
    assert "verification" not in row
    assert row["verification_stage"] == "clinical" and row["category"] == "NV"
    assert row["release_gate_failed"] == "verified-by-consensus"


def test_stats_and_dataset_share_one_meaning_of_included(home: Path) -> None:
    first = capture(home, 3)
    capture(home, 4)
    copy = capture(home, 3, "P0001", "--device", "second phone")  # the same bytes again
    then = str(log_size())
    rows = dataset()
    assert rows[copy]["status"] == "duplicate-suspected"
    for as_of in ((), ("--as-of", then)):
        listed = dataset(*as_of)
        stats = json.loads(ok(run("stats", "--json", *as_of)).stdout)
        included = sum(r["status"] == "included" for r in listed.values())
        assert (stats["included"], stats["duplicate_suspected"]) == (included, 1) == (2, 1)
        assert sum(stats["stages"].values()) == included
    ok(as_("duplicates", "resolve", copy, "--duplicate-of", first, "--reason", "same file"))
    assert json.loads(ok(run("stats", "--json", "--as-of", then)).stdout)["included"] == 2
    assert json.loads(ok(run("stats", "--json")).stdout)["excluded"] == 1


def test_ordered_histology_is_awaited_listed_and_a_compliance_rule(home: Path) -> None:
    image = capture(home, 5)
    other = capture(home, 6)
    ok(as_("annotate", image, "--diagnosis", NEVUS, who="ann"))
    assert "Disputed" in votes(image, NEVUS, BKL, "Dermatofibroma")[-1].output
    ok(as_("order", image, "--histology", "--reason", "three-way split"))
    assert "histology_awaited: yes" in ok(run("show", image)).stdout
    waiting = json.loads(ok(run("dataset", "--awaiting", "histology", "--json")).stdout)
    assert [r["image_id"] for r in waiting] == [image] and other not in str(waiting)
    assert image in ok(run("dataset", "--awaiting", "histology")).stdout
    report = json.loads(run("audit", "compliance", "--json").stdout)
    assert {b["rule"]: b["subjects"] for b in report["breaches"]}[
        "histology-order-unfulfilled"
    ] == [image]
    ok(as_("histology", image, "--diagnosis", NEVUS, "--report", "PATH-1", who="pat"))
    assert run("dataset", "--awaiting", "histology", "--json").stdout.strip() == "[]"
    assert "histology_awaited: no" in ok(run("show", image)).stdout
    assert ok(run("audit", "compliance")).exit_code == 0


def test_third_vote_says_consensus_and_histology_says_discordant(home: Path) -> None:
    image = capture(home, 7)
    ok(as_("annotate", image, "--diagnosis", NEVUS, who="ann"))
    said = votes(image, NEVUS, NEVUS, MEL)
    assert "Consensus pending: 1 of 3 votes in" in said[0].output
    assert "Consensus reached: NV (2/3 votes)" in said[2].output
    result = ok(as_("histology", image, "--diagnosis", MEL, "--report", "PATH-2", who="pat"))
    assert "Discordant: histology says MEL, the consensus said NV (2/3)" in result.output


def test_dry_run_does_not_say_published(home: Path, tmp_path: Path) -> None:
    capture(home, 8)
    result = ok(as_("release", "create", "v1", "--out", str(tmp_path / "v1"), "--dry-run"))
    assert "Published" not in result.output and "nothing published" in result.output
    assert ok(run("release", "list", "--json")).stdout.strip() == "[]"


def test_as_of_outside_the_log_is_one_clear_sentence(home: Path) -> None:
    size = log_size()
    zero = run("dataset", "--as-of", "0")
    assert zero.exit_code == 1
    assert f"position 0 is before the first event: the log runs from seq 1 to seq {size}" in (
        zero.output
    )
    beyond = run("stats", "--as-of", str(size + 5))
    assert beyond.exit_code == 1 and "after the newest event" in beyond.output
    bad = run("show", "IMG-x", "--as-of", "yesterday")
    assert bad.exit_code == 1 and "neither a seq number nor an ISO time" in bad.output
    assert "(1..0)" not in zero.output + beyond.output


def test_show_lists_sop_deviations_with_rule_measure_and_reason(home: Path) -> None:
    path = image_file(home.parent, 9, blurred=True)
    result = ok(
        as_(
            "capture",
            str(path),
            "--patient",
            "P0001",
            "--lesion",
            "L9",
            *SITE,
            "--override-sop",
            "--reason",
            "patient could not hold still",
            "--json",
        )
    )
    image = json.loads(result.stdout)[0]["image_id"]
    deviation = dataset()[image]["sop_deviations"][0]
    assert deviation["rule"] and deviation["measured"]
    assert deviation["reason"] == "patient could not hold still"
    shown = ok(run("show", image)).stdout
    assert (
        f"SOP deviation {deviation['rule']}: measured {deviation['measured']}; "
        "reason: patient could not hold still" in shown
    )


def test_no_python_reprs_and_whole_identifiers_at_80_columns(home: Path) -> None:
    image = capture(home, 10)
    ok(as_("annotate", image, "--diagnosis", NEVUS, "--structure", "pigment_network=typical",
           who="ann"))  # fmt: skip
    votes(image, NEVUS, NEVUS, NEVUS)
    ok(as_("checkpoint"))
    outputs = {
        "show": ok(run("show", image)).stdout,
        "patient show": ok(run("patient", "show", "P0001")).stdout,
        "dataset": ok(run("dataset")).stdout,
        "actor list": ok(run("actor", "list")).stdout,
        "trail": ok(run("audit", "trail", image)).stdout,
        "stats": ok(run("stats")).stdout,
        "duplicates": ok(run("duplicates", "list", "--all")).stdout,
    }
    for name, text in outputs.items():
        assert not REPR.search(text), (name, REPR.search(text))
        assert "…" not in text, name
        assert max(map(len, text.splitlines())) <= 80, name
    for name in ("show", "dataset", "trail"):
        assert image in outputs[name], name
    for actor in ("ada-coordinator", "dr-ann-annotator", "dr-sam-specialist"):
        assert actor in outputs["actor list"] and actor in outputs["trail"], actor
    assert "dr-sid-specialist" in outputs["show"]
    trail = outputs["trail"]
    assert "meaning" in trail and "consensus reader 3 of 3" in trail
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", trail)


def test_capture_takes_several_files_with_one_result_line_each(home: Path) -> None:
    good = [image_file(home.parent, seed) for seed in (11, 12)]
    bad = home.parent / "notes.jpg"
    bad.write_text("not an image")
    before = log_size()
    result = as_("capture", str(good[0]), str(bad), str(good[1]), "--patient", "P0001",
                 "--lesion", "L11", *SITE)  # fmt: skip
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert re.fullmatch(r"lesion-11\.jpg: captured as IMG-[0-9a-f]{16}", lines[0])
    assert lines[1].startswith("notes.jpg: not captured: ")
    assert re.fullmatch(r"lesion-12\.jpg: captured as IMG-[0-9a-f]{16}", lines[2])
    assert "1 of 3 files were not captured" in result.output
    assert log_size() == before + 2
    edit = ok(as_("metadata", "set", lines[0].split()[-1], "clin_size_long_diam_mm", "4.5",
                  "--reason", "remeasured"))  # fmt: skip
    assert edit.output.endswith("clin_size_long_diam_mm: - -> 4.5\n")


def test_audit_trail_at_160_columns_is_a_table_with_whole_times(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = capture(home, 13)
    ok(as_("annotate", image, "--diagnosis", NEVUS, who="ann"))
    ok(as_("metadata", "set", image, "anatom_site", "Head and neck:Head", "--reason", "typo"))
    monkeypatch.setenv("COLUMNS", "160")
    trail = ok(run("audit", "trail", image)).stdout
    assert "┃ meaning" in trail and "MetadataEdited" in trail
    rows = [line for line in trail.splitlines() if image in line]
    assert len(rows) == 3
    for row in rows:
        assert re.search(r"│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC │", row), row


def test_an_exact_copy_is_cleared_as_distinct_only_with_the_override(home: Path) -> None:
    """Issue 18 item 3, at the command line."""
    first = capture(home, 21)
    copy = capture(home, 21, "P0001", "--device", "second phone")  # the same bytes again
    refused = as_("duplicates", "resolve", copy, "--distinct", "--reason", "looks different")
    assert refused.exit_code == 1 and "--override-exact" in refused.output
    assert "Traceback" not in refused.output
    ok(as_("duplicates", "resolve", copy, "--distinct", "--override-exact", "--reason",
           "two sessions, same file"))  # fmt: skip
    report = json.loads(run("audit", "compliance", "--json").stdout)
    subjects = {b["rule"]: b["subjects"] for b in report["breaches"]}
    assert subjects["included-exact-copy"] == [f"{copy} (copy of {first})"]


def test_histology_dated_in_the_future_is_refused_in_one_sentence(home: Path) -> None:
    """Issue 18 item 6, at the command line."""
    image = capture(home, 22)
    refused = as_("histology", image, "--diagnosis", NEVUS, "--report", "PATH-7",
                  "--date", "2030-01-01", who="pat")  # fmt: skip
    assert refused.exit_code == 1 and "2030-01-01 is after today" in refused.output
    assert "Traceback" not in refused.output and len(refused.output.strip().splitlines()) == 1


def test_annotation_and_histology_are_corrected_with_a_reason(home: Path) -> None:
    """Issue 18 item 6: `--correct --reason`; the old diagnosis stays in the audit trail."""
    image = capture(home, 23)
    ok(as_("annotate", image, "--diagnosis", MEL, who="ann"))
    assert as_("annotate", image, "--diagnosis", NEVUS, "--correct", who="ann").exit_code == 1
    said = ok(as_("annotate", image, "--diagnosis", NEVUS, "--correct", "--reason",
                  "wrong image", who="ann")).output  # fmt: skip
    assert "Corrected the annotation" in said
    ok(as_("histology", image, "--diagnosis", NEVUS, "--report", "PATH-8", who="pat"))
    ok(as_("histology", image, "--diagnosis", BKL, "--correct", "--reason", "slide mix-up",
           who="pat"))  # fmt: skip
    assert dataset()[image]["category"] == "BKL"
    trail = json.loads(ok(run("audit", "trail", image, "--json")).stdout)
    corrected = [(r["old_value"].rsplit(":", 1)[-1], r["new_value"].rsplit(":", 1)[-1])
                 for r in trail if r["old_value"]]  # fmt: skip
    assert corrected == [(MEL, NEVUS), (NEVUS, BKL)]
