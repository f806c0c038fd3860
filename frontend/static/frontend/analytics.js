// Analytics: for one device type and a range, the behaviour clusters in 3-D (the API's windows,
// one trace per cluster, outliers ✕, windows in an anomaly spell ◆), windows and anomalies per
// cluster, anomalies by cluster and by device, spells begun per hour or day, and each metric's
// fleet mean with its min–max band. The two CSV links follow the filters. A device going into
// Anomaly refreshes the counts (at most every 30 s).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("analytics-data").textContent);
  const DAY = 86400e3;
  const PALETTE = ["#3fb6ff", "#33c27f", "#ffb020", "#c678dd", "#56d4c8", "#e5c07b", "#61afef",
                   "#d19a66", "#98c379", "#be5046", "#7f8c8d", "#f78fb3"];
  const OUTLIER = "#ff5c5c";
  const typeSelect = document.getElementById("type-select");
  const info = document.getElementById("range-info");
  let range = { days: 7, start: null, end: null };
  let bucket = "day";

  function el(id) { return document.getElementById(id); }
  function layout(extra) {
    const c = IoTLive.colors();
    return Object.assign({
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: c.muted },
      margin: { l: 45, r: 15, t: 10, b: 40 }, legend: { orientation: "h", y: -0.15 },
      xaxis: { gridcolor: c.grid }, yaxis: { gridcolor: c.grid, rangemode: "tozero" },
    }, extra || {});
  }
  const CONFIG = { displayModeBar: false, responsive: true };
  // A chart's place shows either a plot or a message: each replaces the other whole.
  function empty(target, text) {
    const node = typeof target === "string" ? el(target) : target;
    if (window.Plotly) Plotly.purge(node);
    node.replaceChildren();
    const p = document.createElement("p");
    p.className = "muted small";
    p.textContent = text;
    node.append(p);
    node.dataset.empty = "1";
  }
  function plot(target, traces, lay) {
    const node = typeof target === "string" ? el(target) : target;
    if (node.dataset.empty) { node.replaceChildren(); delete node.dataset.empty; }
    return Plotly.react(node, traces, lay, CONFIG);
  }
  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    const body = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error(body.detail || Object.values(body).flat().join(" ") || response.statusText);
    return body;
  }
  function bounds() {
    const end = range.end || Date.now();
    const start = range.start || end - range.days * DAY;
    return { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
  }
  function query(extra) {
    const b = bounds();
    return new URLSearchParams(Object.assign({ type: typeSelect.value, start: b.start, end: b.end }, extra || {})).toString();
  }
  function currentType() { return data.types.find(function (t) { return t.name === typeSelect.value; }); }
  function clusterName(label) { return label === "-1" ? "outliers" : "cluster " + label; }
  function clusterColour(label) { return label === "-1" ? OUTLIER : PALETTE[Number(label) % PALETTE.length]; }
  function when(iso) { return new Date(iso).toLocaleString([], { hour12: false }); }

  // --- clusters ---------------------------------------------------------------------------
  function drawClusters(body) {
    const p = body.points;
    const byLabel = {};
    p.cluster.forEach(function (label, i) { (byLabel[label] = byLabel[label] || []).push(i); });
    const labels = Object.keys(byLabel).sort(function (a, b) { return Number(a) - Number(b); });
    const traces = labels.map(function (label) {
      const at = byLabel[label];
      const pick = function (column) { return at.map(function (i) { return column[i]; }); };
      return {
        type: "scatter3d", mode: "markers", name: clusterName(label), meta: label,
        x: pick(p.x), y: pick(p.y), z: pick(p.z),
        text: at.map(function (i) {
          return p.name[i] + "<br>" + when(p.start[i]) + "<br>" + clusterName(String(p.cluster[i])) +
            (p.anomalous[i] ? "<br>in an anomaly spell" : "");
        }),
        hovertemplate: "%{text}<extra></extra>",
        marker: {
          size: at.map(function (i) { return label === "-1" || p.anomalous[i] ? 5 : 3; }),
          color: clusterColour(label),
          symbol: at.map(function (i) { return label === "-1" ? "x" : p.anomalous[i] ? "diamond" : "circle"; }),
          opacity: 0.85,
        },
      };
    });
    const c = IoTLive.colors();
    const axis = function (n) {
      return { title: "PC" + (n + 1) + " (" + Math.round((body.explained[n] || 0) * 100) + " %)", gridcolor: c.grid, color: c.muted };
    };
    plot("cluster-plot", traces, layout({
      margin: { l: 0, r: 0, t: 0, b: 0 }, height: 460, legend: { orientation: "h", y: 1.02 },
      scene: { xaxis: axis(0), yaxis: axis(1), zaxis: axis(2) },
    }));
    el("cluster-plot").dataset.clusters = labels.join(",");
    const shown = p.cluster.length < body.windows ? " (" + p.cluster.length.toLocaleString() + " plotted: every outlier and anomalous one, a sample of the rest)" : "";
    el("clusters-info").textContent = "Version " + body.version + ", trained " + when(body.trained_at) + " on " +
      when(body.window_start) + " – " + when(body.window_end) + ": " + body.windows.toLocaleString() +
      " windows in this range" + shown + ", " + (labels.filter(function (l) { return l !== "-1"; }).length) +
      " clusters (eps " + body.eps.toFixed(2) + ").";

    const keys = Object.keys(body.clusters).sort(function (a, b) { return Number(a) - Number(b); });
    plot("cluster-bars", [
      { type: "bar", name: "windows", x: keys.map(clusterName), y: keys.map(function (k) { return body.clusters[k].windows; }),
        marker: { color: keys.map(clusterColour) } },
      { type: "bar", name: "in an anomaly spell", x: keys.map(clusterName), y: keys.map(function (k) { return body.clusters[k].anomalies; }),
        marker: { color: c.warn } },
    ], layout({ barmode: "group", height: 220 }));
    const flagged = keys.filter(function (k) { return body.clusters[k].anomalies > 0; });
    if (!flagged.length) { empty("pie-clusters", "No window of this range overlaps an anomaly spell."); return; }
    plot("pie-clusters", [{
      type: "pie", hole: 0.4, sort: false, labels: flagged.map(clusterName),
      values: flagged.map(function (k) { return body.clusters[k].anomalies; }),
      marker: { colors: flagged.map(clusterColour) }, textinfo: "label+value",
    }], layout({ height: 220, showlegend: false, margin: { l: 10, r: 10, t: 10, b: 10 } }));
  }

  async function loadClusters() {
    const t = currentType();
    if (!t || !t.clusters) {
      for (const id of ["cluster-plot", "cluster-bars", "pie-clusters"]) empty(id, "No behaviour clusters trained for " + typeSelect.value + " yet: they are found nightly, or by “Retrain now” on the Models page.");
      el("clusters-info").textContent = "";
      return;
    }
    try { drawClusters(await getJson(data.urls.clusters + "?" + query())); }
    catch (err) { for (const id of ["cluster-plot", "cluster-bars", "pie-clusters"]) empty(id, err.message); }
  }

  // --- anomaly counts ---------------------------------------------------------------------
  async function loadCounts() {
    let body;
    try { body = await getJson(data.urls.stats + "?" + query({ bucket: bucket, tz: data.tz })); }
    catch (err) { empty("anomaly-counts", err.message); empty("pie-devices", err.message); return; }
    const c = IoTLive.colors();
    plot("anomaly-counts", [{
      type: "bar", x: body.series.map(function (s) { return s.start; }), y: body.series.map(function (s) { return s.count; }),
      marker: { color: c.warn }, hovertemplate: "%{x}: %{y} spells<extra></extra>",
    }], layout({ height: 220, bargap: 0.1 }));
    el("anomaly-counts").dataset.total = String(body.begun);
    el("counts-info").textContent = (bucket === "hour" ? "per hour" : "per day") + " of " + body.tz + " · " + body.begun + " begun in the range, " + body.total + " overlapping it";
    const detectors = Object.entries(body.detectors).map(function (e) { return e[0] + " " + e[1]; });
    el("detectors-info").textContent = detectors.length ? "By detector: " + detectors.join(" · ") : "No anomaly spells in this range.";
    if (!body.devices.length) { empty("pie-devices", "No anomaly spells in this range."); return; }
    const labels = body.devices.map(function (d) { return d.name; });
    const values = body.devices.map(function (d) { return d.count; });
    if (body.other_devices) { labels.push("others"); values.push(body.other_devices); }
    plot("pie-devices", [{ type: "pie", hole: 0.4, labels: labels, values: values, textinfo: "label+value", sort: false }],
      layout({ height: 220, showlegend: false, margin: { l: 10, r: 10, t: 10, b: 10 } }));
  }

  // --- trends -----------------------------------------------------------------------------
  async function loadTrends() {
    const t = currentType();
    const grid = el("trends");
    grid.replaceChildren();
    const b = bounds();
    const width = (new Date(b.end) - new Date(b.start)) > 7 * DAY ? "1d" : "1h";
    el("trends-info").textContent = "fleet mean per " + (width === "1d" ? "day" : "hour") + " with its min–max band, from the rollups";
    if (!t.metrics.length) {
      const p = document.createElement("p");
      p.className = "muted small";
      p.textContent = "This type declares no metrics.";
      grid.append(p);
      return;
    }
    const c = IoTLive.colors();
    await Promise.all(t.metrics.map(async function (m) {
      const box = document.createElement("div");
      box.className = "small-chart";
      box.dataset.metric = m.key;
      grid.append(box);
      let s;
      try { s = (await getJson(data.urls.fleet + "?" + query({ metric: m.key, bucket: width, tz: data.tz }))).series[m.key]; }
      catch (err) { empty(box, m.label + ": " + err.message); return; }
      box.dataset.points = String(s.t.length);
      const title = m.label + (m.unit ? " (" + m.unit + ")" : "");
      plot(box, [
        { x: s.t, y: s.max, mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false },
        { x: s.t, y: s.min, mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(63,182,255,0.18)", name: "min–max" },
        { x: s.t, y: s.avg, mode: "lines", line: { color: c.accent }, name: "mean" },
      ], layout({ height: 200, title: { text: title, font: { size: 13, color: c.text }, x: 0.02, y: 0.97 },
                  margin: { l: 45, r: 10, t: 28, b: 30 }, showlegend: false, yaxis: { gridcolor: c.grid } }));
    }));
  }

  function load() {
    const b = bounds();
    info.textContent = "From " + when(b.start) + " to " + when(b.end) + " · " + typeSelect.value;
    el("export-anomalies").href = data.urls.anomalies_csv + "?" + query({ tz: data.tz });
    el("export-clusters").href = data.urls.clusters_csv + "?" + query({ tz: data.tz });
    return Promise.all([loadClusters(), loadCounts(), loadTrends()]);
  }

  typeSelect.addEventListener("change", load);
  document.querySelectorAll("[data-days]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("[data-days]").forEach(function (b) { b.classList.remove("active"); });
      button.classList.add("active");
      range = { days: Number(button.dataset.days), start: null, end: null };
      load();
    });
  });
  el("custom-range").addEventListener("submit", function (e) {
    e.preventDefault();
    const form = new FormData(e.target);
    const start = new Date(form.get("start")).getTime(), end = new Date(form.get("end")).getTime();
    if (!(start < end)) { info.textContent = "The start must be before the end."; return; }
    document.querySelectorAll("[data-days]").forEach(function (b) { b.classList.remove("active"); });
    range = { days: null, start: start, end: end };
    load();
  });
  document.querySelectorAll("[data-bucket]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("[data-bucket]").forEach(function (b) { b.classList.remove("active"); });
      button.classList.add("active");
      bucket = button.dataset.bucket;
      loadCounts();
    });
  });
  let lastRefresh = 0;
  IoTLive.on(IoTLive.events.DEVICE_STATUS, function (change) {
    if (change.to !== "anomaly" || range.end || Date.now() - lastRefresh < 30000) return;
    lastRefresh = Date.now();
    loadCounts();
  });
  load();
})();
