// The latent explorer's page: plain DOM and canvas, no library, nothing fetched from outside.
"use strict";
const $ = (id) => document.getElementById(id);
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const state = { runs: [], run: null, nextEnd: 0, codes: null, sampling: false };
const STRIP_STEPS = 9;  // images decoded along an interpolation path

async function api(path, body) {
  const options = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) { $("status").textContent = data.error; throw new Error(data.error); }
  $("status").textContent = "";
  return data;
}
const runPath = (run, what) => `/api/${encodeURIComponent(run.name)}/${what}`;
const dot = (a, b) => a.reduce((sum, v, i) => sum + v * b[i], 0);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
// an event's work, a refused request being already on the status line rather than thrown again
const quietly = (work) => (...args) => Promise.resolve(work(...args)).catch(() => {});
const currentLabel = (run) => Math.min(Number($("label").value) || 0, run.classes - 1);

// ---- a plane through one run's latent space: the held-out codes, a point to drag, its decoded image.
// The server gives the plane as an origin and two orthonormal axes: a code z sits at
// ((z - origin) . axes[0], (z - origin) . axes[1]), and moving the point changes z within the plane only.
class Plane {
  constructor(canvas, image, caption, title) {
    Object.assign(this, { canvas, image, caption, title, run: null, z: [], plane: null, box: null, ends: null, path: null,
                          busy: false, pending: false, onDecoded: null });
  }
  async load(run, query) {
    this.run = run;
    this.title.textContent = `${run.name}: ${run.model}, ${run.latent_dim} latents`;
    this.plane = await api(runPath(run, `plane?${query}`));
    const xs = this.plane.points.map((p) => p[0]), ys = this.plane.points.map((p) => p[1]);
    const pad = (lo, hi) => { const m = 0.1 * (hi - lo || 1); return [lo - m, hi + m]; };
    const [x0, x1] = pad(Math.min(...xs), Math.max(...xs)), [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
    this.box = { x0, x1, y0, y1 };
    this.draw();
  }
  coords(z) { return this.plane.axes.map((u) => dot(z.map((v, i) => v - this.plane.origin[i]), u)); }
  moveTo(a, b) {
    const [a0, b0] = this.coords(this.z), [u, w] = this.plane.axes;
    this.z = this.z.map((v, i) => v + (a - a0) * u[i] + (b - b0) * w[i]);
  }
  toCanvas([a, b]) {
    const c = this.canvas, k = this.box;
    return [(a - k.x0) / (k.x1 - k.x0) * c.width, c.height - (b - k.y0) / (k.y1 - k.y0) * c.height];
  }
  fromCanvas(px, py) {
    const c = this.canvas, k = this.box;
    return [k.x0 + px / c.width * (k.x1 - k.x0), k.y0 + (c.height - py) / c.height * (k.y1 - k.y0)];
  }
  nearest(px, py) {  // the held-out image whose code is drawn closest to (px, py)
    const far = this.plane.points.map((p) => { const [x, y] = this.toCanvas(p); return (x - px) ** 2 + (y - py) ** 2; });
    return far.indexOf(Math.min(...far));
  }
  draw() {
    if (!this.plane) return;
    const c = this.canvas, g = c.getContext("2d"), labels = this.plane.labels;
    g.clearRect(0, 0, c.width, c.height);
    this.plane.points.forEach((p, i) => {
      const [x, y] = this.toCanvas(p);
      g.fillStyle = labels ? COLOURS[labels[i] % COLOURS.length] : "#1f77b4";
      g.fillRect(x - 1.5, y - 1.5, 3, 3);
    });
    g.strokeStyle = "#000"; g.lineWidth = 2;
    if (this.path) {
      g.beginPath();
      this.path.forEach((z, k) => { const [x, y] = this.toCanvas(this.coords(z)); if (k) g.lineTo(x, y); else g.moveTo(x, y); });
      g.stroke();
    }
    (this.ends || []).forEach((i) => { const [x, y] = this.toCanvas(this.plane.points[i]); g.strokeRect(x - 6, y - 6, 12, 12); });
    const [a, b] = this.coords(this.z), [cx, cy] = this.toCanvas([a, b]), [xName, yName] = this.plane.names;
    g.beginPath(); g.arc(cx, cy, 7, 0, 2 * Math.PI); g.stroke();
    g.fillStyle = "#444"; g.font = "12px sans-serif";
    g.fillText(xName, c.width - g.measureText(xName).width - 4, c.height - 5); g.fillText(yName, 4, 14);
    this.caption.textContent = `(${a.toFixed(2)}, ${b.toFixed(2)}) on the plane`;
  }
  async decode() {  // one request in flight: a drag sends the latest point when the last answer is in
    if (this.busy) { this.pending = true; return; }
    this.busy = true;
    try {
      const r = this.run, classes = r.conditional ? [...Array(r.classes).keys()] : null;
      const body = classes ? { points: classes.map(() => this.z), labels: classes } : { points: [this.z] };
      const images = (await api(runPath(r, "decode"), body)).images, label = classes ? currentLabel(r) : 0;
      this.image.src = images[label];
      if (this.onDecoded) this.onDecoded(images, label);
    } catch {
      // refused: the status line says why, and the last image stays
    } finally {
      this.busy = false;
      if (this.pending) { this.pending = false; this.decode(); }
    }
  }
}
const main = new Plane($("plane"), $("decoded"), $("zinfo"), $("name1"));
const beside = new Plane($("plane2"), $("decoded2"), $("zinfo2"), $("name2"));
main.onDecoded = (images, label) => {
  document.querySelectorAll("img.current").forEach((img) => { img.src = images[label]; });
  if (state.run.conditional) fillStrip($("classes"), images, state.run.class_names, label);
};

function fillStrip(box, images, names, marked) {
  box.innerHTML = "";
  images.forEach((src, k) => {
    const figure = document.createElement("figure"), img = Object.assign(document.createElement("img"), { src, width: 84, height: 84 });
    if (k === marked) figure.className = "marked";
    figure.append(img);
    if (names) figure.append(Object.assign(document.createElement("figcaption"), { textContent: names[k] }));
    box.append(figure);
  });
}

// ---- the planes' axes, and pointer events on them
const xDim = () => Number($("xdim").value), yDim = () => Number($("ydim").value);
function planeQuery(run) {
  if ($("axes").value === "pca" && run.latent_dim >= 2) return "axes=pca";
  let [x, y] = [xDim(), yDim()];
  if (run !== state.run && Math.max(x, y) >= run.latent_dim) [x, y] = [run.order[0], run.order[Math.min(1, run.latent_dim - 1)]];
  return `axes=dims&x=${x}&y=${y}`;
}
async function loadPlanes() {
  $("dimpick").hidden = $("axes").value === "pca";
  await main.load(state.run, planeQuery(state.run));
  if (!$("besidepanel").hidden) await beside.load(beside.run, planeQuery(beside.run));
}
function onPointer(plane, moved, event) {
  if (event.type === "pointermove" && !(event.buttons & 1)) return;
  const rect = plane.canvas.getBoundingClientRect(), px = event.clientX - rect.left, py = event.clientY - rect.top;
  if ($("clickmode").value === "pick") {
    if (event.type === "pointerdown" && plane === main) quietly(pickEnd)(main.nearest(px, py));
    return;
  }
  plane.moveTo(...plane.fromCanvas(px, py));
  moved();
}
function mainMoved() { syncSliders(); main.draw(); main.decode(); }
function besideMoved() { beside.draw(); beside.decode(); }
async function openBeside() {
  const other = state.runs.find((r) => r.name === $("beside").value);
  $("besidepanel").hidden = !other;
  if (!other) return;
  await beside.load(other, planeQuery(other));
  beside.z = (await api(runPath(other, "image/0"))).z;  // the same held-out image's code as the main plane starts at
  besideMoved();
}

// ---- traversal sliders and interpolation
function buildSliders() {
  const box = $("sliders"); box.innerHTML = "";
  state.run.order.forEach((d) => {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"), { type: "range", min: -4, max: 4, step: 0.01, id: `dim${d}` });
    input.addEventListener("input", () => { main.z[d] = Number(input.value); main.draw(); main.decode(); });
    label.append(`z${String(d).padEnd(3)} (${state.run.activity[d].toFixed(2)}) `, input);
    box.append(label);
  });
}
function syncSliders() { main.z.forEach((v, d) => { const s = $(`dim${d}`); if (s) s.value = v; }); }
async function startAt(index) {
  const data = await api(runPath(state.run, `image/${index}`));
  main.z = data.z;
  if (state.run.conditional && data.label !== null) $("label").value = data.label;
  mainMoved();
}
async function loadPath() {  // the whole path once (101 points); the slider only picks one of them
  const r = state.run, body = { start: Number($("from").value), end: Number($("to").value), method: $("method").value };
  main.path = (await api(runPath(r, "path"), body)).path;
  main.ends = [body.start, body.end];
  main.draw();
  const points = [...Array(STRIP_STEPS).keys()].map((k) => main.path[Math.round(k * 100 / (STRIP_STEPS - 1))]);
  const request = r.conditional ? { points, labels: points.map(() => currentLabel(r)) } : { points };
  fillStrip($("strip"), (await api(runPath(r, "decode"), request)).images);
}
function scrub() {
  if (!main.path) return;  // no path yet (its request was refused: the status line says why)
  main.z = main.path[Math.round(Number($("t").value) * 100)].slice(); mainMoved();
}
async function pickEnd(index) {  // clicks in "pick" mode: first the start, then the end, and so on
  $(state.nextEnd === 0 ? "from" : "to").value = index;
  state.nextEnd = 1 - state.nextEnd;
  await loadPath();
}

// ---- code grids: an image's codes, repainted cell by cell
async function showGrid(index) {
  const data = await api(runPath(state.run, `image/${index}`));
  $("original").src = data.image; $("original").parentElement.hidden = false;
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
      td.addEventListener("click", () => paintCell(i, j));
    });
  });
}
function paintCell(i, j) {
  if (state.sampling) return;
  const code = Number($("paint").value);
  if (Array.isArray(state.codes[0])) state.codes[i][j] = code; else state.codes[j] = code;
  drawGrid(); quietly(paintDecode)();
}
async function paintDecode() { $("painted").src = (await api(runPath(state.run, "decode_codes"), { codes: state.codes })).image; }

// ---- sampling: the prior's grid revealed in raster order (the order it was drawn in), with the
// server's pictures of the grid decoded as it fills (frame f once sample.shown[f] codes are drawn)
async function drawSample() {
  const seed = Number($("seed").value), pace = () => Math.max(0, Number($("pace").value) || 0);  // read at each code
  const run = state.run, label = run.conditional ? `&label=${$("priorlabel").value}` : "";
  const sample = await api(runPath(run, `sample?seed=${seed}${label}`));
  const target = sample.codes, nested = Array.isArray(target[0]);  // an (h, w) grid, or one row (VQ-VAE-2's joined levels)
  const cols = nested ? target[0].length : target.length, count = nested ? target.length * cols : cols;
  const total = sample.shown[sample.shown.length - 1];  // codes in all: more than cells when a cell holds a stack
  state.codes = nested ? target.map((row) => row.map(() => "?")) : target.map(() => "?");
  $("original").parentElement.hidden = true;  // the grid is no longer that image's (showGrid brings it back)
  state.sampling = true; $("draw").disabled = true; $("paintedinfo").textContent = "the codes drawn so far, decoded";
  let frame = -1, framesShown = 0;
  try {
    for (let k = 0; k <= count; k++) {
      if (state.run !== run) return;  // another run was opened meanwhile
      if (k > 0) {
        const i = Math.floor((k - 1) / cols), j = (k - 1) % cols;
        if (nested) state.codes[i][j] = target[i][j]; else state.codes[j] = target[j];
        drawGrid();
      }
      const reached = sample.shown.filter((n) => n <= k * total / count).length - 1;
      if (reached !== frame) { frame = reached; $("painted").src = sample.frames[frame]; framesShown += 1; }
      document.body.dataset.revealed = String(k);  // the screenshot script waits for this
      if (k < count) await sleep(pace());
    }
  } finally {
    state.sampling = false; $("draw").disabled = false; $("paintedinfo").textContent = "its grid, decoded";
  }
  $("seed").value = seed + 1;
  document.body.dataset.framesShown = String(framesShown);
  document.body.dataset.sampled = String(seed);  // the browser tests wait for this
}

async function drawUsage() {
  const counts = (await api(runPath(state.run, "usage"))).counts;
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
async function openLatent(r) {
  const dims = [...Array(r.latent_dim).keys()];
  options($("xdim"), dims); options($("ydim"), dims);
  $("xdim").value = r.order[0]; $("ydim").value = r.order[Math.min(1, r.latent_dim - 1)];
  $("axes").options[1].disabled = r.latent_dim < 2;
  if (r.latent_dim < 2) $("axes").value = "dims";
  $("classbox").hidden = !r.conditional;
  if (r.conditional) options($("label"), [...Array(r.classes).keys()], r.class_names);
  const others = state.runs.filter((o) => o.kind === "latent" && o !== r);
  options($("beside"), ["", ...others.map((o) => o.name)], ["no other run", ...others.map((o) => o.name)]);
  $("besidebox").hidden = others.length === 0;
  $("besidepanel").hidden = true;
  main.path = null; main.ends = null;
  buildSliders();
  await main.load(r, planeQuery(r));
  await startAt(Number($("base").value) < r.images ? Number($("base").value) : 0);
  await loadPath();
}
async function openRun(name) {
  state.run = state.runs.find((r) => r.name === name);
  const r = state.run, latent = r.kind === "latent";
  $("latent").hidden = !latent; $("codes").hidden = latent;
  $("about").textContent = `${r.model}, ${r.images} held-out images` + (latent ? `, ${r.latent_dim} latents` : `, ${r.num_codes} codes`);
  if (latent) {
    await openLatent(r);
  } else {
    $("paint").max = r.num_codes - 1;
    $("prior").hidden = !r.can_sample;
    $("priorlabelbox").hidden = !r.conditional;
    if (r.conditional) options($("priorlabel"), [...Array(r.classes).keys()], r.class_names);
    await showGrid(0); await drawUsage();
  }
}
function listen() {
  const on = (id, kind, work) => $(id).addEventListener(kind, quietly(work));
  on("run", "change", () => openRun($("run").value));
  for (const [plane, moved] of [[main, mainMoved], [beside, besideMoved]]) {
    for (const kind of ["pointerdown", "pointermove"]) plane.canvas.addEventListener(kind, (e) => onPointer(plane, moved, e));
  }
  for (const id of ["axes", "xdim", "ydim"]) on(id, "change", loadPlanes);
  on("beside", "change", openBeside);
  on("label", "change", () => Promise.all([main.decode(), loadPath()]));
  on("base", "change", () => startAt(Number($("base").value)));
  for (const id of ["from", "to", "method"]) on(id, "change", loadPath);
  on("t", "input", scrub);
  on("cindex", "change", () => showGrid(Number($("cindex").value)));
  on("draw", "click", drawSample);
}
async function start() {
  state.runs = await api("/api/runs");
  options($("run"), state.runs.map((r) => r.name));
  listen();
  await openRun(state.runs[0].name);
  document.body.dataset.ready = "true";  // the browser tests wait for this
}
start();
