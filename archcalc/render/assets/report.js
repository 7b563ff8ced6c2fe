// archcalc report: lays out the embedded report; every figure shown comes from the data.
(() => {
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const R = D.report;
const rows = R.layers;
const byName = {};
rows.forEach((r, i) => { r.index = i + 1; byName[r.name] = r; });
const SEVERITY = { "": 0, exact: 0, info: 1, warning: 2, error: 3 };
const worstOf = {};
rows.forEach((r) => { worstOf[r.name] = r.stride_fit === "exact" ? "" : r.stride_fit; });
R.diagnostics.forEach((d) => {
  if (d.layer && SEVERITY[d.severity] > SEVERITY[worstOf[d.layer] || ""]) worstOf[d.layer] = d.severity;
});

const grouped = (n) => Number(n).toLocaleString("en-US");
function human(n, unit) {
  const steps = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]];
  for (const [v, s] of steps) if (Math.abs(n) >= v) return (n / v).toFixed(2) + " " + s + (unit || "");
  return String(n) + (unit ? " " + unit : "");
}
function bytes(n) {
  const steps = [[2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]];
  for (const [v, s] of steps) if (n >= v) return (n / v).toFixed(2) + " " + s;
  return n + " B";
}
const shape = (s) => (s ? s.join("×") : "?");
const kindText = (r) => (r.type + " " + (D.describe[r.name] || "")).trim();
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
const short = (name) => name.split(".").pop();

// -- header and totals ------------------------------------------------------------------------
document.getElementById("title").textContent = R.name || "net";
document.getElementById("subtitle").textContent =
  "input " + shape(R.input_shape) + " · batch " + R.batch + " · " + R.dtype +
  (R.source ? " · " + R.source : "");
const T = R.totals;
const cards = [
  [grouped(T.params), "parameters"],
  [human(T.macs), "MACs (" + grouped(T.macs) + ")"],
  [human(T.flops), "FLOPs"],
  [bytes(T.param_bytes + T.buffer_bytes), "parameter memory"],
  [bytes(T.activation_bytes), "all layer outputs"],
  [bytes(T.peak_activation_bytes), "peak live activations"],
  [String(rows.length), "layers"],
  [String(R.diagnostics.filter((d) => d.severity !== "info").length), "warnings and errors"],
];
const totals = document.getElementById("totals");
for (const [value, label] of cards) {
  const c = el("div", "card");
  c.append(el("b", "", value), el("span", "", label));
  totals.append(c);
}

// -- diagram ----------------------------------------------------------------------------------
const layerBoxes = {};
function lastLayer(node) {
  if (node.layer) return node.layer;
  for (let i = node.children.length - 1; i >= 0; i--) {
    const found = lastLayer(node.children[i]);
    if (found) return found;
  }
  return null;
}
function arrow(fromLayer) {
  return el("div", "arrow", fromLayer ? shape(byName[fromLayer].output_shape) : "");
}
function layerBox(name) {
  const r = byName[name];
  const fam = D.family[name] || "other";
  let box;
  if (fam === "merge" && r.type === "add") {
    box = el("div", "layer merge-add fam-merge", "+");
    box.title = name + ": add → " + shape(r.output_shape);
  } else if (fam === "merge") {
    box = el("div", "layer fam-merge", "‖ " + r.type);
    box.title = name + " → " + shape(r.output_shape);
  } else {
    box = el("div", "layer fam-" + fam);
    box.append(el("b", "", short(name) + " "), document.createTextNode(kindText(r)));
    box.title = name;
  }
  const sev = worstOf[name];
  if (sev === "warning" || sev === "error") box.classList.add("sev-" + sev);
  box.dataset.layer = name;
  box.addEventListener("click", (ev) => { ev.stopPropagation(); select(name); });
  layerBoxes[name] = box;
  return box;
}
function column(items) {
  const col = el("div", "col");
  items.forEach((item, i) => {
    if (i > 0) col.append(arrow(lastLayer(items[i - 1])));
    col.append(render(item, item.depth));
  });
  return col;
}
function lanesOf(node) {
  // a residual block: its body (direct layers) beside its shortcut; a parallel block: its
  // branches side by side; the merge below them; identity lanes where an input passes through
  const kids = node.children;
  const last = kids[kids.length - 1];
  const merge = last && last.layer && D.family[last.layer] === "merge" ? last : null;
  const inner = merge ? kids.slice(0, -1) : kids;
  const lanes = [];
  const body = inner.filter((c) => c.layer || c.kind !== "branch");
  if (body.length) lanes.push({ items: body });
  inner.filter((c) => !c.layer && c.kind === "branch").forEach((b) => lanes.push({ items: b.children, label: b.label }));
  const inputs = merge ? byName[merge.layer].inputs.length : lanes.length;
  for (let i = lanes.length; i < inputs; i++) lanes.push({ identity: true });
  return { lanes, merge };
}
function render(node, depth) {
  if (node.layer) return layerBox(node.layer);
  const block = el("div", "block kind-" + node.kind);
  block.dataset.block = node.name;
  // a residual or parallel block opens with its parent: its figure is what it is taught for
  const module = ["residual", "parallel", "branch"].includes(node.kind);
  if (D.open_depth === null || depth < D.open_depth || module) block.classList.add("open");
  if (node.worst === "warning" || node.worst === "error") block.classList.add("warn");
  const head = el("div", "head");
  head.append(el("b", "", node.title + " "));
  if (node.label !== node.title && node.kind !== "branch") head.append(el("i", "", node.label + " "));
  if (node.repeat > 1) head.append(el("span", "badge", "×" + node.repeat + " "));
  const each = node.repeat > 1 ? " in all" : "";
  if (node.chain.length) head.append(el("span", "chain", node.chain.join(" → ") + " "));
  head.append(el("span", "sum", node.layers + " layers · " + human(node.params) + " params · " + human(node.macs) + " MACs" + each));
  head.addEventListener("click", (ev) => { ev.stopPropagation(); block.classList.toggle("open"); });
  const body = el("div", "body col");
  const kids = node.children.map((c) => Object.assign(c, { depth: depth + 1 }));
  if (node.kind === "residual" || node.kind === "parallel") {
    const { lanes, merge } = lanesOf(node);
    const row = el("div", "lanes");
    for (const lane of lanes) {
      const l = el("div", "lane");
      if (lane.identity) {
        l.append(el("div", "identity", "identity"));
      } else {
        if (lane.label) l.append(el("div", "arrow", lane.label));
        lane.items.forEach((c) => Object.assign(c, { depth: depth + 1 }));
        l.append(column(lane.items));
      }
      row.append(l);
    }
    body.append(row);
    if (merge) { body.append(arrow(null), layerBox(merge.layer)); }
  } else {
    body.append(column(kids));
  }
  block.append(head, body);
  return block;
}
const diagram = document.getElementById("diagram");
const topCol = el("div", "col");
const inputBox = el("div", "layer", "input " + shape(R.input_shape));
topCol.append(inputBox, el("div", "arrow", shape(R.input_shape)));
D.tree.forEach((n) => Object.assign(n, { depth: 1 }));
topCol.append(column(D.tree));
const lastTop = D.tree.length ? lastLayer(D.tree[D.tree.length - 1]) : null;
topCol.append(arrow(lastTop), el("div", "layer", "output " + (lastTop ? shape(byName[lastTop].output_shape) : "")));
diagram.append(topCol);
document.getElementById("expand-all").addEventListener("click", () => {
  diagram.querySelectorAll(".block").forEach((b) => b.classList.add("open"));
});
document.getElementById("collapse-all").addEventListener("click", () => {
  diagram.querySelectorAll(".block").forEach((b) => b.classList.remove("open"));
});

// -- selection: arithmetic and receptive field -------------------------------------------------
function select(name) {
  const r = byName[name];
  if (!r) return;
  document.querySelectorAll(".selected").forEach((e) => e.classList.remove("selected"));
  const box = layerBoxes[name];
  if (box) {
    box.classList.add("selected");
    for (let b = box.closest(".block"); b; b = b.parentElement.closest(".block")) b.classList.add("open");
  }
  const tr = tableRows[name];
  if (tr) tr.classList.add("selected");
  document.getElementById("detail-empty").hidden = true;
  document.getElementById("detail-body").hidden = false;
  document.getElementById("detail-name").textContent = name;
  document.getElementById("detail-kind").textContent = kindText(r) + (D.pos[name] ? " · " + D.pos[name] : "");
  const figures = document.getElementById("detail-figures");
  figures.replaceChildren();
  const add = (k, v, cls) => {
    const tr2 = el("tr");
    tr2.append(el("td", "", k), el("td", cls || "", v));
    figures.append(tr2);
  };
  add("output", shape(r.output_shape));
  add("params", grouped(r.params));
  add("MACs", grouped(r.macs));
  add("activation", bytes(r.activation_bytes));
  if (r.receptive_field) add("receptive field", shape(r.receptive_field.size) + ", stride " + shape(r.receptive_field.stride));
  add("stride fit", r.stride_fit);
  for (const e of r.explain || []) add(e.figure, e.formula, "formula");
  for (const d of R.diagnostics.filter((x) => x.layer === name)) add(d.severity, d.message);
  drawField(name);
}
const SVGNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}
function drawField(name) {
  const box = document.getElementById("rf");
  const note = document.getElementById("rf-note");
  box.replaceChildren();
  const w = D.window[name];
  const r = byName[name];
  const dims = R.input_shape.slice(0, -1);
  if (w === null || w === undefined) {
    note.textContent = r.receptive_field_note || "no receptive field for this layer";
    return;
  }
  const H = dims.length >= 2 ? dims[0] : 1;
  const W = dims.length >= 2 ? dims[1] : dims[0];
  let rows2 = [0, H - 1];
  let cols = [0, W - 1];
  if (w === "whole") {
    note.textContent = "the centre unit sees the whole " + shape(dims) + " input";
  } else {
    rows2 = dims.length >= 2 ? w[0] : [0, 0];
    cols = dims.length >= 2 ? w[1] : w[0];
    const span = dims.length >= 2
      ? "rows " + rows2[0] + "…" + rows2[1] + ", columns " + cols[0] + "…" + cols[1]
      : "samples " + cols[0] + "…" + cols[1];
    note.textContent = "centre unit's window: " + span + " of the " + shape(dims) +
      " input (negative or past the edge: padding)";
  }
  const x0 = Math.min(0, cols[0]), x1 = Math.max(W, cols[1] + 1);
  const y0 = Math.min(0, rows2[0]), y1 = Math.max(H, rows2[1] + 1);
  const scale = 300 / Math.max(x1 - x0, y1 - y0);
  // a 1-D input is drawn as a 20-pixel strip; a window is never drawn thinner than 2 pixels
  const tall = (n) => (dims.length >= 2 ? Math.max(2, n * scale) : 20);
  const s = svg("svg", { width: (x1 - x0) * scale + 2, height: tall(y1 - y0) + 2, id: "rf-svg" });
  const g = svg("g", { transform: "translate(1,1)" });
  g.append(svg("rect", { x: (0 - x0) * scale, y: (0 - y0) * scale, width: W * scale, height: tall(H), fill: "#deebf7", stroke: "#6baed6" }));
  g.append(svg("rect", {
    x: (cols[0] - x0) * scale, y: (rows2[0] - y0) * scale,
    width: Math.max(2, (cols[1] - cols[0] + 1) * scale), height: tall(rows2[1] - rows2[0] + 1),
    fill: "#08519c", "fill-opacity": 0.35, stroke: "#08519c", "stroke-width": 2, class: "rf-window",
  }));
  s.append(g);
  box.append(s);
}

// -- diagnostics -------------------------------------------------------------------------------
const diagList = document.getElementById("diagnostics");
if (!R.diagnostics.length) diagList.append(el("li", "", "none"));
function diagItem(d) {
  const li = el("li");
  const where = d.line ? d.file.split("/").pop() + ":" + d.line + ":" + d.column + ": " : "";
  li.append(el("span", "sev sev-text-" + d.severity, d.severity + ": "), document.createTextNode(where + d.message));
  if (d.hint) li.append(el("div", "help", "hint: " + d.hint));
  if (d.layer) li.addEventListener("click", () => select(d.layer));
  return li;
}
R.diagnostics.filter((d) => d.severity !== "info").forEach((d) => diagList.append(diagItem(d)));
const infos = R.diagnostics.filter((d) => d.severity === "info");
if (infos.length) {
  const more = el("details");
  more.append(el("summary", "", infos.length + " note" + (infos.length > 1 ? "s" : "") + " (info)"));
  const ul = el("ul");
  infos.forEach((d) => ul.append(diagItem(d)));
  more.append(ul);
  const li = el("li", "notes");
  li.append(more);
  diagList.append(li);
}

// -- charts per block --------------------------------------------------------------------------
const MAX_BARS = 60;
function chart(title, key, format) {
  const c = el("div", "chart");
  c.append(el("h3", "", title));
  const blocks = D.blocks.slice(0, MAX_BARS);
  const most = Math.max(1, ...blocks.map((b) => b[key]));
  for (const b of blocks) {
    const rowEl = el("div", "bar-row");
    const bar = el("div", "bar");
    bar.style.width = (100 * b[key] / most).toFixed(2) + "%";
    const track = el("div", "track");
    track.append(bar);
    rowEl.append(el("span", "label", b.name), track, el("span", "value", format(b[key])));
    rowEl.title = b.name + ": " + grouped(b[key]);
    c.append(rowEl);
  }
  if (D.blocks.length > MAX_BARS) c.append(el("p", "help", "… and " + (D.blocks.length - MAX_BARS) + " more"));
  return c;
}
document.getElementById("charts").append(
  chart("parameters", "params", human),
  chart("MACs", "macs", human),
  chart("activation memory (" + R.dtype + ")", "activation_bytes", bytes),
);

// -- layer table -------------------------------------------------------------------------------
const columns = [
  { label: "#", get: (r) => r.index, num: true },
  { label: "layer", get: (r) => r.name },
  { label: "type", get: (r) => kindText(r) },
  { label: "output", get: (r) => shape(r.output_shape), key: (r) => (r.output_shape || []).reduce((a, b) => a * b, 1), num: true },
  { label: "params", get: (r) => grouped(r.params), key: (r) => r.params, num: true },
  { label: "MACs", get: (r) => grouped(r.macs), key: (r) => r.macs, num: true },
  { label: "activation", get: (r) => bytes(r.activation_bytes), key: (r) => r.activation_bytes, num: true },
  { label: "RF", get: (r) => (r.receptive_field ? shape(r.receptive_field.size) : ""), key: (r) => (r.receptive_field ? r.receptive_field.size[0] : -1), num: true },
  { label: "fit", get: (r) => (r.stride_fit === "exact" ? "" : r.stride_fit) },
];
const table = document.getElementById("layers");
const headRow = table.querySelector("thead tr");
const tbody = table.querySelector("tbody");
const tableRows = {};
let order = rows.slice();
let sorted = { col: 0, dir: 1 };
columns.forEach((c, i) => {
  const th = el("th", "", c.label);
  th.addEventListener("click", () => {
    sorted = { col: i, dir: sorted.col === i ? -sorted.dir : 1 };
    const key = c.key || c.get;
    order = rows.slice().sort((a, b) => {
      const ka = key(a), kb = key(b);
      return (ka < kb ? -1 : ka > kb ? 1 : 0) * sorted.dir || a.index - b.index;
    });
    fillTable();
  });
  headRow.append(th);
});
function fillTable() {
  headRow.querySelectorAll("th").forEach((th, i) => {
    th.classList.toggle("sorted-asc", i === sorted.col && sorted.dir === 1);
    th.classList.toggle("sorted-desc", i === sorted.col && sorted.dir === -1);
  });
  const needle = document.getElementById("filter").value.trim().toLowerCase();
  tbody.replaceChildren();
  for (const r of order) {
    if (needle && !(r.name + " " + kindText(r)).toLowerCase().includes(needle)) continue;
    let tr = tableRows[r.name];
    if (!tr) {
      tr = el("tr");
      for (const c of columns) tr.append(el("td", c.num ? "num" : "", String(c.get(r))));
      const sev = worstOf[r.name];
      if (sev === "warning" || sev === "error") tr.classList.add("sev-" + sev);
      tr.addEventListener("click", () => select(r.name));
      tr.dataset.layer = r.name;
      tableRows[r.name] = tr;
    }
    tbody.append(tr);
  }
}
document.getElementById("filter").addEventListener("input", fillTable);
fillTable();
})();
