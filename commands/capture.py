"""Capture-side commands: patients, capture, import, metadata edits, duplicates, exclusion."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated, Any

import typer

from dermledger.commands.context import err, get, out, print_json, progress_bar, status
from dermledger.commands.options import Json
from dermledger.commands.output import Col, cell, emit
from dermledger.ledger.errors import DermLedgerError, InvalidInput
from dermledger.policies import csv_rows, personal_file
from dermledger.policies.personal_file import parse_personal_file
from dermledger.study.imaging import read_capped
from dermledger.study.imports import ImportRefused

MAX_CSV_BYTES = 64 * 1024 * 1024

patient_app = typer.Typer(
    help="Register patients by pseudonym and show their records.\n\n"
    "Example: dermledger --as ada patient register P0001 --age 38 --sex female",
    no_args_is_help=True,
)
duplicates_app = typer.Typer(
    help="Review suspected duplicates: list them, then resolve each.\n\n"
    "Example: dermledger duplicates list",
    no_args_is_help=True,
)
metadata_app = typer.Typer(
    help="Edit an image's metadata fields; the old value stays in the audit trail.\n\n"
    "Example: dermledger --as ada metadata set IMG-1a2b3c4d5e6f7a8b anatom_site "
    '"Head and neck:Head" --reason "site corrected"',
    no_args_is_help=True,
)

Reason = Annotated[str, typer.Option("--reason", help="Why, for the audit trail (required).")]


VISIBLE = (
    " Visible to every user of this machine while the command runs (process list) and kept"
    " in shell history: prefer --personal-from or --ask-personal."
)


@patient_app.command("register")
def register(
    ctx: typer.Context,
    pseudonym: Annotated[str, typer.Argument(help="The patient's study pseudonym, e.g. P0001.")],
    age: Annotated[str | None, typer.Option(help="Age in years.")] = None,
    sex: Annotated[str | None, typer.Option(help="male or female.")] = None,
    fitzpatrick: Annotated[str | None, typer.Option(help="Fitzpatrick skin type I-VI.")] = None,
    personal_hx_mm: Annotated[str | None, typer.Option(help="true or false.")] = None,
    family_hx_mm: Annotated[str | None, typer.Option(help="true or false.")] = None,
    personal_from: Annotated[
        str | None,
        typer.Option(
            "--personal-from",
            metavar="FILE",
            help="Personal data (encrypted) from FILE, or standard input for -: a JSON object "
            "or KEY=VALUE lines with keys name, record_number, birth_date.",
        ),
    ] = None,
    ask_personal: Annotated[
        bool,
        typer.Option("--ask-personal", help="Ask for the personal data (encrypted) at a prompt."),
    ] = False,
    name: Annotated[
        str | None, typer.Option(help="Personal: full name (encrypted)." + VISIBLE)
    ] = None,
    record_number: Annotated[
        str | None, typer.Option(help="Personal: hospital record number (encrypted)." + VISIBLE)
    ] = None,
    birth_date: Annotated[
        str | None,
        typer.Option(help="Personal: date of birth YYYY-MM-DD (encrypted)." + VISIBLE),
    ] = None,
) -> None:
    """Register a patient by pseudonym. Personal data (name, record number, birth date)
    is encrypted with the patient's own key before it is signed, and never printed.
    Give it with --personal-from FILE (or - for standard input) or --ask-personal: the
    --name, --record-number and --birth-date flags are visible to other users.

    Example: dermledger --as ada patient register P0001 --age 38 --sex female
             --fitzpatrick II --personal-from p0001.env
    """
    c = get(ctx)
    flags = {"name": name, "record_number": record_number, "birth_date": birth_date}
    personal = personal_input(flags, personal_from, ask_personal)
    c.ledger.patients.register_patient(
        c.signer(),
        pseudonym,
        {
            "age": age,
            "sex": sex,
            "fitzpatrick_skin_type": fitzpatrick,
            "personal_hx_mm": personal_hx_mm,
            "family_hx_mm": family_hx_mm,
        },
        personal=personal,
    )
    status(f"Registered patient {pseudonym}")


PROMPTS = (
    ("name", "Full name"),
    ("record_number", "Hospital record number"),
    ("birth_date", "Date of birth (YYYY-MM-DD)"),
)


def personal_input(
    flags: dict[str, str | None], personal_from: str | None, ask: bool
) -> dict[str, str | None]:
    """The personal data from exactly one of: the flags, a file (- for standard input),
    or prompts (Enter skips a field). Values are never echoed back."""
    given = [f for f, on in (("--personal-from", personal_from is not None),
                             ("--ask-personal", ask),
                             ("--name/--record-number/--birth-date",
                              any(v not in (None, "") for v in flags.values()))) if on]  # fmt: skip
    if len(given) > 1:
        raise InvalidInput(f"give personal data one way only, not {' and '.join(given)}")
    if personal_from is not None:
        return dict(parse_personal_file(read_personal_file(personal_from)))
    if ask:
        return {
            key: typer.prompt(label, default="", show_default=False, err=True).strip() or None
            for key, label in PROMPTS
        }
    return flags


def read_personal_file(source: str) -> bytes:
    """At most one byte more than the policy accepts, from FILE or standard input (-)."""
    limit = personal_file.MAX_BYTES + 1
    if source == "-":
        return typer.get_binary_stream("stdin").read(limit)
    try:
        with Path(source).open("rb") as handle:
            return handle.read(limit)
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the personal-data file {source}: {exc.strerror or exc}"
        ) from None


def capture(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="JPEG or PNG files (one or more).")],
    patient: Annotated[str, typer.Option("--patient", help="Registered patient pseudonym.")],
    lesion: Annotated[str, typer.Option("--lesion", help="Lesion pseudonym.")],
    anatom_site: Annotated[str | None, typer.Option(help="ISIC anatomic site label.")] = None,
    clin_size_long_diam_mm: Annotated[str | None, typer.Option(help="Lesion size, mm.")] = None,
    image_type: Annotated[str, typer.Option(help="ISIC image_type.")] = "dermoscopic",
    dermoscopic_type: Annotated[str | None, typer.Option(help="ISIC dermoscopic_type.")] = None,
    acquisition_day: Annotated[str | None, typer.Option(help="Days since study start.")] = None,
    device: Annotated[str | None, typer.Option(help="Dermatoscope and camera.")] = None,
    override_sop: Annotated[
        bool, typer.Option("--override-sop", help="Accept an SOP deviation (needs --reason).")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why the deviation is acceptable.")] = None,
    json_: Json = False,
) -> None:
    """Capture images of one lesion under the SOP: decode, check, store, sign, flag
    duplicates. Each file is captured on its own, all or nothing, and gets one result
    line (captured as IMAGE-ID, or not captured and why); exit 1 if any was not captured.

    Example: dermledger --as ada capture lesion-1.jpg lesion-2.jpg --patient P0001
             --lesion L0001 --dermoscopic-type "contact polarized"
             --anatom-site "Trunk:Posterior trunk"
    """
    c = get(ctx)
    if override_sop and not (reason and reason.strip()):
        raise InvalidInput("--override-sop needs --reason")
    if reason and not override_sop:
        raise InvalidInput("--reason goes with --override-sop")
    signer = c.signer()
    metadata = {
        "anatom_site": anatom_site, "clin_size_long_diam_mm": clin_size_long_diam_mm,
        "image_type": image_type, "dermoscopic_type": dermoscopic_type,
        "acquisition_day": acquisition_day,
    }  # fmt: skip
    results = []
    for path in images:
        try:
            result = c.ledger.capture.capture(
                signer, read_file(path), patient_id=patient, lesion_id=lesion,
                metadata=metadata, device=device,
                override_reason=reason if override_sop else None, name=path.name,
            )  # fmt: skip
        except DermLedgerError as refused:
            results.append({"file": path.name, "image_id": None, "error": refused.diagnostics()})
            continue
        suspicions = [s.__dict__ for s in result.suspicions]
        results.append({"file": path.name, "image_id": result.image_id, "error": None,
                        "duplicate_suspicions": suspicions})  # fmt: skip
    if json_:
        print_json(results)
    else:
        for r in results:
            out.print(capture_line(r))
    failed = [r for r in results if r["error"] is not None]
    if len(results) == 1 and failed:
        raise InvalidInput(f"{failed[0]['file']}: {failed[0]['error']}")
    if failed:
        raise InvalidInput(f"{len(failed)} of {len(results)} files were not captured")


def capture_line(result: dict[str, Any]) -> str:
    """One file's result, for people: what happened to it, on one line."""
    if result["error"] is not None:
        return f"{result['file']}: not captured: {result['error']}"
    line = f"{result['file']}: captured as {result['image_id']}"
    for s in result["duplicate_suspicions"]:
        kind = f"{s['kind']}, distance {s['distance']}"
        line += f"; suspected duplicate of {s['duplicate_of']} ({kind})"
    return line


def read_file(path: Path) -> bytes:
    """A regular file's bytes, size-capped before reading (never /dev/zero into memory)."""
    return read_capped(path)


def import_(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Folder holding the image files.")],
    metadata: Annotated[
        Path, typer.Option("--metadata", help="The CSV describing the files (columns above).")
    ],
    json_: Json = False,
) -> None:
    """Import a folder of captures described by a metadata CSV (policy import-csv).

    Every row and file is checked first; any problem is listed with its row number and
    nothing is written. Re-running an interrupted import completes it.
    """
    c = get(ctx)
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder")
    header, rows = read_csv(metadata)
    signer = c.signer()
    try:
        with progress_bar("Importing", len(rows), quiet=c.quiet) as advance:
            report = c.ledger.imports.import_folder(
                signer, folder, header, rows, source=metadata.name,
                progress=lambda done, total: advance(done),
            )  # fmt: skip
    except ImportRefused as refused:
        for problem in refused.problems:
            err.print(f"  {problem}", highlight=False, markup=False)
        raise
    summary = {
        "rows": report.rows,
        "captured": report.captured,
        "already_present": report.already_present,
        "duplicate_suspicions": report.suspicions,
    }
    if json_:
        print_json(summary)
    else:
        status(
            f"Imported {report.captured} images ({report.already_present} already present), "
            f"{report.suspicions} duplicate suspicions"
        )


def import_help() -> str:
    """The import help, its CSV columns read from the policy that judges them."""
    doc = (import_.__doc__ or "").strip().replace("\n    ", "\n")
    return (
        f"{doc}\n\nCSV columns (a header row, then one row per file):\n\n"
        f"required: {', '.join(csv_rows.REQUIRED_COLUMNS)}\n\n"
        f"optional: {', '.join(csv_rows.OPTIONAL_COLUMNS)}\n\n"
        "Example: dermledger --as ada import study/images --metadata study/metadata.csv"
    )


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Read a metadata CSV as text; the rules that judge it are in policies.csv_rows."""
    try:
        raw = path.read_bytes()
    except OSError:
        raise InvalidInput(f"{path} cannot be read") from None
    if len(raw) > MAX_CSV_BYTES:
        raise InvalidInput(f"{path.name} is larger than {MAX_CSV_BYTES // 2**20} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise InvalidInput(f"{path.name} is not a readable CSV ({exc})") from None
    if not reader.fieldnames:
        raise InvalidInput(f"{path.name} has no header row")
    return list(reader.fieldnames), rows


@metadata_app.command("set")
def metadata_set(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="Image id.")],
    field: Annotated[str, typer.Argument(help="Field name, e.g. anatom_site.")],
    value: Annotated[str, typer.Argument(help="New value ('' clears an optional field).")],
    reason: Reason,
) -> None:
    """Change one metadata field of an image; the old value stays in the history.

    Example: dermledger --as ada metadata set IMG-1a2b… anatom_site "Head and neck:Head"
             --reason "site corrected after review"
    """
    c = get(ctx)
    env = c.ledger.curation.edit_metadata(c.signer(), image, field, value, reason)
    opened = c.ledger.kernel.sealer.open(env).payload  # erasure v2: the values are sealed
    old, new = cell(opened["old_value"]), cell(opened["new_value"])
    status(f"{image} {field}: {old} -> {new}")


@duplicates_app.command("list")
def duplicates_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved suspicions.")] = False,
    json_: Json = False,
) -> None:
    """List duplicate suspicions (unresolved by default).

    Example: dermledger duplicates list --json
    """
    rows = get(ctx).ledger.curation.list_duplicates(include_resolved=all_)
    emit(rows, DUPLICATE_COLUMNS, json_=json_)


DUPLICATE_COLUMNS = (
    Col("image", "image_id", ident=True),
    Col("suspected duplicate of", "duplicate_of", ident=True),
    Col("kind", "kind"),
    Col("distance", "distance"),
    Col("status", "status"),
)


@duplicates_app.command("resolve")
def duplicates_resolve(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="The later image under suspicion.")],
    reason: Reason,
    duplicate_of: Annotated[
        str | None, typer.Option("--duplicate-of", help="Exclude it as a duplicate of this one.")
    ] = None,
    distinct: Annotated[
        bool, typer.Option("--distinct", help="Not a duplicate: clear the suspicion.")
    ] = False,
    override_exact: Annotated[
        bool,
        typer.Option(
            "--override-exact",
            help="With --distinct: clear an exact copy (same bytes or pixels); recorded as "
            "an override.",
        ),
    ] = False,
) -> None:
    """Resolve a suspicion: exclude as duplicate of X, or clear as distinct. Clearing an
    exact copy (same bytes or same pixels) as distinct needs --override-exact.

    Example: dermledger --as ada duplicates resolve IMG-9f… --duplicate-of IMG-1a…
             --reason "same lesion, same visit"
    """
    c = get(ctx)
    c.ledger.curation.resolve_duplicate(
        c.signer(), image, duplicate_of=duplicate_of, distinct=distinct, reason=reason,
        override_exact=override_exact,
    )  # fmt: skip
    outcome = f"excluded as duplicate of {duplicate_of}" if duplicate_of else "distinct"
    if override_exact:
        outcome += " (exact copy, override recorded)"
    status(f"Resolved {image}: {outcome}")


def exclude(ctx: typer.Context, image: Annotated[str, typer.Argument()], reason: Reason) -> None:
    """Exclude an image from the dataset (it stays in the ledger).

    Example: dermledger --as ada exclude IMG-1a… --reason "wrong patient label"
    """
    c = get(ctx)
    c.ledger.curation.set_excluded(c.signer(), image, excluded=True, reason=reason)
    status(f"Excluded {image}")


def reinstate(ctx: typer.Context, image: Annotated[str, typer.Argument()], reason: Reason) -> None:
    """Reinstate an excluded image.

    Example: dermledger --as ada reinstate IMG-1a… --reason "label confirmed"
    """
    c = get(ctx)
    c.ledger.curation.set_excluded(c.signer(), image, excluded=False, reason=reason)
    status(f"Reinstated {image}")


def register_commands(app: typer.Typer) -> None:
    app.add_typer(patient_app, name="patient")
    app.command()(capture)
    app.command("import", help=import_help())(import_)
    app.add_typer(metadata_app, name="metadata")
    app.add_typer(duplicates_app, name="duplicates")
    app.command()(exclude)
    app.command()(reinstate)
