// The latent explorer's page: plain DOM and canvas, no library, nothing fetched from outside.
"use strict";
const $ = (id) => document.getElementById(id);
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
// codes: the code grid shown, flattened in the model's code_shape order; replay: counts the grids
// shown, so that a sample's replay stops when another grid replaces it
const state = { runs: [], run: null, nextEnd: 0, codes: null, sampling: false, replay: 0 };
const STRIP_STEPS = 9;  // images decoded along an interpolation path

async function api(path, body) {
  const options = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) { $("status").textContent = data.error; throw new Error(data.error); }
  $("status").textContent = "";
  return data;
}
const runPath = (run, what) => `/api/${encodeURIComponent(run.name)}/${what}`;
const dot = (a, b) => a.reduce((sum, v, i) => sum + v * b[i], 0);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const clampIndex = (value, run) => Math.min(Math.max(Number(value) || 0, 0), run.images - 1);
// an event's work, a refused request being already on the status line rather than thrown again
const quietly = (work) => (...args) => Promise.resolve(work(...args)).catch(() => {});
// run r's two default plane dimensions: its two most informative
const defaultDims = (r) => [r.order[0], r.order[Math.min(1, r.latent_dim - 1)]];

// ---- a plane through one run's latent space: the held-out codes, a point to drag, its decoded image.
// The server gives the plane as an origin and two orthonormal axes: a code z sits at
// ((z - origin) . axes[0], (z - origin) . axes[1]), and moving the point changes z within the plane only.
class Plane {
  constructor(ids, labelSelect) {
    Object.assign(this, { canvas: $(ids[0]), image: $(ids[1]), caption: $(ids[2]), title: $(ids[3]), labelSelect,
                          run: null, z: [], plane: null, box: null, ends: null, path: null, busy: false, pending: false,
                          loads: 0, onDecoded: null });
  }
  async load(run, query) {  // the latest call wins: an answer for an earlier one is dropped
    const mine = ++this.loads;
    const plane = await api(runPath(run, `plane?${query}`));
    if (mine !== this.loads) return false;
    Object.assign(this, { run, plane });
    this.title.textContent = `${run.name}: ${run.model}, ${run.latent_dim} latents`;
    const xs = plane.points.map((p) => p[0]), ys = plane.points.map((p) => p[1]);
    const pad = (lo, hi) => { const m = 0.1 * (hi - lo || 1); return [lo - m, hi + m]; };
    const [x0, x1] = pad(Math.min(...xs), Math.max(...xs)), [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
    this.box = { x0, x1, y0, y1 };
    this.draw();
    return true;
  }
  label() { return Math.min(Number(this.labelSelect.value) || 0, this.run.classes - 1); }
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
    if (!this.plane || this.z.length !== this.plane.origin.length) return;
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
      const r = this.run, everyClass = r.conditional && this.onDecoded;  // the main plane shows each class
      const classes = everyClass ? [...Array(r.classes).keys()] : r.conditional ? [this.label()] : null;
      const body = classes ? { points: classes.map(() => this.z), labels: classes } : { points: [this.z] };
      const images = (await api(runPath(r, "decode"), body)).images, shown = everyClass ? this.label() : 0;
      if (r !== this.run) return;  // another run was opened meanwhile
      this.image.src = images[shown];
      if (this.onDecoded) this.onDecoded(images, shown);
    } catch {
      // refused: the status line says why, and the last image stays
    } finally {
      this.busy = false;
      if (this.pending) { this.pending = false; this.decode(); }
    }
  }
}
const main = new Plane(["plane", "decoded", "zinfo", "name1"], $("label"));
const beside = new Plane(["plane2", "decoded2", "zinfo2", "name2"], $("label2"));
main.onDecoded = (images, label) => {
  document.querySelectorAll("img.current").forEach((img) => { img.src = images[label]; });
  if (main.run.conditional) fillStrip($("classes"), images, main.run.class_names, label);
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
function planeQuery(run) {
  if ($("axes").value === "pca" && run.latent_dim >= 2) return "axes=pca";
  let [x, y] = [Number($("xdim").value), Number($("ydim").value)];
  const fits = Math.max(x, y) < run.latent_dim && (x !== y || run.latent_dim === 1);
  if (!fits) [x, y] = defaultDims(run);  // the beside run when the main run's dimensions do not fit it
  return `axes=dims&x=${x}&y=${y}`;
}
async function loadPlanes() {
  $("dimpick").hidden = $("axes").value === "pca";
  await main.load(state.run, planeQuery(state.run));
  if (!$("besidepanel").hidden) await beside.load(beside.run, planeQuery(beside.run));
}
function onPointer(plane, moved, event) {
  if (!plane.plane || (event.type === "pointermove" && !(event.buttons & 1))) return;
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
  $("label2box").hidden = !other.conditional;
  if (other.conditional) classOptions($("label2"), other);
  const start = await api(runPath(other, "image/0"));  // the other run starts at held-out image 0's code
  if (!(await beside.load(other, planeQuery(other)))) return;
  beside.z = start.z;
  if (other.conditional && start.label !== null) $("label2").value = start.label;  // and its label
  besideMoved();
}

// ---- traversal sliders and interpolation
function buildSliders() {
  const box = $("sliders"), r = state.run;
  box.innerHTML = "";
  r.order.forEach((d) => {
    const label = document.createElement("label"), reach = r.limits[d];  // the codes' own range, at least +-4
    const input = Object.assign(document.createElement("input"), { type: "range", min: -reach, max: reach, step: 0.01, id: `dim${d}` });
    input.addEventListener("input", () => { main.z[d] = Number(input.value); main.draw(); main.decode(); });
    label.append(`z${String(d).padEnd(3)} (${r.activity[d].toFixed(2)}) `, input);
    box.append(label);
  });
}
function syncSliders() { main.z.forEach((v, d) => { const s = $(`dim${d}`); if (s) s.value = v; }); }
async function startAt(index) {
  const r = state.run, data = await api(runPath(r, `image/${index}`));
  if (r !== state.run) return;
  main.z = data.z;
  if (r.conditional && data.label !== null) $("label").value = data.label;
  mainMoved();
}
async function loadPath() {  // the whole path once (101 points); the slider only picks one of them
  const r = state.run, body = { start: Number($("from").value), end: Number($("to").value), method: $("method").value };
  const path = (await api(runPath(r, "path"), body)).path;
  if (r !== state.run) return;
  Object.assign(main, { path, ends: [body.start, body.end] });
  main.draw();
  const points = [...Array(STRIP_STEPS).keys()].map((k) => path[Math.round(k * 100 / (STRIP_STEPS - 1))]);
  const request = r.conditional ? { points, labels: points.map(() => main.label()) } : { points };
  const images = (await api(runPath(r, "decode"), request)).images;
  if (r === state.run) fillStrip($("strip"), images);
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

// ---- code grids: an image's codes, one table per grid the model lays them out in (code_tables),
// repainted cell by cell; the codes themselves kept flat, in code_shape's order
function nest(flat, shape) {  // a flat list -> nested lists of `shape`
  if (shape.length === 1) return flat.slice();
  const step = flat.length / shape[0];
  return [...Array(shape[0]).keys()].map((i) => nest(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
}
async function showGrid(index) {
  const r = state.run, data = await api(runPath(r, `image/${index}`));
  if (r !== state.run) return;
  state.replay += 1;  // a sample being replayed stops here
  $("original").src = data.image; $("original").parentElement.hidden = false;
  state.codes = data.codes.flat(Infinity);
  drawGrid(); await paintDecode();
}
function drawGrid() {
  const box = $("grids");
  box.innerHTML = "";
  let offset = 0;
  state.run.tables.forEach(({ name, rows, cols }) => {
    const table = document.createElement("table"), start = offset;
    if (state.run.tables.length > 1) table.createCaption().textContent = name;
    for (let i = 0; i < rows; i++) {
      const tr = table.insertRow();
      for (let j = 0; j < cols; j++) {
        const td = tr.insertCell(), at = start + i * cols + j;
        td.textContent = state.codes[at];
        td.addEventListener("click", () => paintCell(at));
      }
    }
    box.append(table);
    offset += rows * cols;
  });
}
function paintCell(at) {
  if (state.sampling) return;
  state.codes[at] = Number($("paint").value);
  drawGrid(); quietly(paintDecode)();
}
async function paintDecode() {
  const r = state.run, image = (await api(runPath(r, "decode_codes"), { codes: nest(state.codes, r.code_shape) })).image;
  if (r === state.run) $("painted").src = image;
}

// ---- sampling: the prior's codes revealed in the order they were drawn (code_shape's, flattened),
// with the server's pictures of the grid decoded as it fills (frame f once sample.shown[f] codes are drawn)
async function drawSample() {
  const run = state.run, label = run.conditional ? `&label=${$("priorlabel").value}` : "", seed = Number($("seed").value);
  const sample = await api(runPath(run, `sample?seed=${seed}${label}`));
  if (run !== state.run) return;
  const target = sample.codes.flat(Infinity), mine = ++state.replay;
  const pace = () => Math.max(0, Number($("pace").value) || 0);  // read at each code: it can change mid-way
  state.codes = target.map(() => "?");
  $("original").parentElement.hidden = true;  // the grid is no longer that image's (showGrid brings it back)
  state.sampling = true; $("draw").disabled = true; $("paintedinfo").textContent = "the codes drawn so far, decoded";
  let frame = -1, framesShown = 0;
  try {
    for (let k = 0; k <= target.length; k++) {
      if (mine !== state.replay || run !== state.run) return;  // another grid or run was opened meanwhile
      if (k > 0) { state.codes[k - 1] = target[k - 1]; drawGrid(); }
      const reached = sample.shown.filter((n) => n <= k).length - 1;
      if (reached !== frame) { frame = reached; $("painted").src = sample.frames[frame]; framesShown += 1; }
      document.body.dataset.revealed = String(k);  // the screenshot script waits for this
      if (k < target.length) await sleep(pace());
    }
  } finally {
    state.sampling = false; $("draw").disabled = false; $("paintedinfo").textContent = "its codes, decoded";
  }
  $("seed").value = seed + 1;
  document.body.dataset.framesShown = String(framesShown);
  document.body.dataset.sampled = String(seed);  // the browser tests wait for this
}

async function drawUsage() {
  const r = state.run, books = (await api(runPath(r, "usage"))).books;
  if (r !== state.run) return;
  const box = $("usagecharts");
  box.innerHTML = "";
  $("usageinfo").textContent = books.map(({ name, counts }) =>
    `${books.length > 1 ? name + ": " : ""}${counts.filter((n) => n > 0).length} of ${counts.length} codes used`).join("; ")
    + " by the held-out images";
  books.forEach(({ counts }) => {
    const c = Object.assign(document.createElement("canvas"), { width: 720, height: books.length > 1 ? 100 : 160 });
    const g = c.getContext("2d"), top = Math.max(...counts, 1), w = c.width / counts.length;
    g.fillStyle = "#1f77b4";
    counts.forEach((n, k) => { const h = n / top * (c.height - 4); g.fillRect(k * w, c.height - h, Math.max(w - 0.5, 0.5), h); });
    box.append(c);
  });
}

// ---- choosing a run
function options(select, values, names) {
  select.innerHTML = "";
  values.forEach((v, i) => select.append(new Option(names ? names[i] : String(v), v)));
}
const classOptions = (select, r) => options(select, [...Array(r.classes).keys()], r.class_names);
async function openLatent(r) {
  options($("xdim"), [...Array(r.latent_dim).keys()]); options($("ydim"), [...Array(r.latent_dim).keys()]);
  [$("xdim").value, $("ydim").value] = defaultDims(r);
  $("axes").options[1].disabled = r.latent_dim < 2;
  if (r.latent_dim < 2) $("axes").value = "dims";
  $("dimpick").hidden = $("axes").value === "pca";
  $("classbox").hidden = !r.conditional;
  if (r.conditional) classOptions($("label"), r);
  const others = state.runs.filter((o) => o.kind === "latent" && o !== r);
  options($("beside"), ["", ...others.map((o) => o.name)], ["no other run", ...others.map((o) => o.name)]);
  $("besidebox").hidden = others.length === 0;
  $("besidepanel").hidden = true;
  for (const id of ["base", "from", "to"]) $(id).max = r.images - 1;
  $("base").value = clampIndex($("base").value, r);
  $("from").value = clampIndex($("from").value, r); $("to").value = clampIndex($("to").value, r);
  Object.assign(main, { path: null, ends: null, z: [] });
  $("strip").innerHTML = ""; $("classes").innerHTML = "";
  buildSliders();
  if (!(await main.load(r, planeQuery(r)))) return;
  await startAt(Number($("base").value));
  await loadPath();
}
async function openCodes(r) {
  $("paint").max = r.num_codes - 1;
  $("cindex").max = r.images - 1;
  $("cindex").value = clampIndex($("cindex").value, r);
  $("prior").hidden = !r.can_sample;
  $("priorlabelbox").hidden = !r.conditional;
  if (r.conditional) classOptions($("priorlabel"), r);
  await showGrid(Number($("cindex").value));
  await drawUsage();
}
async function openRun(name) {
  const r = state.runs.find((o) => o.name === name), latent = r.kind === "latent";
  state.run = r;
  $("latent").hidden = !latent; $("codes").hidden = latent;
  $("about").textContent = `${r.model}, ${r.images} held-out images` + (latent ? `, ${r.latent_dim} latents` : `, ${r.num_codes} codes`);
  await (latent ? openLatent(r) : openCodes(r));
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
  on("label2", "change", () => beside.decode());
  on("base", "change", () => startAt(clampIndex($("base").value, state.run)));
  for (const id of ["from", "to", "method"]) on(id, "change", loadPath);
  on("t", "input", scrub);
  on("cindex", "change", () => showGrid(clampIndex($("cindex").value, state.run)));
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
