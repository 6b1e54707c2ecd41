// view.js: the release as people want to see it, built with DOM calls and textContent
// only: the manifest's facts, the datasheet (cohort tables, agreement, the gates and what
// each left out, the charts) and a gallery of the images with label, stage and provenance.

const GALLERY_PAGE = 60;

/** Blob URLs for release files (images, charts), made once per file. */
function urlMaker(files) {
  const made = new Map();
  return async (path) => {
    if (!made.has(path)) {
      const source = files.get(path);
      made.set(path, source ? URL.createObjectURL(await source.blob()) : null);
    }
    return made.get(path);
  };
}

function renderSummary(manifest) {
  const rows = [
    ["Release", manifest.name], ["Ledger", manifest.ledger_id],
    ["As of", `seq ${manifest.as_of?.seq}, ${manifest.as_of?.recorded_at}`],
    ["Checkpoint", `tree_size ${manifest.checkpoint?.tree_size}, root ${manifest.checkpoint?.root}`],
    ["Signed by", `${manifest.signer?.actor} (key ${manifest.signer?.key_id})`],
    ["Policies", manifest.policy_version],
    ["Software", Object.entries(manifest.software || {}).map(([k, v]) => `${k} ${v}`).join(", ")],
    ["Files", String((manifest.files || []).length)],
  ];
  const table = el("table", { class: "facts" });
  for (const [name, value] of rows) {
    table.append(el("tr", {}, el("th", { text: name }), el("td", { text: pyStr(value) })));
  }
  return table;
}

/** Inline markdown of the datasheet: **bold** and `code`, nothing else. */
function inline(text) {
  const span = el("span");
  for (const part of text.split(/(\*\*[^*]+\*\*|`[^`]+`)/)) {
    if (part.startsWith("**") && part.endsWith("**") && part.length > 4) {
      span.append(el("strong", { text: part.slice(2, -2) }));
    } else if (part.startsWith("`") && part.endsWith("`") && part.length > 2) {
      span.append(el("code", { text: part.slice(1, -1) }));
    } else if (part) {
      span.append(document.createTextNode(part));
    }
  }
  return span;
}

function tableCells(line) {
  return line.trim().replace(/^\||\|$/g, "").split(/(?<!\\)\|/)
    .map((c) => c.trim().replaceAll("\\|", "|"));
}

function renderTable(lines) {
  const table = el("table", { class: "data" });
  const head = el("tr");
  for (const cell of tableCells(lines[0])) head.append(el("th", {}, inline(cell)));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const line of lines.slice(2)) {
    const row = el("tr");
    for (const cell of tableCells(line)) row.append(el("td", {}, inline(cell)));
    body.append(row);
  }
  table.append(body);
  return table;
}

/** The datasheet's markdown as the writer makes it: headings, paragraphs, tables, charts. */
async function renderDatasheet(text, urlOf) {
  const root = el("div", { class: "datasheet" });
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const image = /^!\[([^\]]*)\]\(([^)]+)\)$/.exec(line);
    if (line.startsWith("|")) {
      const block = [];
      while (i < lines.length && lines[i].startsWith("|")) block.push(lines[i++]);
      i--;
      root.append(renderTable(block));
    } else if (image) {
      const src = await urlOf(image[2]);
      const figure = el("figure", {}, el("figcaption", { text: image[1] }));
      if (src) figure.prepend(el("img", { src, alt: image[1], class: "chart" }));
      root.append(figure);
    } else if (/^#{1,3} /.test(line)) {
      const level = line.indexOf(" ");
      root.append(el(`h${level + 1}`, {}, inline(line.slice(level + 1))));
    } else if (line.trim()) {
      root.append(el("p", {}, inline(line)));
    }
  }
  return root;
}

/** Per image: its metadata row, its judgements (annotations.csv), its proof line. */
function imageRecords(metadata, annotations, lines) {
  const judged = new Map(), proven = new Map();
  for (const row of annotations) {
    if (!judged.has(row.image_id)) judged.set(row.image_id, []);
    judged.get(row.image_id).push(row);
  }
  for (const line of lines) {
    if (isObject(line.record) && typeof line.record.image_id === "string") {
      proven.set(line.record.image_id, line);
    }
  }
  return metadata.map((row) => {
    const diagnosis = [1, 2, 3, 4, 5].map((n) => row[`diagnosis_${n}`]).filter(Boolean);
    const site = [1, 2, 3, 4, 5].map((n) => row[`anatom_site_${n}`]).filter(Boolean);
    const judgements = judged.get(row.image_id) || [];
    const proof = proven.get(row.image_id) || null;
    const words = [row.image_id, row.category, row.verification_stage, ...diagnosis, ...site,
                   row.patient_id, row.lesion_id, ...judgements.map((j) => j.actor)];
    return { row, diagnosis, site, judgements, proof,
             haystack: words.filter(Boolean).join(" ").toLowerCase() };
  });
}

function judgementList(record) {
  const list = el("ul", { class: "judgements" });
  for (const j of record.judgements) {
    const who = `${j.actor} (${j.role})`;
    let text;
    if (j.type === "AnnotationRecorded") text = `annotated by ${who}: ${j.category}`;
    else if (j.type === "ConsensusVoteCast") text = `vote by ${who}: ${j.category}`;
    else text = `histology by ${who}: ${j.category}, report ${j.report_ref}`;
    if (j.superseded === "true") text += " (superseded)";
    list.append(el("li", { text: `seq ${j.seq}: ${text}` }));
  }
  if (!record.judgements.length) list.append(el("li", { text: "no judgements listed" }));
  return list;
}

function provenanceList(record) {
  const list = el("ul", { class: "provenance" });
  if (!record.proof) return el("p", { class: "bad", text: "no provenance line for this image" });
  const mark = record.proof.status === "ok" ? "inclusion proved" : "proof does NOT verify";
  for (const e of pyIter(record.proof.record.events || [])) {
    if (!isObject(e)) continue;
    list.append(el("li", { text: `seq ${e.seq} ${e.type} ${String(e.hash).slice(0, 16)}… ${mark}` }));
  }
  return list;
}

async function imageCard(record, urlOf) {
  const { row } = record;
  const src = await urlOf(`images/${row.filename}`);
  const card = el("article", { class: "card", "data-category": row.category,
                               "data-stage": row.verification_stage });
  if (src) card.append(el("img", { src, alt: row.image_id, loading: "lazy" }));
  card.append(
    el("h4", { text: row.image_id }),
    el("p", {}, el("span", { class: `badge cat-${row.category}`, text: row.category }), " ",
       el("span", { class: "badge stage", text: row.verification_stage })),
    el("p", { class: "label", text: record.diagnosis.at(-1) || "" }),
    el("p", { class: "meta", text: `${row.patient_id}, ${row.age_approx || "?"} y, ${row.sex || "?"}; ${record.site.join(" / ")}` }),
    el("details", {}, el("summary", { text: "who judged it, and its provenance" }),
       judgementList(record), provenanceList(record)));
  return card;
}

function choices(values, all) {
  const select = el("select");
  select.append(el("option", { value: "", text: all }));
  for (const v of [...new Set(values)].filter(Boolean).sort()) {
    select.append(el("option", { value: v, text: v }));
  }
  return select;
}

/** The gallery with its search box, category and stage filters and paging. */
function renderGallery(records, urlOf) {
  const search = el("input", { type: "search", id: "search", placeholder: "Search id, diagnosis, site, reader…" });
  const category = choices(records.map((r) => r.row.category), "every category");
  const stage = choices(records.map((r) => r.row.verification_stage), "every stage");
  category.id = "filter-category";
  stage.id = "filter-stage";
  const count = el("p", { id: "gallery-count" });
  const grid = el("div", { class: "grid", id: "gallery" });
  const more = el("button", { type: "button", text: "Show more" });
  let shown = [], limit = GALLERY_PAGE, generation = 0;
  async function draw() {
    const mine = ++generation;
    const q = search.value.trim().toLowerCase();
    shown = records.filter((r) => (!q || r.haystack.includes(q)) &&
      (!category.value || r.row.category === category.value) &&
      (!stage.value || r.row.verification_stage === stage.value));
    count.textContent = `${shown.length} of ${records.length} images`;
    const cards = [];
    for (const r of shown.slice(0, limit)) cards.push(await imageCard(r, urlOf));
    if (mine !== generation) return;
    grid.replaceChildren(...cards);
    more.hidden = shown.length <= limit;
  }
  const reset = () => { limit = GALLERY_PAGE; draw(); };
  search.addEventListener("input", reset);
  category.addEventListener("change", reset);
  stage.addEventListener("change", reset);
  more.addEventListener("click", () => { limit += GALLERY_PAGE; draw(); });
  draw();
  return el("div", {}, el("div", { class: "filters" }, search, category, stage), count, grid, more);
}

/** Fill the dataset part of the page from the release's own files. */
async function renderRelease(target, manifest, files, lines) {
  const urlOf = urlMaker(files);
  const text = async (path) => (files.has(path) ? readText(files.get(path)) : "");
  const metadata = csvRecords(await text("metadata.csv"));
  const annotations = csvRecords(await text("annotations.csv"));
  const datasheet = await text("datasheet.md");
  target.replaceChildren(
    el("section", { id: "summary" }, el("h2", { text: "What was released" }), renderSummary(manifest)),
    el("section", { id: "datasheet" }, await renderDatasheet(datasheet, urlOf)),
    el("section", { id: "images" }, el("h2", { text: "Images" }),
       renderGallery(imageRecords(metadata, annotations, lines), urlOf)));
}
