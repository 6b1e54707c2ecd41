"""datasheet.md and its PNG charts, from the cohort table, the gates and agreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermledger.policies.categories import CATEGORIES, CATEGORY_NAMES, MALIGNANT
from dermledger.policies.metadata_schema import (
    AGE_APPROX_CAP,
)
from dermledger.projections.release.cohort import (
    BENIGN_COLOUR,
    CHART_FILES,
    DATASHEET,
    DPI,
    MALIGNANT_COLOUR,
    SECOND_COLOUR,
    WIDTH_IN,
    CohortTable,
)
from dermledger.projections.release.columns import DASH, NOT_RECORDED
from dermledger.projections.release.croissant import GateCount

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f}%)" if total else str(n)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _site_label(site: tuple[str, str]) -> str:
    return f"{site[0]} / {site[1]}" if site[1] else site[0]


def _patients_table(t: CohortTable) -> list[str]:
    if t.age_median is None:
        age = NOT_RECORDED
    else:
        age = f"{_number(t.age_median)} ({t.age_min}{DASH}{t.age_max})"
    lines = [
        "| Patients | n (%) |",
        "|---|---|",
        f"| Patients | {t.patients} |",
        "| **Sex** | |",
        *(f"| {_cell(k)} | {_pct(n, t.patients)} |" for k, n in t.sex_patients),
        f"| **Age, years: median (range)**, from age_approx (nearest 5 years, capped at "
        f"{AGE_APPROX_CAP}); each patient's youngest | {age} |",
    ]
    if t.age_not_recorded:
        lines.append(f"| age not recorded | {_pct(t.age_not_recorded, t.patients)} |")
    lines += [
        "| **Fitzpatrick skin type** | |",
        *(f"| {_cell(k)} | {_pct(n, t.patients)} |" for k, n in t.fitzpatrick_patients),
    ]
    return lines


def _images_table(t: CohortTable) -> list[str]:
    lines = [
        "| Images | n (%) |",
        "|---|---|",
        f"| Images | {t.images} |",
        f"| Lesions (distinct patient_id, lesion_id) | {t.lesions} |",
        "| **Diagnostic category** | |",
        *(f"| {code} ({CATEGORY_NAMES[code]}) | {_pct(n, t.images)} |" for code, n in t.categories),
        f"| **Malignant (MEL, BCC, SCC)** | {_pct(t.malignant, t.images)} |",
        f"| histologically verified | {_pct(t.malignant_histology, t.malignant)} |",
    ]
    if t.other_malignant:
        lines += [
            f"| **Other malignant labels (in OTHER)** | {_pct(t.other_malignant, t.images)} |",
            f"| histologically verified | {_pct(t.other_malignant_histology, t.other_malignant)} |",
        ]
    lines += [
        f"| **Histologically verified, any category** | {_pct(t.histology, t.images)} |",
        "| **Verification stage** | |",
        *(f"| {stage} | {_pct(n, t.images)} |" for stage, n in t.stages),
        "| **Fitzpatrick skin type** | |",
        *(f"| {_cell(k)} | {_pct(n, t.images)} |" for k, n in t.fitzpatrick_images),
        "| **Anatomic site** (anatom_site_1 / anatom_site_2) | |",
        *(f"| {_cell(_site_label(site))} | {_pct(n, t.images)} |" for site, n in t.sites),
    ]
    return lines


def _agreement_lines(agreement: Mapping[str, Any]) -> list[str]:
    kappa, alpha = agreement.get("fleiss_kappa"), agreement.get("krippendorff_alpha")
    pa = agreement.get("percent_agreement")
    readers = agreement.get("fleiss_ratings_per_item")
    why = "not computable (fewer than two usable images, or a single category voted)"
    lines = [
        "| Statistic | Value | Over |",
        "|---|---|---|",
        f"| Fleiss' kappa | {why if kappa is None else f'{kappa:.3f}'} | "
        f"{agreement.get('fleiss_items', 0)} images with exactly "
        f"{readers if readers is not None else '-'} votes; "
        f"left out: {_images(agreement.get('fleiss_excluded_items', 0))} with another "
        "number of votes |",
        f"| Krippendorff's alpha (nominal) | {why if alpha is None else f'{alpha:.3f}'} | "
        f"{agreement.get('alpha_items', 0)} images with two or more votes "
        f"({agreement.get('pairable_values', 0)} votes) |",
        f"| Mean pairwise agreement | "
        f"{'not computable' if pa is None else f'{100 * pa:.1f}%'} | "
        f"{agreement.get('alpha_items', 0)} images with two or more votes |",
    ]
    votes = agreement.get("categories")
    if isinstance(votes, Mapping) and votes:
        listing = ", ".join(f"{code} {votes.get(code, 0)}" for code in CATEGORIES)
        lines += ["", f"Votes per category ({agreement.get('n_items', 0)} images): {listing}."]
    return lines


def _gates_lines(gates: Sequence[GateCount]) -> list[str]:
    lines = [
        "Every image in the ledger that is not in this release was left out by one of "
        "these gates, applied in this order; nothing is dropped silently.",
        "",
        "| Gate | Version | Images left out | Why |",
        "|---|---|---|---|",
        *(
            f"| {_cell(g.name)} | {_cell(g.version)} | {g.excluded} | {_cell(g.description)} |"
            for g in gates
        ),
    ]
    if not gates:
        lines.append("| (no gates reported) | | 0 | |")
    lines.append(f"| **Total left out** | | {sum(g.excluded for g in gates)} | |")
    return lines


def _markdown(
    name: str,
    table: CohortTable,
    gates: Sequence[GateCount],
    agreement: Mapping[str, Any],
    as_of: Mapping[str, Any],
    witnessing: str | None = None,
) -> str:
    seq, recorded_at = as_of.get("seq"), as_of.get("recorded_at")
    position = [f"ledger position {seq}"] if seq is not None else []
    position += [f"recorded at {recorded_at}"] if recorded_at is not None else []
    lines = [
        f"# Datasheet: {name}",
        "",
        f"Release `{name}` of the DermLedger study"
        + (f", as of {', '.join(position)}" if position else "")
        + ". Every number here is computed from this release's metadata.csv "
        "(agreement from its consensus votes), so it can be recomputed from the files.",
        "",
        "## Cohort",
        "",
        "Table 1a. Patients.",
        "",
        *_patients_table(table),
        "",
        "Table 1b. Images.",
        "",
        *_images_table(table),
        "",
        "## Inter-rater agreement of the consensus panel",
        "",
        *_agreement_lines(agreement),
        "",
        "## What is left out and why",
        "",
        *_gates_lines(gates),
        "",
        *(["## Witnesses", "", witnessing, ""] if witnessing else []),
        "## Charts",
        "",
        f"![Images per diagnostic category]({CHART_FILES['categories']})",
        "",
        f"![Patients by age (age_approx)]({CHART_FILES['age']})",
        "",
        f"![Patients by sex]({CHART_FILES['sex']})",
        "",
        f"![Fitzpatrick skin type]({CHART_FILES['fitzpatrick']})",
        "",
        f"![Anatomic sites]({CHART_FILES['sites']})",
        "",
    ]
    return "\n".join(lines)


def write_datasheet(
    out_dir: Path,
    *,
    name: str,
    table: CohortTable,
    gates: list[GateCount],
    agreement: dict[str, Any],
    as_of: dict[str, Any],
    witnessing: str | None = None,
) -> list[str]:
    """Write datasheet.md and its PNG charts into `out_dir`; return their relative paths.

    `agreement` is `AgreementReport.as_dict()`; `as_of` is the manifest's
    {"seq": ..., "recorded_at": ...}; `witnessing`, if given, is a statement about the
    release's witnesses (one published without their quorum says so). Paths are sorted.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = _markdown(name, table, gates, agreement, as_of, witnessing)
    (out / DATASHEET).write_bytes(text.encode())
    _charts(out, table)
    return sorted([DATASHEET, *CHART_FILES.values()])


# --- charts ------------------------------------------------------------------------------
# matplotlib is imported inside these functions: it is slow to import, and only a release
# being written draws charts, not every command that imports this module.


def _charts(out: Path, t: CohortTable) -> None:
    """Draw the five PNG charts; the default style keeps the bytes independent of rcParams."""
    import matplotlib.style

    with matplotlib.style.context("default"):
        _save(_categories_chart(t), out, "categories")
        _save(_age_chart(t), out, "age")
        _save(_sex_chart(t), out, "sex")
        _save(_fitzpatrick_chart(t), out, "fitzpatrick")
        _save(_sites_chart(t), out, "sites")


def _figure(height: float, width: float = WIDTH_IN) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _save(fig: Figure, out: Path, key: str) -> None:
    """PNG without the Software tag, which would change the bytes with matplotlib's version."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(out / CHART_FILES[key], format="png", dpi=DPI, metadata={"Software": None})


def _whole_number_ticks(axis: Any) -> None:
    """Counts are whole numbers; matplotlib would tick a small count at 0.5 steps."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _bars(ax: Axes, labels: list[str], values: list[int], colours: Any, zeros: bool) -> None:
    """Vertical bars labelled with their counts (zeros left blank unless `zeros`)."""
    container = ax.bar(range(len(labels)), values, color=colours)
    shown = [str(v) if v or zeros else "" for v in values]
    ax.bar_label(container, labels=shown, padding=2, fontsize=8)
    ax.set_xticks(range(len(labels)), labels)
    _whole_number_ticks(ax.yaxis)
    ax.set_ylabel("count")
    ax.margins(y=0.15)


def _categories_chart(t: CohortTable) -> Figure:
    fig, ax = _figure(3.6)
    codes = [code for code, _ in t.categories]
    colours = [MALIGNANT_COLOUR if c in MALIGNANT else BENIGN_COLOUR for c in codes]
    _bars(ax, codes, [n for _, n in t.categories], colours, zeros=True)
    ax.set_title(f"Images per diagnostic category (n={t.images}; red: malignant)")
    return fig


def _age_chart(t: CohortTable) -> Figure:
    """Every 5-year step up to the cap, so gaps show; any other age_approx after them."""
    fig, ax = _figure(3.6)
    ages = dict(t.age_patients)
    grid = list(range(0, AGE_APPROX_CAP + 1, 5))
    grid += sorted(a for a in ages if a not in grid)
    _bars(ax, [str(a) for a in grid], [ages.get(a, 0) for a in grid], BENIGN_COLOUR, False)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel(f"age_approx, years (nearest 5; {AGE_APPROX_CAP} = {AGE_APPROX_CAP}+)")
    known = t.patients - t.age_not_recorded
    ax.set_title(
        f"Patients by age, each patient's youngest age_approx (n={known}"
        + (f"; {t.age_not_recorded} not recorded)" if t.age_not_recorded else ")")
    )
    return fig


def _sex_chart(t: CohortTable) -> Figure:
    fig, ax = _figure(3.6, WIDTH_IN / 2)
    sex = t.sex_patients
    _bars(ax, [k for k, _ in sex], [n for _, n in sex], BENIGN_COLOUR, zeros=True)
    ax.set_title(f"Patients by sex (n={t.patients})")
    return fig


def _fitzpatrick_chart(t: CohortTable) -> Figure:
    """Patients and images side by side: a skin type can be rare in one and not the other."""
    fig, ax = _figure(3.6)
    keys = [k for k, _ in t.fitzpatrick_images]
    keys += [k for k, _ in t.fitzpatrick_patients if k not in keys]
    patients, images = dict(t.fitzpatrick_patients), dict(t.fitzpatrick_images)
    width = 0.4
    for offset, counts, label, colour in (
        (-width / 2, patients, f"patients (n={t.patients})", BENIGN_COLOUR),
        (width / 2, images, f"images (n={t.images})", SECOND_COLOUR),
    ):
        values = [counts.get(k, 0) for k in keys]
        container = ax.bar(
            [i + offset for i in range(len(keys))], values, width, label=label, color=colour
        )
        ax.bar_label(container, padding=2, fontsize=7)
    ax.set_xticks(range(len(keys)), keys)
    _whole_number_ticks(ax.yaxis)
    ax.set_ylabel("count")
    ax.margins(y=0.15)
    ax.legend(frameon=False)
    ax.set_title("Fitzpatrick skin type")
    return fig


def _sites_chart(t: CohortTable) -> Figure:
    """Horizontal bars, one per site, so long site names stay readable."""
    labels = [_site_label(site) for site, _ in t.sites] or [NOT_RECORDED]
    values = [n for _, n in t.sites] or [0]
    fig, ax = _figure(1.2 + 0.28 * len(labels))
    container = ax.barh(range(len(labels)), values, color=BENIGN_COLOUR)
    ax.bar_label(container, padding=2, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    _whole_number_ticks(ax.xaxis)
    ax.set_xlabel("images")
    ax.margins(x=0.12)
    ax.set_title(f"Anatomic sites, anatom_site_1 / anatom_site_2 (n={t.images})")
    return fig
