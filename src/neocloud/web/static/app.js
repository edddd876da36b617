// The neocloud dashboard: pick or upload a scenario, change its main inputs, see the figures and charts
// recomputed (POST /api/preview), keep a run (POST /api/run), compare kept runs, download their files.
"use strict";

const FIGURES = [
  ["accelerators", "Accelerators", ""], ["facility_power_mw", "Facility power", "MW"],
  ["it_power_mw", "IT power", "MW"], ["pue", "PUE (annual)", ""],
  ["first_power_month", "First power", "months"], ["full_capacity_month", "Full capacity", "months"],
  ["annual_energy_mwh", "Energy per year", "MWh"], ["capex_usd", "Capex", "USD"],
  ["opex_usd_per_year", "Opex per year", "USD"], ["cost_usd_per_gpu_hour", "Cost per GPU-hour", "USD"],
  ["npv_usd", "NPV", "USD"], ["equity_irr", "Equity IRR", ""], ["min_dscr", "Min DSCR", ""],
  ["peak_bf16_pflops", "Peak BF16", "PFLOP/s"], ["co2_t_per_year", "CO2 per year", "t"],
];
const NUMBER_INPUTS = ["accelerators", "buildings", "power_price_usd_per_mwh", "price_usd_per_gpu_hour",
  "utilisation", "discount_rate"];
const state = { baseText: null, base: null, sequence: 0, timer: null, supported: [], lastScenario: null, example: null };

const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem("neocloud-token") || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) { $("token-box").hidden = false; throw new Error("this server needs an API token"); }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? cleanMessage(body.detail)
        : (body.detail || []).map((item) => `${fieldOf(item.loc)}${cleanMessage(item.msg)}`).join("; ");
    } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}

// Where a request's field sits, without the request's own wrapping (body, query, inputs): "accelerators: ".
const WRAPPERS = ["body", "query", "path", "header", "inputs"];
function fieldOf(loc) {
  const parts = (loc || []).map(String);
  while (parts.length && WRAPPERS.includes(parts[0])) parts.shift();
  return parts.length ? `${parts.join(".")}: ` : "";
}

// A message as a person reads it: no "Value error," from the validator, no internal "body.inputs." paths.
function cleanMessage(text) {
  return String(text || "").replace(/^(Value error|Assertion failed),\s*/i, "")
    .replace(/\b(body|query)\.(inputs\.)?/g, "");
}

function format(value, unit) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(2);
  if (unit === "USD" && Math.abs(value) >= 1e9) return `$${(value / 1e9).toFixed(2)} bn`;
  if (unit === "USD" && Math.abs(value) >= 1e6) return `$${(value / 1e6).toFixed(1)} m`;
  if (unit === "USD") return `$${value.toLocaleString(undefined, { maximumSignificantDigits: 3 })}`;
  const shown = Math.abs(value) >= 1e4 ? Math.round(value).toLocaleString()
    : value.toLocaleString(undefined, { maximumSignificantDigits: 4 });
  return unit && unit !== "USD" ? `${shown} ${unit}` : shown;
}

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

function renderFigures(summary, figures) {
  const box = $("figures");
  box.innerHTML = "";
  if (figures) {  // the server's formatting layer: the same text as the CLI and the report
    for (const figure of figures) {
      const item = document.createElement("div");
      item.className = "figure";
      item.dataset.key = figure.key;
      item.title = figure.description;
      for (const [name, text] of [["label", figure.label], ["value", figure.value], ["range", figure.range]]) {
        if (!text) continue;
        const part = document.createElement("div");
        part.className = name;
        part.textContent = text;
        item.appendChild(part);
      }
      box.appendChild(item);
    }
    return;
  }
  for (const [key, label, unit] of FIGURES) {
    if (!(key in summary)) continue;
    const item = document.createElement("div");
    item.className = "figure";
    item.dataset.key = key;
    const range = (`${key}_p10` in summary)
      ? `<div class="range">P10–P90 ${format(summary[`${key}_p10`], unit)} – ${format(summary[`${key}_p90`], unit)}</div>` : "";
    item.innerHTML = `<div class="label">${label}</div><div class="value">${format(summary[key], unit)}</div>${range}`;
    box.appendChild(item);
  }
}

const LAYOUT = { margin: { l: 55, r: 55, t: 40, b: 40 }, height: 320, legend: { orientation: "h", y: -0.2 } };

function band(dates, series, name, color, axis) {
  const traces = [];
  if (series.p10.some((value, index) => value !== series.p90[index])) {
    traces.push({ x: dates, y: series.p90, mode: "lines", line: { width: 0 }, showlegend: false, yaxis: axis, hoverinfo: "skip" });
    traces.push({ x: dates, y: series.p10, mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: color + "33",
      name: `${name} P10–P90`, yaxis: axis, hoverinfo: "skip" });
  }
  traces.push({ x: dates, y: series.p50, mode: "lines", line: { color }, name, yaxis: axis });
  return traces;
}

function renderCharts(charts) {
  const monthly = charts.monthly;
  const config = { displaylogo: false, responsive: true };
  const buildout = [];
  if (monthly.accelerators_online) buildout.push(...band(charts.dates, monthly.accelerators_online, "Accelerators online", "#3b6ea5", "y"));
  if (monthly.facility_power_online_mw) buildout.push(...band(charts.dates, monthly.facility_power_online_mw, "Facility power (MW)", "#d9822b", "y2"));
  Plotly.react("chart-buildout", buildout, Object.assign({}, LAYOUT, { title: { text: "Build-out by month" },
    yaxis: { title: { text: "accelerators" } }, yaxis2: { title: { text: "MW" }, overlaying: "y", side: "right" } }), config);
  const phases = charts.phases;
  const byPhase = charts.by_phase;
  const parts = [["phase_it_power_mw", "IT"], ["phase_cooling_power_mw", "Cooling and other"], ["phase_electrical_loss_mw", "Electrical losses"]];
  Plotly.react("chart-phases", parts.filter(([key]) => byPhase[key]).map(([key, name]) => ({ type: "bar", x: phases, y: byPhase[key], name })),
    Object.assign({}, LAYOUT, { title: { text: "Facility power in an ordinary hour by phase (MW)" }, barmode: "stack", yaxis: { title: { text: "MW" } } }), config);
  const energy = [];
  if (monthly.facility_energy_mwh) energy.push(...band(charts.dates, monthly.facility_energy_mwh, "Facility energy (MWh)", "#2f8f5b", "y"));
  if (monthly.energy_cost_usd) energy.push(...band(charts.dates, monthly.energy_cost_usd, "Energy cost (USD)", "#8e44ad", "y2"));
  Plotly.react("chart-energy", energy, Object.assign({}, LAYOUT, { title: { text: "Energy by month" },
    yaxis: { title: { text: "MWh" } }, yaxis2: { title: { text: "USD" }, overlaying: "y", side: "right" } }), config);
  const capex = charts.capex_usd;
  Plotly.react("chart-capex", [{ type: "bar", x: Object.keys(capex), y: Object.values(capex).map((value) => (value || 0) / 1e9) }],
    Object.assign({}, LAYOUT, { title: { text: "Capital cost (USD billion)" }, yaxis: { title: { text: "USD bn" } } }), config);
}

function monthStart(text) {
  const [year, month] = text.split("-").map(Number);
  return Date.UTC(year, month - 1, 1);
}

// The phase timeline (Gantt): construction, then waiting for power or equipment, then installing systems.
function renderTimeline(timeline) {
  const segments = [["construction_start", "construction_ready", "Construction", "#9aa5b1"],
    ["construction_ready", "energised", "Waiting for power or equipment", "#d9822b"],
    ["energised", "online", "Installing systems", "#3b6ea5"]];
  const traces = segments.map(([from, to, name, color]) => {
    const rows = (timeline || []).filter((row) => row[from] && row[to] && monthStart(row[to]) >= monthStart(row[from]));
    return { type: "bar", orientation: "h", name, marker: { color }, y: rows.map((row) => row.phase),
      base: rows.map((row) => `${row[from]}-01`), x: rows.map((row) => monthStart(row[to]) - monthStart(row[from])),
      hovertemplate: rows.map((row) => `${row.phase}: ${name.toLowerCase()} ${row[from]} to ${row[to]}<extra></extra>`) };
  });
  Plotly.react("chart-timeline", traces, Object.assign({}, LAYOUT, { title: { text: "Phase timeline" }, barmode: "overlay",
    xaxis: { type: "date" }, yaxis: { autorange: "reversed" } }), { displaylogo: false, responsive: true });
  $("chart-timeline").dataset.phases = String((timeline || []).length);
}

function markStale(stale) {
  $("results").classList.toggle("stale", stale);
  document.body.dataset.stale = stale ? "true" : "false";
}

function setInputs(values) {
  const system = $("system");
  system.value = values.system || "";
  for (const name of NUMBER_INPUTS) {
    const element = $(name);
    if (!element) continue;
    delete element.dataset.touched;
    // an input the scenario leaves open or makes uncertain shows empty (a slider: its middle) until touched
    if (values[name] !== undefined && values[name] !== null) element.value = values[name];
    else if (element.type !== "range") element.value = "";
  }
  $("utilisation-shown").textContent = $("utilisation").value;
  $("discount-shown").textContent = $("discount_rate").value;
}

function changedInputs() {
  const inputs = {};
  const base = state.base ? state.base.inputs : {};
  if ($("system").value && $("system").value !== (base.system || "")) inputs.system = $("system").value;
  for (const name of NUMBER_INPUTS) {
    if (!state.supported.includes(name)) continue;
    const element = $(name);
    if (element.value === "") continue;
    const value = Number(element.value);
    const old = base[name];
    if ((old === undefined || old === null) && !element.dataset.touched) continue;
    if (old === undefined || old === null || Math.abs(value - old) > 1e-9 * Math.max(1, Math.abs(old))) inputs[name] = value;
  }
  for (const name of ["accelerators", "buildings"]) if (name in inputs) inputs[name] = Math.round(inputs[name]);
  return inputs;
}

async function recompute(inputs) {
  const sequence = ++state.sequence;
  const body = { scenario: state.baseText, inputs, draws: Math.max(1, Math.round(Number($("draws").value) || 1)) };
  $("status").textContent = "recomputing…";
  markStale(true);
  try {
    const response = await api("/api/preview", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const answer = await response.json();
    if (sequence !== state.sequence) return null;
    showError("");
    state.lastScenario = answer.scenario_text;
    renderFigures(answer.summary, answer.figures);
    renderCharts(answer.charts);
    renderTimeline(answer.timeline);
    markStale(false);
    $("status").textContent = `${answer.summary.scenario}: recomputed in ${answer.elapsed_ms} ms on the server`;
    document.body.dataset.sequence = String(sequence);
    return answer;
  } catch (error) {
    if (sequence === state.sequence) {
      showError(error.message);
      $("status").textContent = "the figures below are stale: they are for the last inputs that ran";
      document.body.dataset.failed = String(sequence);
    }
    return null;
  }
}

function schedule(event) {
  if (event && event.target && event.target.dataset) event.target.dataset.touched = "1";
  clearTimeout(state.timer);
  $("utilisation-shown").textContent = $("utilisation").value;
  $("discount-shown").textContent = $("discount_rate").value;
  state.timer = setTimeout(() => recompute(changedInputs()), 120);
}

async function useScenario(text, origin) {
  state.baseText = text;
  state.base = null;
  const answer = await recompute({});
  if (answer) {
    state.base = answer;
    setInputs(answer.inputs);
    $("scenario-name").textContent = origin ? `${answer.summary.scenario} (from ${origin})` : answer.summary.scenario;
  }
  return answer;
}

// The example list names what is shown: an uploaded file gets its own entry, chosen.
function showUploaded(name) {
  const select = $("example");
  let option = select.querySelector("option[value='uploaded']");
  if (!option) {
    option = document.createElement("option");
    option.value = "uploaded";
    select.insertBefore(option, select.firstChild);
  }
  option.textContent = `uploaded: ${name}`;
  select.value = "uploaded";
  state.example = "uploaded";
}

async function loadExample(id) {
  state.example = id;
  try {
    const example = await (await api(`/api/examples/${encodeURIComponent(id)}`)).json();
    await useScenario(example.text);
  } catch (error) { showError(error.message); }
}

async function upload(file) {
  if (!file) return;
  const text = await file.text();
  try {
    await api("/api/validate", { method: "POST", headers: { "Content-Type": "application/yaml" }, body: text });
    if (await useScenario(text, file.name)) showUploaded(file.name);
  } catch (error) { markStale(true); showError(`${file.name}: ${error.message}`); }
}

async function keepRun() {
  if (!state.lastScenario) return;
  const draws = Math.max(1, Math.round(Number($("draws").value) || 1));
  try {
    const response = await api(`/api/run?draws=${draws}`, { method: "POST", headers: { "Content-Type": "application/yaml" }, body: state.lastScenario });
    const summary = await response.json();
    $("status").textContent = `kept as run ${summary.run_id}`;
    await refreshRuns();
  } catch (error) { showError(error.message); }
}

async function download(path, filename) {
  try {
    const blob = await (await api(path)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) { showError(error.message); }
}

async function refreshRuns() {
  try {
    const listing = await (await api("/api/runs?limit=50")).json();
    const body = $("runs").querySelector("tbody");
    body.innerHTML = "";
    listing.runs.forEach((run, index) => {
      const row = document.createElement("tr");
      row.innerHTML = `<td><input type="radio" name="run-a" value="${run.id}" ${index === 1 ? "checked" : ""}></td>
        <td><input type="radio" name="run-b" value="${run.id}" ${index === 0 ? "checked" : ""}></td>
        <td>${run.id}</td><td>${run.created.slice(0, 19).replace("T", " ")}</td><td></td><td>${run.draws}</td>
        <td><a href="#" data-kind="report">report</a> · <a href="#" data-kind="results">results</a></td>`;
      row.children[4].textContent = run.scenario_name;
      row.querySelector("[data-kind=report]").addEventListener("click", (event) => {
        event.preventDefault(); download(`/api/runs/${run.id}/report`, `neocloud-run-${run.id}-report.html`);
      });
      row.querySelector("[data-kind=results]").addEventListener("click", (event) => {
        event.preventDefault(); download(`/api/runs/${run.id}/results`, `neocloud-run-${run.id}-results.nc`);
      });
      body.appendChild(row);
    });
  } catch (error) { showError(error.message); }
}

async function compareRuns() {
  const a = document.querySelector("input[name=run-a]:checked");
  const b = document.querySelector("input[name=run-b]:checked");
  if (!a || !b) { showError("pick run A and run B first"); return; }
  try {
    const comparison = await (await api(`/api/runs/${a.value}/compare/${b.value}`)).json();
    const table = $("comparison");
    table.innerHTML = `<tr><th>figure</th><th>run ${a.value}</th><th>run ${b.value}</th><th>B − A</th><th>change</th></tr>`;
    for (const row of comparison.rows) {
      const line = document.createElement("tr");
      if (row.differs) line.className = "differs";
      const change = row.change === null ? "" : `${(100 * row.change).toFixed(1)}%`;
      for (const cell of [row.key, format(row.a), format(row.b), row.difference === null ? "" : format(row.difference), change]) {
        const td = document.createElement("td");
        td.textContent = cell;
        line.appendChild(td);
      }
      table.appendChild(line);
    }
    table.hidden = false;
  } catch (error) { showError(error.message); }
}

async function start() {
  $("token-save").addEventListener("click", () => { sessionStorage.setItem("neocloud-token", $("token").value); location.reload(); });
  try {
    const options = await (await api("/api/inputs")).json();
    state.supported = Object.keys(options.inputs);
    $("price-row").hidden = !state.supported.includes("price_usd_per_gpu_hour");
    $("draws").max = options.max_draws;
    const system = $("system");
    system.innerHTML = `<option value="">(as in the scenario)</option>` + options.systems.map(
      (row) => `<option value="${row.id}">${row.id}: ${row.accelerators_per_system} × ${row.accelerator}</option>`).join("");
    const examples = await (await api("/api/examples")).json();
    const select = $("example");
    for (const example of examples) {
      const option = document.createElement("option");
      option.value = example.id;
      option.textContent = example.name;
      select.appendChild(option);
    }
    // choosing the example already shown does not reload it (a reload would reset inputs being edited)
    select.addEventListener("change", () => {
      if (select.value !== "uploaded" && select.value !== state.example) loadExample(select.value);
    });
    $("upload").addEventListener("change", (event) => upload(event.target.files[0]));
    $("inputs").addEventListener("input", schedule);
    $("inputs").addEventListener("submit", (event) => event.preventDefault());
    $("reset").addEventListener("click", () => { if (state.base) { setInputs(state.base.inputs); schedule(null); } });
    $("save").addEventListener("click", keepRun);
    $("compare").addEventListener("click", compareRuns);
    const preferred = examples.find((example) => example.id === "abilene") || examples[0];
    if (preferred) { select.value = preferred.id; await loadExample(preferred.id); }
    await refreshRuns();
    document.body.dataset.ready = "true";
  } catch (error) { showError(error.message); }
}

start();
