// Device page: one chart per metric from the bucketed series API (min/max band, average line,
// threshold lines), a range picker, and a live tail extended in place from the WebSocket.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("device-data").textContent);
  const charts = document.getElementById("charts");
  const info = document.getElementById("range-info");
  const download = document.getElementById("download");
  const RANGES = { "1h": 3600e3, "1d": 86400e3, "1w": 7 * 86400e3 };
  const LIVE_MAX_POINTS = 3600;
  let range = { key: "1h", start: null, end: null };
  let liveOk = true;

  const css = getComputedStyle(document.documentElement);
  const colors = { text: css.getPropertyValue("--text").trim() || "#e6edf3",
                   muted: css.getPropertyValue("--muted").trim() || "#8b98a5",
                   grid: css.getPropertyValue("--border").trim() || "#2b3640",
                   accent: css.getPropertyValue("--accent").trim() || "#3fb6ff" };

  function iso(ms) { return new Date(ms).toISOString(); }

  function layout(metric, empty, start, end) {
    const def = data.metrics[metric] || {};
    const shapes = [];
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
                           empty ? { range: [iso(start), iso(end)] } : {}),
      yaxis: { gridcolor: colors.grid },
      annotations: empty ? [{ text: "No readings in this range", xref: "paper", yref: "paper",
                              x: 0.5, y: 0.5, showarrow: false, font: { color: colors.muted } }] : [],
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
    for (const metric of data.metric_keys) {
      const s = body.series[metric] || { t: [], min: [], avg: [], max: [] };
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
        { x: s.t, y: s.avg, mode: "lines", line: { color: colors.accent, width: 1.6 }, name: "avg" },
        { x: [], y: [], mode: "lines+markers", marker: { size: 4 },
          line: { color: "#2ecc71", width: 1.4 }, name: "live" },
      ];
      Plotly.react(div, traces, layout(metric, s.t.length === 0, start, end),
                   { displaylogo: false, responsive: true });
    }
  }

  function onTelemetry(devices) {
    const mine = devices[String(data.device)];
    if (!mine || !liveOk) return;
    for (const [metric, point] of Object.entries(mine)) {
      const div = document.getElementById(chartId(metric));
      if (!div || !div.data) continue;
      Plotly.extendTraces(div, { x: [[new Date(point[0]).toISOString()]], y: [[point[1]]] }, [3],
                          LIVE_MAX_POINTS);
    }
    document.getElementById("last-seen").textContent = new Date().toLocaleString();
  }

  function connect(delay) {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/live/");
    ws.onopen = function () { delay = 500; };
    ws.onmessage = function (e) {
      const msg = JSON.parse(e.data);
      if (msg.type === "telemetry") onTelemetry(msg.data.devices);
      if (msg.type === "device.status" && msg.data.device === data.device) {
        const pill = document.getElementById("device-status");
        pill.className = "pill status-" + msg.data.to;
        pill.textContent = msg.data.to.charAt(0).toUpperCase() + msg.data.to.slice(1);
      }
    };
    ws.onclose = function () { setTimeout(function () { connect(Math.min(delay * 2, 15000)); }, delay); };
  }

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
  load().then(function () { connect(500); });
})();
