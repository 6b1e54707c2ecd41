// csv.js: CSV as Python's csv module reads it (excel dialect, strict=False), and
// csv.DictReader on top: quoted fields with "" escapes and embedded newlines, \r, \n or
// \r\n between records, a blank line is an empty row that DictReader skips, short rows
// are padded with null.

function parseCsv(text) {
  const rows = [];
  let fields = [], field = "", state = "record";
  const save = () => { fields.push(field); field = ""; };
  const endRecord = (i) => {
    rows.push(fields);
    fields = [];
    state = "record";
    return text[i] === "\r" && text[i + 1] === "\n" ? i + 1 : i;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const newline = c === "\r" || c === "\n";
    if (state === "record") {
      if (newline) { i = endRecord(i); continue; }
      state = "start";
    }
    if (state === "start") {
      if (c === '"') state = "quoted";
      else if (c === ",") save();
      else if (newline) { save(); i = endRecord(i); }
      else { field = c; state = "field"; }
    } else if (state === "field") {
      if (c === ",") { save(); state = "start"; }
      else if (newline) { save(); i = endRecord(i); }
      else field += c;
    } else if (state === "quoted") {
      if (c === '"') state = "closed";
      else field += c;
    } else if (c === '"') { // state "closed": a quote right after the closing one
      field += '"';
      state = "quoted";
    } else if (c === ",") { save(); state = "start"; }
    else if (newline) { save(); i = endRecord(i); }
    else { field += c; state = "field"; }
  }
  if (state !== "record") { save(); rows.push(fields); }
  return rows;
}

/** csv.DictReader: dicts keyed by the header row; blank rows skipped. */
function csvRecords(text) {
  const rows = parseCsv(text);
  if (!rows.length) return [];
  const header = rows[0]; // the first row, even a blank one, as DictReader takes it
  return rows.slice(1).filter((r) => r.length > 0).map((r) => {
    const record = {};
    header.forEach((name, i) => { record[name] = i < r.length ? r[i] : null; });
    return record;
  });
}
