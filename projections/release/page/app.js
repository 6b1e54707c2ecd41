// app.js: the page's wiring: take a folder or a zip (picker or drop), verify it with
// progress, show one verdict with every failure named, then show the dataset. The result
// is also left on document.body's data-verdict ("ok", "fail" or "error") for tests.

const $ = (id) => document.getElementById(id);
let current = null; // {manifest, failures, files} of the release on screen

function showProgress(done, total) {
  const bar = $("progress");
  bar.hidden = false;
  bar.max = total || 1;
  bar.value = done;
  $("progress-text").textContent =
    `hashing: ${(done / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(1)} MiB`;
}

function witnessSection(report) {
  const box = $("witnesses");
  const text = {
    "not witnessed": say("state_unwitnessed"),
    "not checked": say("state_unchecked", { count: report.count }),
    witnessed: say("state_witnessed"),
    failed: say("state_failed"),
  }[report.state];
  const list = el("ul");
  for (const row of report.rows) {
    const when = row.time ? ` at ${new Date(row.time * 1000).toISOString()}` : "";
    list.append(el("li", { text: `${row.keyName}: ${row.status}${when}` }));
  }
  box.replaceChildren(el("p", { id: "witness-state", "data-state": report.state, text }), list);
}

/** Verdict = the CLI's failures plus, with trusted keys, the witness failures. */
async function showVerdict() {
  if (!current) return;
  let witness;
  try {
    witness = await checkCosignatures(current.manifest, $("witness-keys").value);
    $("policy-error").textContent = "";
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    $("policy-error").textContent = error.message;
    witness = { state: "not checked", failures: [], rows: [], count: 0 };
  }
  const failures = [...current.failures, ...witness.failures];
  const ok = failures.length === 0;
  $("verdict").textContent = verdictLine(current.manifest, failures);
  $("verdict").className = ok ? "ok" : "bad";
  $("failures").replaceChildren(...failures.map((f) => el("li", { text: f })));
  witnessSection(witness);
  document.body.dataset.verdict = ok ? "ok" : "fail";
}

function showError(message) {
  current = null;
  $("verdict").textContent = message;
  $("verdict").className = "bad";
  $("failures").replaceChildren();
  document.body.dataset.verdict = "error";
}

/** Verify what the reader handed over, then show it. */
async function open(loadSources, folderName) {
  document.body.dataset.verdict = "working";
  $("verdict").textContent = "Reading…";
  $("verdict").className = "";
  $("failures").replaceChildren();
  $("release").replaceChildren();
  const started = performance.now();
  try {
    const sources = await loadSources();
    const files = new Map(sources.map((s) => [s.path, s]));
    const result = await verifyRelease(files, folderName, showProgress);
    current = { ...result, files };
    await showVerdict();
    $("elapsed").textContent = `checked in ${((performance.now() - started) / 1000).toFixed(2)} s`;
    document.body.dataset.elapsedMs = String(Math.round(performance.now() - started));
    document.body.dataset.timings = JSON.stringify(result.timings);
    await renderRelease($("release"), result.manifest, files, result.lines);
  } catch (error) {
    if (error instanceof NotARelease || error instanceof ZipError) showError(error.message);
    else { showError(`the page could not read this release: ${error}`); console.error(error); }
  }
}

function setUp() {
  $("pick-folder").addEventListener("change", (event) => {
    const list = event.target.files;
    if (!list.length) return;
    const folder = (list[0].webkitRelativePath || "").split("/")[0] || "the folder";
    open(async () => fromPickedFolder(list), folder);
  });
  $("pick-zip").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) open(() => fromZip(file), file.name);
  });
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    document.body.classList.remove("dragging");
    const transfer = event.dataTransfer;
    const name = transfer.files[0]?.name || "the folder";
    const promise = fromDrop(transfer); // the entries must be taken while the event lasts
    open(() => promise, name);
  });
  $("witness-keys").addEventListener("input", () => showVerdict());
  $("policy-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) { $("witness-keys").value = await file.text(); showVerdict(); }
  });
  document.body.dataset.verdict = "idle";
}

setUp();
