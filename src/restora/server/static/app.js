// Restora web page: upload images as jobs, follow them, compare before/after at 100% zoom.
// Plain JavaScript, no libraries and nothing loaded from elsewhere: it works offline.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 400;
const UPLOADS_AT_ONCE = 2;

const state = {
  models: [],
  maxUploadBytes: Infinity,
  jobs: [],          // {file, name, row, id, status, progress, error, info}
  pending: [],       // jobs waiting to be uploaded
  uploading: 0,
  current: null,     // job shown in the viewer
  layer: "result",
  split: 0.5,        // divider position as a fraction of the stage width
  pan: { x: 0, y: 0 },
};

// ---- settings -----------------------------------------------------------------------------------

async function loadSettings() {
  const [models, health] = await Promise.all([fetch("/api/models"), fetch("/healthz")]);
  state.models = await models.json();
  state.maxUploadBytes = (await health.json()).max_upload_bytes;
  // auto (detect the degradation) is offered when an all-in-one model is installed: such models list it.
  const tasks = [...new Set(state.models.flatMap((m) => m.tasks))];
  const taskSelect = $("task");
  const TASK_LABELS = { auto: "auto (detect)", repair: "repair (old-photo damage)", stylize: "stylize (a creative look)" };
  taskSelect.replaceChildren(...tasks.map((t) => new Option(TASK_LABELS[t] || t, t)));
  if (tasks.includes("denoise")) taskSelect.value = "denoise";
  fillModels();
}

function fillModels() {
  const task = $("task").value;
  const models = state.models.filter((m) => m.tasks.includes(task));
  const fallback = models.find((m) => m.default_for.includes(task));
  const options = [new Option(fallback ? `default (${fallback.name})` : "default", "")];
  for (const m of models) options.push(new Option(`${m.name} — ${m.description}`, m.name));
  $("model").replaceChildren(...options);
  $("mask-label").hidden = task !== "repair";  // a mask goes with repair only
}

function settings() {
  return {
    task: $("task").value,
    model: $("model").value,
    sigma: $("sigma").value.trim(),
    strength: $("strength").value,
  };
}

// Task repair: the chosen mask file (white = fill), sent with the photos added while it is chosen.
function chosenMask() {
  const input = $("mask");
  return $("task").value === "repair" && input.files.length ? input.files[0] : null;
}

// ---- files and jobs -----------------------------------------------------------------------------

function addFiles(fileList) {
  for (const file of fileList) {
    const job = { file, name: file.name, id: null, status: "waiting", progress: 0, error: null, info: null,
                  options: settings(), mask: chosenMask() };
    job.row = makeRow(job);
    state.jobs.push(job);
    state.pending.push(job);
    render(job);
  }
  $("empty").hidden = state.jobs.length > 0;
  pumpUploads();
}

function makeRow(job) {
  const li = document.createElement("li");
  li.className = "job";
  li.innerHTML = `<span class="name"></span><span class="state"></span><progress max="1" value="0"></progress>
    <span class="actions"><button type="button" class="view" disabled>View</button>
    <a class="button download disabled" aria-disabled="true">Download</a></span>`;
  li.querySelector(".name").textContent = job.name;
  li.querySelector(".name").title = job.name;
  li.querySelector(".view").addEventListener("click", () => {
    show(job);
    $("viewer").scrollIntoView({ behavior: "smooth", block: "start" });
  });
  $("jobs").append(li);
  return li;
}

function render(job) {
  const row = job.row;
  row.classList.toggle("failed", job.status === "failed");
  row.classList.toggle("current", job === state.current);
  row.dataset.status = job.status;
  row.querySelector("progress").value = job.status === "done" ? 1 : job.progress;
  let text = job.status;
  if (job.status === "uploading" || job.status === "running") text += ` ${Math.round(job.progress * 100)}%`;
  if (job.status === "done" && job.info) {
    const sigma = job.info.sigma ? ` · σ ${mean(job.info.sigma).toFixed(1)}` : "";
    const r = job.info.reliability;
    const gain = r ? ` · gain ${signed(r.gain_db)} dB${r.out_of_range ? " · out of range" : ""}` : "";
    const d = job.info.detection;
    const found = d ? ` · ${d.detected.map((t) => `${degradation(t)} ${percent(d.probabilities[t])}`).join(", ")}` : "";
    text = `done · ${job.info.model}${found}${sigma} · ${job.info.seconds.toFixed(2)} s${gain}`;
  }
  if (job.status === "failed") text = job.error || "failed";
  const stateEl = row.querySelector(".state");
  stateEl.textContent = text;
  stateEl.title = text;
  const done = job.status === "done";
  const view = row.querySelector(".view");
  view.disabled = !done;
  view.title = job.status === "failed" ? "Failed: nothing to view" : done ? "Compare before and after" : "Not done yet";
  const link = row.querySelector(".download");
  link.classList.toggle("disabled", !done);
  link.setAttribute("aria-disabled", String(!done));
  if (done) link.href = `/api/jobs/${job.id}/result`;
  updateDownloadAll();
}

function updateDownloadAll() {
  const ids = state.jobs.filter((j) => j.status === "done").map((j) => j.id);
  const link = $("download-all");
  link.classList.toggle("disabled", ids.length === 0);
  link.setAttribute("aria-disabled", String(ids.length === 0));
  if (ids.length) link.href = `/api/jobs/zip?ids=${ids.join(",")}`;
  else link.removeAttribute("href");
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const signed = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(1)}`;
const percent = (p) => `${Math.round(p * 100)}%`;
// Task auto reports degradations by the task that removes them.
const DEGRADATIONS = { denoise: "noise", deblur: "blur", derain: "rain", dehaze: "haze", lowlight: "low light" };
const degradation = (task) => DEGRADATIONS[task] || task;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function pumpUploads() {
  while (state.uploading < UPLOADS_AT_ONCE && state.pending.length) {
    const job = state.pending.shift();
    state.uploading += 1;
    upload(job).finally(() => {
      state.uploading -= 1;
      pumpUploads();
    });
  }
}

// XMLHttpRequest rather than fetch: it reports upload progress.
function post(job) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("file", job.file, job.file.name);
    if (job.mask) form.append("mask", job.mask, job.mask.name);
    for (const [key, value] of Object.entries(job.options)) if (value !== "") form.append(key, value);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) {
        job.progress = e.loaded / e.total;
        render(job);
      }
    };
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.response,
                                 retryAfter: Number(xhr.getResponseHeader("Retry-After")) || 2 });
    xhr.onerror = () => resolve({ status: 0, body: { detail: "the server could not be reached" } });
    xhr.send(form);
  });
}

async function upload(job) {
  if (job.file.size > state.maxUploadBytes) {  // the server would refuse it (413): say so without sending it
    job.status = "failed";
    job.error = `larger than the server's ${state.maxUploadBytes / 1e6} MB limit`;
    render(job);
    return;
  }
  for (;;) {
    job.status = "uploading";
    job.progress = 0;
    render(job);
    const answer = await post(job);
    if (answer.status === 200) {
      job.id = answer.body.id;
      job.status = "queued";
      job.progress = 0;
      render(job);
      follow(job);
      return;
    }
    if (answer.status === 503) {  // queue full: wait as the server asks, then try again
      job.status = "waiting";
      render(job);
      await sleep(answer.retryAfter * 1000);
      continue;
    }
    job.status = "failed";
    job.error = (answer.body && answer.body.detail) || `upload failed (HTTP ${answer.status})`;
    render(job);
    return;
  }
}

async function follow(job) {
  while (job.status === "queued" || job.status === "running") {
    await sleep(POLL_MS);
    let response;
    try {
      response = await fetch(`/api/jobs/${job.id}`);
    } catch {
      continue;  // transient network error: keep polling
    }
    const body = await response.json();
    if (!response.ok) {
      job.status = "failed";
      job.error = body.detail;
    } else {
      job.status = body.status;
      job.progress = body.progress;
      job.error = body.error;
      job.info = body;
    }
    render(job);
  }
  if (job.status === "done" && (state.current === null || state.current.status !== "done")) show(job);
}

// ---- viewer -------------------------------------------------------------------------------------

function layerUrl(job, layer) {
  if (layer === "result") return `/api/jobs/${job.id}/preview?which=result`;
  return `/api/jobs/${job.id}/${layer}`;
}

function show(job) {
  const previous = state.current;
  state.current = job;
  if (previous) render(previous);
  render(job);
  $("viewer").hidden = false;
  $("viewer-name").textContent = job.name;
  $("viewer-name").title = job.name;
  const before = $("before");
  before.onload = () => {
    centre();
    place();
  };
  before.src = `/api/jobs/${job.id}/preview?which=input`;
  showLayer();
  showReliability(job);
  showDetection(job);
  const scale = job.info && job.info.noise_map_scale;
  $("noise-map-scale").textContent = scale ? `${scale}` : "the photo's own scale";
}

// Task auto: what was detected (every type's probability and strength) and which model restored the photo.
function showDetection(job) {
  const box = $("detection");
  const d = job.info && job.info.detection;
  box.hidden = !d;
  if (!d) return;
  const found = d.detected.map((t) => `${degradation(t)} ${percent(d.probabilities[t])} ` +
    `(strength ${d.strengths[t].toFixed(2)})`);
  if (d.damaged_share !== null && d.damaged_share !== undefined) {
    found.push(`damage ${(100 * d.damaged_share).toFixed(1)}% of pixels`);
  }
  $("detection-line").textContent = `Detected: ${found.join(", ")}; restored by ${d.model} (${d.task}).`;
  const order = Object.keys(d.probabilities).sort((a, b) => d.probabilities[b] - d.probabilities[a]);
  $("detection-rows").replaceChildren(...order.map((t) => {
    const row = document.createElement("tr");
    row.classList.toggle("found", d.detected.includes(t));
    for (const text of [degradation(t), percent(d.probabilities[t]), d.strengths[t].toFixed(2)]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  }));
}

// How far to trust the result (denoising jobs): predicted gain, confidence and out-of-range warnings.
function showReliability(job) {
  const box = $("reliability");
  const r = job.info && job.info.reliability;
  box.hidden = !r;
  if (!r) return;
  let text = `Reliability: predicted gain ${signed(r.gain_db)} dB (${signed(r.low_db)} to ${signed(r.high_db)} dB), ` +
    `${r.confidence} confidence${r.reason && !r.out_of_range ? `: ${r.reason}` : ""}.`;
  if (r.calibrated_for && r.model && r.calibrated_for !== r.model) {
    text += ` Indicative only: the predictor was fitted for ${r.calibrated_for}, not ${r.model}.`;
  }
  if (r.out_of_range) text += " Out of range:";
  $("reliability-line").textContent = text;
  box.classList.toggle("warning", r.out_of_range);
  $("reliability-flags").replaceChildren(...Object.values(r.flags).map((reason) => {
    const item = document.createElement("li");
    item.textContent = reason;
    return item;
  }));
}

function showLayer() {
  const job = state.current;
  if (!job) return;
  const after = $("after");
  after.dataset.layer = state.layer;
  after.onload = place;
  after.src = layerUrl(job, state.layer);
  const names = { result: "After", "noise-map": "Noise map", residual: "Residual" };
  $("after-tag").textContent = names[state.layer];
  for (const layer of Object.keys(names)) $(`legend-${layer}`).hidden = layer !== state.layer;
}

// 100% zoom: one image pixel per device pixel.
function displaySize() {
  const img = $("before");
  const ratio = window.devicePixelRatio || 1;
  return { w: img.naturalWidth / ratio, h: img.naturalHeight / ratio };
}

function centre() {
  const stage = $("stage").getBoundingClientRect();
  const size = displaySize();
  state.pan = { x: (stage.width - size.w) / 2, y: (stage.height - size.h) / 2 };
}

// Keep the image covering the stage where it is larger than it, centred where it is smaller.
function clampPan() {
  const stage = $("stage").getBoundingClientRect();
  const size = displaySize();
  for (const [axis, view, extent] of [["x", stage.width, size.w], ["y", stage.height, size.h]]) {
    state.pan[axis] = extent <= view ? (view - extent) / 2 : Math.min(0, Math.max(view - extent, state.pan[axis]));
  }
}

function place() {
  clampPan();
  const size = displaySize();
  for (const img of [$("before"), $("after")]) {
    img.style.width = `${size.w}px`;
    img.style.height = `${size.h}px`;
    img.style.transform = `translate(${state.pan.x}px, ${state.pan.y}px)`;
  }
  const percent = (state.split * 100).toFixed(2);
  $("after-clip").style.clipPath = `inset(0 0 0 ${percent}%)`;
  $("divider").style.left = `${percent}%`;
  $("split").value = String(Math.round(state.split * 100));
}

function setupStage() {
  const stage = $("stage");
  let drag = null;
  stage.addEventListener("pointerdown", (e) => {
    const box = stage.getBoundingClientRect();
    const nearDivider = Math.abs(e.clientX - box.left - state.split * box.width) < 10;
    drag = nearDivider ? { mode: "split" } : { mode: "pan", x: e.clientX, y: e.clientY, pan: { ...state.pan } };
    stage.classList.add(nearDivider ? "splitting" : "panning");
    stage.setPointerCapture(e.pointerId);
  });
  stage.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const box = stage.getBoundingClientRect();
    if (drag.mode === "split") {
      state.split = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
    } else {
      state.pan = { x: drag.pan.x + e.clientX - drag.x, y: drag.pan.y + e.clientY - drag.y };
    }
    place();
  });
  const end = () => {
    drag = null;
    stage.classList.remove("splitting", "panning");
  };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);
  $("split").addEventListener("input", (e) => {
    state.split = Number(e.target.value) / 100;
    place();
  });
  for (const radio of document.querySelectorAll('input[name="layer"]')) {
    radio.addEventListener("change", (e) => {
      state.layer = e.target.value;
      showLayer();
    });
  }
  window.addEventListener("resize", () => state.current && place());
}

// ---- start --------------------------------------------------------------------------------------

function setupDrop() {
  const drop = $("drop");
  const files = $("files");
  $("pick").addEventListener("click", () => files.click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") files.click();
  });
  files.addEventListener("change", () => {
    addFiles(files.files);
    files.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    addFiles(e.dataTransfer.files);
  });
  // A file dropped beside the zone must not make the browser navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

document.addEventListener("DOMContentLoaded", () => {
  $("task").addEventListener("change", fillModels);
  $("strength").addEventListener("input", (e) => {
    $("strength-value").value = Number(e.target.value).toFixed(2);
  });
  setupDrop();
  setupStage();
  loadSettings().catch(() => {
    $("empty").textContent = "Could not load the list of models: is the server running?";
  });
});
