// Device page: one chart per metric from the bucketed series API (min/max band, average line,
// threshold lines), a range picker, a live tail extended in place from the device's socket,
// statistics and histograms with a KDE of the range, and the anomaly explorer, whose flagged
// readings are marked on the metric's chart. The engine's anomaly spells are marked on the
// charts of the metrics that drove them, and a recent range gets the next 3 hours' forecast
// with its interval on each chart with limits, and when it passes one.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("device-data").textContent);
  const charts = document.getElementById("charts");
  const info = document.getElementById("range-info");
  const download = document.getElementById("download");
  const RANGES = { "1h": 3600e3, "1d": 86400e3, "1w": 7 * 86400e3 };
  let range = { key: "1h", start: null, end: null };
  let liveOk = true;

  let colors = IoTLive.colors();
  IoTLive.on("theme", function () { colors = IoTLive.colors(); });
  let shown = null;  // {start, end} of the loaded range, ms

  function iso(ms) { return new Date(ms).toISOString(); }

  // Alarms of this device overlapping the range: a band in the severity's colour from opening
  // to clearing (or now) on the chart of the rule's metric (on every chart for rules on the
  // device's state), with the rule named at the top.
  const SEVERITY = { critical: "255,92,92", major: "255,159,67", minor: "241,196,15", warning: "63,182,255", info: "139,152,165" };
  let deviceAlarms = [];
  let deviceSpells = [];
  const SPELL = "181,123,255";

  async function loadAlarms() {
    try {
      const response = await fetch(data.alarms_url + "?" + new URLSearchParams({ device: String(data.device), limit: "200" }),
                                   { credentials: "same-origin" });
      if (response.ok) deviceAlarms = (await response.json()).results;
    } catch (err) { /* markers are extras: the charts stand without them */ }
    try {
      const response = await fetch(data.spells_url + "?" + new URLSearchParams({
        device: String(data.device), start: iso(shown.start), end: iso(Date.now()) }), { credentials: "same-origin" });
      if (response.ok) deviceSpells = (await response.json()).results;
    } catch (err) { /* as above */ }
  }

  function alarmMarks(metric) {
    const shapes = [], notes = [];
    if (!shown) return { shapes: shapes, notes: notes };
    const until = liveOk ? Date.now() : shown.end;  // a live range goes on past its load
    for (const a of deviceAlarms) {
      if (a.rule_metric && a.rule_metric !== metric) continue;
      const from = new Date(a.opened_at).getTime();
      const to = a.cleared_at ? new Date(a.cleared_at).getTime() : Date.now();
      if (to < shown.start || from > until) continue;
      const rgb = SEVERITY[a.severity] || SEVERITY.info;
      shapes.push({ type: "rect", xref: "x", yref: "paper", x0: iso(from), x1: iso(Math.max(to, from + 1000)), y0: 0, y1: 1,
                    fillcolor: "rgba(" + rgb + ",0.12)", line: { color: "rgba(" + rgb + ",0.7)", width: 1 } });
      notes.push({ x: iso(from), xref: "x", yref: "paper", y: 1, yanchor: "bottom", showarrow: false,
                   text: "⚑", font: { color: "rgb(" + rgb + ")", size: 12 },
                   hovertext: a.severity + " · " + a.rule_name + " · " + a.status + " · opened " + new Date(from).toLocaleString() });
    }
    for (const e of deviceSpells) {
      const drivers = (e.drivers || []).map(function (d) { return d.metric; });
      if (drivers.length && drivers.indexOf(metric) < 0) continue;
      const from = new Date(e.started_at).getTime();
      const to = e.ended_at ? new Date(e.ended_at).getTime() : Date.now();
      if (to < shown.start || from > until) continue;
      shapes.push({ type: "rect", xref: "x", yref: "paper", x0: iso(from), x1: iso(Math.max(to, from + 60e3)), y0: 0, y1: 1,
                    fillcolor: "rgba(" + SPELL + ",0.10)", line: { color: "rgba(" + SPELL + ",0.6)", width: 1, dash: "dot" } });
      notes.push({ x: iso(from), xref: "x", yref: "paper", y: 1, yanchor: "bottom", showarrow: false,
                   text: "◆", font: { color: "rgb(" + SPELL + ")", size: 12 },
                   hovertext: "anomaly · " + e.detector + " · " + (e.drivers || []).map(function (d) {
                     return d.metric + " " + Math.round((d.share || 0) * 100) + " %"; }).join(", ") +
                     " · peak " + Number(e.peak_score).toFixed(2) + " · from " + new Date(from).toLocaleString() });
    }
    return { shapes: shapes, notes: notes };
  }

  // The next hours of each metric with limits: the forecast's mean dotted, its interval shaded,
  // and a note where it passes a limit. Only for a range ending now.
  async function loadForecasts() {
    if (!liveOk || range.key === "1w") return;
    for (const metric of data.metric_keys) {
      const def = data.metrics[metric] || {};
      if (!["warn_low", "warn_high", "alarm_low", "alarm_high"].some(function (k) { return typeof def[k] === "number"; })) continue;
      const div = document.getElementById(chartId(metric));
      try {
        const response = await fetch(data.forecast_url + "?" + new URLSearchParams({ metric: metric, hours: "3" }), { credentials: "same-origin" });
        if (!response.ok || !div || !div.data) continue;
        const f = await response.json();
        if (!f.forecast.t.length) continue;
        Plotly.addTraces(div, [
          { x: f.forecast.t, y: f.forecast.high, mode: "lines", line: { width: 0 }, hoverinfo: "skip", name: "forecast high" },
          { x: f.forecast.t, y: f.forecast.low, mode: "lines", line: { width: 0 }, fill: "tonexty",
            fillcolor: "rgba(" + SPELL + ",0.16)", name: Math.round(f.level * 100) + " % interval" },
          { x: f.forecast.t, y: f.forecast.mean, mode: "lines", line: { color: "rgb(" + SPELL + ")", dash: "dot", width: 1.4 }, name: "forecast" },
        ]);
        div.dataset.forecast = String(f.forecast.t.length);
        const c = f.crossings.find(function (x) { return x.at !== null; });
        if (c) {
          Plotly.relayout(div, { annotations: (div.layout.annotations || []).concat([{
            x: c.at, xref: "x", yref: "y", y: c.limit, showarrow: true, arrowhead: 2, ax: -30, ay: -24,
            text: "passes " + c.limit + (def.unit ? " " + def.unit : "") + " in about " + c.hours.toFixed(1) + " h",
            font: { color: "rgb(" + SPELL + ")", size: 11 } }]) });
          div.dataset.crossing = String(c.hours);
        }
      } catch (err) { /* a forecast is an extra: the chart stands without it */ }
    }
  }

  function layout(metric, empty, start, end) {
    const def = data.metrics[metric] || {};
    const marks = alarmMarks(metric);
    const shapes = marks.shapes;
    const lines = [["warn_low", "#f1c40f"], ["warn_high", "#f1c40f"],
                   ["alarm_low", "#ff5c5c"], ["alarm_high", "#ff5c5c"]];
    for (const [key, color] of lines) {
      if (typeof def[key] === "number") {
        shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: def[key], y1: def[key],
                      line: { color: color, width: 1, dash: "dash" } });
      }
    }
    return {
      title: { text: (def.label || metric) + (def.unit ? " (" + def.unit + ")" : ""),
               font: { size: 14, color: colors.text }, x: 0.01 },
      margin: { l: 50, r: 10, t: 32, b: 30 }, height: 220, shapes: shapes,
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: colors.muted }, showlegend: false,
      xaxis: Object.assign({ gridcolor: colors.grid, type: "date" },
                           empty ? { range: [new Date(start), new Date(end)] } : {}),
      yaxis: { gridcolor: colors.grid },
      annotations: marks.notes.concat(empty ? [{ text: "No readings in this range", xref: "paper", yref: "paper",
                              x: 0.5, y: 0.5, showarrow: false, font: { color: colors.muted } }] : []),
    };
  }

  function chartId(metric) { return "chart-" + metric.replace(/[^A-Za-z0-9_-]/g, "_"); }

  async function load() {
    const end = range.end || Date.now();
    const start = range.start || end - RANGES[range.key];
    const params = new URLSearchParams({ metrics: data.metric_keys.join(","), points: "1500",
                                         start: iso(start), end: iso(end) });
    download.href = data.export_url + "?" + new URLSearchParams({
      devices: String(data.device), start: iso(start), end: iso(end) });
    info.textContent = "Loading…";
    const response = await fetch(data.series_url + "?" + params, { credentials: "same-origin" });
    if (!response.ok) { info.textContent = "Could not load the series (" + response.status + ")"; return; }
    const body = await response.json();
    info.textContent = "Buckets of " + body.bucket + " from " + new Date(body.start).toLocaleString() +
      " to " + new Date(body.end).toLocaleString();
    liveOk = !range.end;  // a custom range in the past gets no live tail
    shown = { start: start, end: end };
    await loadAlarms();
    for (const metric of data.metric_keys) {
      const raw = body.series[metric] || { t: [], min: [], avg: [], max: [] };
      const bucketMs = raw.t.length > 1 ? Math.min.apply(null, raw.t.slice(1).map(function (x, i) {
        return new Date(x).getTime() - new Date(raw.t[i]).getTime(); })) : 0;
      // The average line breaks where readings are missing; the min/max band stays whole (a
      // filled band with holes is drawn as a polygon across them).
      const g = IoTLive.withGaps(raw.t, [raw.avg], Math.max(3 * bucketMs, 60e3));
      const s = { t: raw.t, min: raw.min, max: raw.max, gt: g.t, avg: g.columns[0] };
      let div = document.getElementById(chartId(metric));
      if (!div) {
        div = document.createElement("div");
        div.id = chartId(metric);
        div.className = "chart";
        charts.appendChild(div);
      }
      const traces = [
        { x: s.t, y: s.max, mode: "lines", line: { width: 0 }, hoverinfo: "skip", name: "max" },
        { x: s.t, y: s.min, mode: "lines", line: { width: 0 }, fill: "tonexty",
          fillcolor: "rgba(63,182,255,0.18)", hoverinfo: "skip", name: "min" },
        { x: s.gt, y: s.avg, mode: "lines", line: { color: colors.accent, width: 1.6 }, name: "avg" },
        { x: [], y: [], mode: "lines+markers", marker: { size: 4 },
          line: { color: colors.ok, width: 1.4 }, name: "live" },
        { x: [], y: [], mode: "markers", marker: { size: 7, color: colors.bad, symbol: "x" },
          name: "flagged" },
      ];
      Plotly.react(div, traces, layout(metric, s.t.length === 0, start, end),
                   { displaylogo: false, responsive: true });
    }
    loadStatistics();
    loadForecasts();
    if (explorer.dataset.active) explore();
  }

  // --- statistics and distributions ----------------------------------------------------------
  const statsBody = document.getElementById("stats-body");
  const histograms = document.getElementById("histograms");

  function num(v) {
    if (v === null || v === undefined) return "—";
    const a = Math.abs(v);
    return a !== 0 && (a >= 1e5 || a < 1e-2) ? v.toExponential(2) : v.toFixed(a >= 100 ? 1 : 2);
  }

  async function loadStatistics() {
    const params = new URLSearchParams({ metrics: data.metric_keys.join(","),
                                         start: iso(shown.start), end: iso(shown.end) });
    statsBody.innerHTML = '<tr><td colspan="11" class="muted">Computing…</td></tr>';
    const response = await fetch(data.statistics_url + "?" + params, { credentials: "same-origin" });
    if (!response.ok) {
      statsBody.innerHTML = '<tr><td colspan="11" class="error"></td></tr>';
      let reason = "Could not compute statistics (" + response.status + ")";
      try {
        const body = await response.json();
        if (body.start) reason = [].concat(body.start).join(" ");
      } catch (err) { /* not JSON: keep the status */ }
      statsBody.querySelector("td").textContent = reason;
      return;
    }
    const body = await response.json();
    statsBody.innerHTML = "";
    for (const metric of data.metric_keys) {
      const s = body.metrics[metric] || { count: 0 };
      const def = data.metrics[metric] || {};
      const tr = document.createElement("tr");
      tr.dataset.metric = metric;
      const p = s.percentiles || {};
      const cells = [(def.label || metric) + (def.unit ? " (" + def.unit + ")" : ""), s.count.toLocaleString(),
                     num(s.min), num(p.p5), num(p.p25), num(p.p50), num(p.p75), num(p.p95), num(s.max),
                     num(s.mean), num(s.std)];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      statsBody.appendChild(tr);
      drawHistogram(metric, s);
    }
    // Drawn while the grid was still settling: fit each to its cell.
    requestAnimationFrame(function () {
      histograms.querySelectorAll(".js-plotly-plot").forEach(function (div) { Plotly.Plots.resize(div); });
    });
  }

  function drawHistogram(metric, s) {
    const id = "hist-" + chartId(metric);
    let div = document.getElementById(id);
    if (!div) {
      div = document.createElement("div");
      div.id = id;
      div.className = "chart small-chart";
      div.dataset.metric = metric;
      histograms.appendChild(div);
    }
    const def = data.metrics[metric] || {};
    const traces = [];
    if (s.histogram) {
      const e = s.histogram.edges;
      traces.push({ type: "bar", x: s.histogram.counts.map(function (_, i) { return (e[i] + e[i + 1]) / 2; }),
                    y: s.histogram.counts, width: e.length > 1 ? (e[1] - e[0]) * 0.95 : undefined,
                    marker: { color: colors.accent, opacity: 0.55 }, name: "readings" });
    }
    if (s.kde) {
      traces.push({ x: s.kde.x, y: s.kde.y, mode: "lines", line: { color: colors.warn, width: 2 },
                    name: "KDE (bandwidth " + num(s.kde.bandwidth) + ")" });
    }
    Plotly.react(div, traces, {
      title: { text: (def.label || metric), font: { size: 13, color: colors.text }, x: 0.01 },
      margin: { l: 45, r: 10, t: 28, b: 30 }, height: 180, showlegend: false, bargap: 0,
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: colors.muted },
      xaxis: { gridcolor: colors.grid, title: { text: def.unit || "" } }, yaxis: { gridcolor: colors.grid },
      annotations: s.count ? [] : [{ text: "No readings", xref: "paper", yref: "paper", x: 0.5, y: 0.5,
                                      showarrow: false, font: { color: colors.muted } }],
    }, { displaylogo: false, responsive: true });
  }

  // --- anomaly explorer ------------------------------------------------------------------------
  const explorer = document.getElementById("explorer");
  const explorerInfo = document.getElementById("explorer-info");

  function showMethod() {
    const method = explorer.elements.method.value;
    explorer.querySelectorAll("[data-method]").forEach(function (group) {
      group.hidden = group.dataset.method !== method;
      group.querySelectorAll("input").forEach(function (input) { input.disabled = group.hidden; });
    });
  }

  function clearFlags() {
    for (const metric of data.metric_keys) {
      const div = document.getElementById(chartId(metric));
      if (div && div.data) Plotly.restyle(div, { x: [[]], y: [[]] }, [4]);
    }
  }

  async function explore() {
    const form = new FormData(explorer);
    // A live range runs up to now, so the readings of the live tail are explored too.
    const end = liveOk ? Math.max(Date.now(), shown.end) : shown.end;
    const params = new URLSearchParams({ start: iso(shown.start), end: iso(end) });
    for (const [key, value] of form.entries()) if (value !== "") params.set(key, value);
    explorerInfo.className = "muted small";
    explorerInfo.textContent = "Looking…";
    const response = await fetch(data.anomalies_url + "?" + params, { credentials: "same-origin" });
    const body = await response.json();
    clearFlags();
    if (!response.ok) {
      explorerInfo.className = "error small";
      explorerInfo.textContent = Object.entries(body).map(function (e) { return e[0] + ": " + [].concat(e[1]).join(" "); }).join("; ");
      return;
    }
    explorer.dataset.active = "1";
    const div = document.getElementById(chartId(body.metric));
    if (div && div.data) Plotly.restyle(div, { x: [body.points.t], y: [body.points.v] }, [4]);
    let text = body.count.toLocaleString() + " of " + body.total.toLocaleString() + " readings flagged";
    if (body.total) text += " (" + (100 * body.count / body.total).toFixed(2) + " %)";
    if (body.low !== null || body.high !== null) text += "; bounds " + num(body.low) + " … " + num(body.high);
    if (body.truncated) text += "; the first " + body.points.t.length.toLocaleString() + " are marked";
    explorerInfo.textContent = text + ".";
    explorerInfo.dataset.count = String(body.count);
    if (div) div.scrollIntoView({ block: "nearest" });
  }

  function defaultBounds() {
    // Value bounds start at the metric's warning thresholds (the device's own, else its type's).
    const def = data.metrics[explorer.elements.metric.value] || {};
    explorer.elements.low.value = typeof def.warn_low === "number" ? def.warn_low : "";
    explorer.elements.high.value = typeof def.warn_high === "number" ? def.warn_high : "";
  }
  explorer.elements.metric.addEventListener("change", defaultBounds);
  defaultBounds();
  explorer.elements.method.addEventListener("change", showMethod);
  explorer.addEventListener("submit", function (e) { e.preventDefault(); explore(); });
  document.getElementById("explorer-clear").addEventListener("click", function () {
    delete explorer.dataset.active;
    clearFlags();
    explorerInfo.textContent = "";
  });
  showMethod();

  IoTLive.on(IoTLive.events.DEVICE_TELEMETRY, function (payload) {
    if (payload.device !== data.device || !liveOk) return;
    for (const [metric, points] of Object.entries(payload.points)) {
      const div = document.getElementById(chartId(metric));
      if (!div || !div.data) continue;
      Plotly.extendTraces(div, { x: [points.map(function (p) { return new Date(p[0]).toISOString(); })],
                                 y: [points.map(function (p) { return p[1]; })] }, [3], IoTLive.maxPointsPerMetric);
    }
    document.getElementById("last-seen").textContent = new Date().toLocaleString();
  });

  IoTLive.on(IoTLive.events.COMMAND_STATUS, function (c) {
    // The command history follows live: a new command appears, a known one changes status.
    if (c.device !== data.device) return;
    const table = document.getElementById("commands");
    let row = table.querySelector('tr[data-command="' + c.command + '"]');
    if (!row) {
      row = document.createElement("tr");
      row.dataset.command = c.command;
      const when = document.createElement("td");
      const d = new Date();
      when.textContent = d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" +
        String(d.getDate()).padStart(2, "0") + " " + d.toTimeString().slice(0, 8);
      const kind = document.createElement("td");
      kind.textContent = data.labels[c.kind] || c.kind;
      const status = document.createElement("td");
      status.dataset.commandStatus = "";
      row.append(when, kind, status);
      table.tBodies[0].prepend(row);
      table.hidden = false;
      const none = document.getElementById("no-commands");
      if (none) none.remove();
    }
    row.querySelector("[data-command-status]").textContent = data.labels[c.status] || c.status;
  });

  IoTLive.on(IoTLive.events.ALARM, async function (a) {
    if (a.device !== data.device || a.action === "updated" || a.action === "repeated") return;
    await loadAlarms();
    for (const metric of data.metric_keys) {
      const div = document.getElementById(chartId(metric));
      if (!div || !div.layout) continue;
      const marks = alarmMarks(metric);
      const keep = (div.layout.shapes || []).filter(function (sh) { return sh.xref === "paper"; });
      const notes = (div.layout.annotations || []).filter(function (n) { return n.text !== "⚑" && n.text !== "◆"; });
      Plotly.relayout(div, { shapes: keep.concat(marks.shapes), annotations: marks.notes.concat(notes) });
    }
  });

  function showStatus(status) {
    const pill = document.getElementById("device-status");
    pill.className = "pill status-" + status;
    pill.textContent = IoTLive.statusLabel(status);
  }

  IoTLive.on(IoTLive.events.DEVICE_STATUS, function (change) {
    if (change.device === data.device) showStatus(change.to);
  });
  // A change while the socket was not open (before it first opened, or during a reconnect) is
  // not pushed again: the status is read afresh each time it opens.
  IoTLive.on("connection", async function (state) {
    if (state !== "live") return;
    try {
      const response = await fetch("/api/v1/devices/" + data.device, { credentials: "same-origin" });
      if (response.ok) showStatus((await response.json()).status);
    } catch (e) { /* the next pushed change shows it */ }
  });

  document.querySelectorAll("[data-range]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("[data-range]").forEach(function (b) { b.classList.remove("active"); });
      button.classList.add("active");
      range = { key: button.dataset.range, start: null, end: null };
      load();
    });
  });
  document.getElementById("custom-range").addEventListener("submit", function (e) {
    e.preventDefault();
    const form = new FormData(e.target);
    const start = new Date(form.get("start")).getTime();
    const end = new Date(form.get("end")).getTime();
    if (!(start < end)) { info.textContent = "The start must be before the end."; return; }
    document.querySelectorAll("[data-range]").forEach(function (b) { b.classList.remove("active"); });
    range = { key: "custom", start: start, end: end };
    load();
  });
  load();
})();
