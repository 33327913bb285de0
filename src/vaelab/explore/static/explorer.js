// The latent explorer's page: plain DOM and canvas, no library, nothing fetched from outside.
"use strict";
const $ = (id) => document.getElementById(id);
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const state = { runs: [], run: null, z: [], points: [], box: null, busy: false, pending: null, codes: null };

async function api(path, body) {
  const options = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) { $("status").textContent = data.error; throw new Error(data.error); }
  $("status").textContent = "";
  return data;
}
const runPath = (what) => `/api/${encodeURIComponent(state.run.name)}/${what}`;

// ---- decoding, one request in flight: a drag sends the latest point when the last answer is in
async function decode() {
  if (state.busy) { state.pending = true; return; }
  state.busy = true;
  try {
    const body = { z: state.z };
    if (state.run.conditional) body.label = Number($("label").value);
    $("decoded").src = (await api(runPath("decode"), body)).image;
    $("zinfo").textContent = "z = [" + state.z.map((v) => v.toFixed(2)).join(", ") + "]";
  } finally {
    state.busy = false;
    if (state.pending) { state.pending = false; decode(); }
  }
}

// ---- the latent plane
function toCanvas(p) {
  const c = $("plane"), b = state.box;
  return [(p[0] - b.x0) / (b.x1 - b.x0) * c.width, c.height - (p[1] - b.y0) / (b.y1 - b.y0) * c.height];
}
function fromCanvas(px, py) {
  const c = $("plane"), b = state.box;
  return [b.x0 + px / c.width * (b.x1 - b.x0), b.y0 + (c.height - py) / c.height * (b.y1 - b.y0)];
}
function drawPlane() {
  const c = $("plane"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  state.points.forEach((p, i) => {
    const [x, y] = toCanvas(p);
    g.fillStyle = state.labels ? COLOURS[state.labels[i] % COLOURS.length] : "#1f77b4";
    g.fillRect(x - 1.5, y - 1.5, 3, 3);
  });
  const [cx, cy] = toCanvas([state.z[xDim()], state.z[yDim()]]);
  g.strokeStyle = "#000"; g.lineWidth = 2;
  g.beginPath(); g.arc(cx, cy, 7, 0, 2 * Math.PI); g.stroke();
}
const xDim = () => Number($("xdim").value), yDim = () => Number($("ydim").value);
async function loadPlane() {
  const data = await api(runPath(`plane?x=${xDim()}&y=${yDim()}`));
  state.points = data.points; state.labels = data.labels;
  const xs = data.points.map((p) => p[0]), ys = data.points.map((p) => p[1]);
  const pad = (lo, hi) => { const m = 0.1 * (hi - lo || 1); return [lo - m, hi + m]; };
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs)), [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  state.box = { x0, x1, y0, y1 };
  drawPlane();
}
function onDrag(event) {
  if (event.type === "pointermove" && !(event.buttons & 1)) return;
  const rect = $("plane").getBoundingClientRect();
  const [x, y] = fromCanvas(event.clientX - rect.left, event.clientY - rect.top);
  state.z[xDim()] = x; state.z[yDim()] = y;
  syncSliders(); drawPlane(); decode();
}

// ---- traversal sliders and interpolation
function buildSliders() {
  const box = $("sliders"); box.innerHTML = "";
  state.run.order.forEach((d) => {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"), { type: "range", min: -4, max: 4, step: 0.01, id: `dim${d}` });
    input.addEventListener("input", () => { state.z[d] = Number(input.value); drawPlane(); decode(); });
    label.append(`z${String(d).padEnd(3)} (${state.run.activity[d].toFixed(2)}) `, input);
    box.append(label);
  });
}
function syncSliders() { state.z.forEach((v, d) => { const s = $(`dim${d}`); if (s) s.value = v; }); }
async function startAt(index) {
  const data = await api(runPath(`image/${index}`));
  state.z = data.z;
  if (state.run.conditional && data.label !== null) $("label").value = data.label;
  syncSliders(); drawPlane(); decode();
}
async function interpolate() {
  const body = { start: Number($("from").value), end: Number($("to").value), t: Number($("t").value), method: $("method").value };
  state.z = (await api(runPath("path"), body)).z;
  syncSliders(); drawPlane(); decode();
}

// ---- code grids
async function showGrid(index) {
  const data = await api(runPath(`image/${index}`));
  $("original").src = data.image;
  state.codes = data.codes;
  drawGrid(); paintDecode();
}
function drawGrid() {
  const table = $("grid"); table.innerHTML = "";
  const rows = Array.isArray(state.codes[0]) ? state.codes : [state.codes];
  rows.forEach((row, i) => {
    const tr = table.insertRow();
    (Array.isArray(row) ? row : [row]).forEach((code, j) => {
      const td = tr.insertCell(); td.textContent = Array.isArray(code) ? code.join("/") : code;
      td.dataset.i = i; td.dataset.j = j;
      td.addEventListener("click", () => paintCell(i, j));
    });
  });
}
function paintCell(i, j) {
  const code = Number($("paint").value);
  if (Array.isArray(state.codes[0])) state.codes[i][j] = code; else state.codes[j] = code;
  drawGrid(); paintDecode();
}
async function paintDecode() { $("painted").src = (await api(runPath("decode_codes"), { codes: state.codes })).image; }
// ---- sampling: the prior's grid, revealed in raster order (the order it was drawn in)
async function drawSample() {
  const seed = Number($("seed").value);
  const target = (await api(runPath(`sample?seed=${seed}`))).codes;
  const nested = Array.isArray(target[0]);  // an (h, w) grid, or one row of codes (VQ-VAE-2's joined levels)
  const cols = nested ? target[0].length : target.length, count = nested ? target.length * cols : cols;
  state.codes = nested ? target.map((row) => row.map(() => "?")) : target.map(() => "?");
  for (let k = 0; k < count; k++) {
    const i = Math.floor(k / cols), j = k % cols;
    if (nested) state.codes[i][j] = target[i][j]; else state.codes[j] = target[j];
    drawGrid();
    await new Promise((done) => setTimeout(done, 25));
  }
  $("seed").value = seed + 1;
  await paintDecode();
  document.body.dataset.sampled = String(seed);  // the browser tests wait for this
}

async function drawUsage() {
  const counts = (await api(runPath("usage"))).counts;
  const c = $("usage"), g = c.getContext("2d"), top = Math.max(...counts, 1), w = c.width / counts.length;
  g.clearRect(0, 0, c.width, c.height); g.fillStyle = "#1f77b4";
  counts.forEach((n, k) => { const h = n / top * (c.height - 4); g.fillRect(k * w, c.height - h, Math.max(w - 0.5, 0.5), h); });
  const used = counts.filter((n) => n > 0).length;
  $("usageinfo").textContent = `${used} of ${counts.length} codes used by the held-out images`;
}

// ---- choosing a run
function options(select, values, names) {
  select.innerHTML = "";
  values.forEach((v, i) => select.append(new Option(names ? names[i] : String(v), v)));
}
async function openRun(name) {
  state.run = state.runs.find((r) => r.name === name);
  const r = state.run, latent = r.kind === "latent";
  $("latent").hidden = !latent; $("codes").hidden = latent;
  $("about").textContent = `${r.model}, ${r.images} held-out images` + (latent ? `, ${r.latent_dim} latents` : `, ${r.num_codes} codes`);
  if (latent) {
    const dims = [...Array(r.latent_dim).keys()];
    options($("xdim"), dims); options($("ydim"), dims);
    $("xdim").value = r.order[0]; $("ydim").value = r.order[Math.min(1, r.latent_dim - 1)];
    $("labelbox").hidden = !r.conditional;
    if (r.conditional) options($("label"), [...Array(r.classes).keys()], r.class_names);
    buildSliders();
    await loadPlane(); await startAt(0);
  } else {
    $("paint").max = r.num_codes - 1;
    $("prior").hidden = !r.can_sample;
    await showGrid(0); await drawUsage();
  }
}
async function main() {
  state.runs = await api("/api/runs");
  options($("run"), state.runs.map((r) => r.name));
  $("run").addEventListener("change", () => openRun($("run").value));
  $("plane").addEventListener("pointerdown", onDrag);
  $("plane").addEventListener("pointermove", onDrag);
  $("xdim").addEventListener("change", loadPlane); $("ydim").addEventListener("change", loadPlane);
  $("label").addEventListener("change", decode);
  $("base").addEventListener("change", () => startAt(Number($("base").value)));
  $("t").addEventListener("input", interpolate); $("method").addEventListener("change", interpolate);
  $("cindex").addEventListener("change", () => showGrid(Number($("cindex").value)));
  $("draw").addEventListener("click", drawSample);
  await openRun(state.runs[0].name);
  document.body.dataset.ready = "true";  // the browser tests wait for this
}
main();
