// Dashboard: metric cards (live from the socket, corrected from the summary API every 15 s),
// one chart per key metric — the fleet's average per minute for the last hour from the minute
// rollups, then a live point every 5 s from the latest values, and a 10-minute rolling average —
// and a feed of status changes.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const feed = document.getElementById("feed");
  const charts = document.getElementById("fleet-charts");
  const HOUR = 3600e3;
  const ROLLING = 10 * 60e3;
  const LIVE_EVERY = 5000;
  const FRESH = 120e3;  // a device's latest value counts towards the live mean this long

  const card = function (key) { return document.querySelector('[data-card="' + key + '"]'); };
  function setCard(key, text) { const el = card(key); if (el) el.textContent = text; }
  function fmt(v, digits) { return v === null || v === undefined ? "—" : Number(v).toFixed(digits); }

  // --- cards ------------------------------------------------------------------------------
  let newest = data.freshness === null ? null : Date.now() - data.freshness * 1000;
  const status = {};  // device → status, from events (counts are corrected by the summary)

  function showSummary(s) {
    for (const key of ["active", "total", "anomaly", "offline", "maintenance"]) setCard(key, s.devices[key]);
    setCard("avg_temperature", fmt(s.avg_temperature, 1));
    setCard("alerts_5m", s.alerts_5m);
    setCard("readings_5m", s.readings_5m);
    setCard("anomaly_rate_5m", s.anomaly_rate_5m === null ? "—" : (s.anomaly_rate_5m * 100).toFixed(1) + "%");
    setCard("avg_health", fmt(s.avg_health, 0));
    setCard("fail_24h", s.fail_24h);
    setCard("fail_7d", s.fail_7d);
    if (s.freshness_seconds !== null) newest = Date.now() - s.freshness_seconds * 1000;
  }

  async function refresh() {
    try {
      const response = await fetch(data.summary_url, { credentials: "same-origin" });
      if (response.ok) showSummary(await response.json());
    } catch (err) { /* the socket state shows the outage; try again next time */ }
  }
  setInterval(refresh, 15000);
  setInterval(function () {
    setCard("freshness", newest === null ? "—" : Math.max(0, Math.round((Date.now() - newest) / 1000)) + " s");
  }, 1000);

  function bump(key, delta) {
    const el = card(key);
    if (el && el.textContent !== "—") el.textContent = String(Math.max(0, (parseInt(el.textContent, 10) || 0) + delta));
  }

  // --- latest values → live mean ---------------------------------------------------------
  const latest = {};  // metric → device → [time ms, value]
  const now0 = Date.now();
  for (const m of data.metrics) {
    latest[m.key] = {};
    for (const [device, value] of Object.entries(data.latest[m.key] || {})) latest[m.key][device] = [now0, value];
  }

  function liveMean(metric, now) {
    let sum = 0, n = 0;
    for (const [device, point] of Object.entries(latest[metric])) {
      const known = status[device];
      if (now - point[0] > FRESH || (known && known !== "healthy" && known !== "anomaly")) continue;
      sum += point[1]; n += 1;
    }
    return n ? sum / n : null;
  }

  function updateTemperatureCard() {
    if (!latest.temperature) return;
    const mean = liveMean("temperature", Date.now());
    setCard("avg_temperature", mean === null ? "—" : mean.toFixed(1));
  }

  IoTLive.on(IoTLive.events.TELEMETRY, function (payload) {
    const now = Date.now();
    for (const [device, metrics] of Object.entries(payload.devices)) {
      for (const [metric, point] of Object.entries(metrics)) {
        if (latest[metric]) latest[metric][device] = [now, point[1]];
      }
    }
    newest = now;
    updateTemperatureCard();
  });

  // --- status changes ---------------------------------------------------------------------
  function pill(value) {
    const span = document.createElement("span");
    span.className = "pill status-" + value;
    span.textContent = IoTLive.statusLabel(value);
    return span;
  }

  IoTLive.on(IoTLive.events.DEVICE_STATUS, function (change) {
    status[change.device] = change.to;
    const active = function (s) { return s === "healthy" || s === "anomaly"; };
    if (active(change.from) !== active(change.to)) bump("active", active(change.to) ? 1 : -1);
    for (const key of ["offline", "anomaly", "maintenance"]) {
      if (change.from === key) bump(key, -1);
      if (change.to === key) bump(key, 1);
    }
    updateTemperatureCard();
    const placeholder = feed.querySelector(".muted");
    if (placeholder) placeholder.remove();
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = new Date(change.at || Date.now()).toLocaleTimeString([], { hour12: false });
    const link = document.createElement("a");
    link.href = "/devices/" + change.device + "/";
    link.textContent = change.name || data.names[change.device] || "Device " + change.device;
    li.append(time, " ", link, ": ", pill(change.from), " → ", pill(change.to));
    feed.prepend(li);
    while (feed.children.length > 100) feed.lastElementChild.remove();
    const row = document.querySelector('#attention tr[data-device="' + change.device + '"] [data-status]');
    if (row) { row.className = "pill status-" + change.to; row.textContent = IoTLive.statusLabel(change.to); }
  });

  // --- fleet charts -----------------------------------------------------------------------
  function rolling(times, values) {
    // Mean of the points in the 10 minutes up to each point (times ascending).
    const out = [];
    let from = 0, sum = 0;
    for (let i = 0; i < times.length; i++) {
      sum += values[i];
      while (times[i] - times[from] > ROLLING) { sum -= values[from]; from += 1; }
      out.push(sum / (i - from + 1));
    }
    return out;
  }

  const series = {};  // metric → {t: [ms], v: []} for the rolling average of live points

  function chartId(metric) { return "fleet-" + metric.replace(/[^A-Za-z0-9_-]/g, "_"); }

  function layout(m, empty) {
    const c = IoTLive.colors();
    const now = Date.now();
    return {
      title: { text: (m.label || m.key) + (m.unit ? " (" + m.unit + ")" : ""), font: { size: 14, color: c.text }, x: 0.01 },
      margin: { l: 50, r: 10, t: 32, b: 30 }, height: 210, showlegend: false,
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: c.muted },
      xaxis: { gridcolor: c.grid, type: "date", range: [new Date(now - HOUR), new Date(now)] },
      yaxis: { gridcolor: c.grid },
      annotations: empty ? [{ text: "No readings in the last hour", xref: "paper", yref: "paper", x: 0.5, y: 0.5,
                              showarrow: false, font: { color: c.muted } }] : [],
    };
  }

  async function drawChart(m) {
    const end = Date.now();
    const params = new URLSearchParams({ metric: m.key, bucket: "1m",
                                         start: new Date(end - HOUR).toISOString(), end: new Date(end).toISOString() });
    const div = document.createElement("div");
    div.id = chartId(m.key);
    div.className = "chart";
    div.dataset.metric = m.key;
    charts.appendChild(div);
    let t = [], v = [];
    try {
      const response = await fetch(data.fleet_url + "?" + params, { credentials: "same-origin" });
      if (response.ok) {
        const body = await response.json();
        const s = body.series[m.key];
        // A minute bucket is plotted at its middle; the current minute is still filling.
        t = s.t.map(function (x) { return new Date(x).getTime() + 30e3; });
        v = s.avg;
      }
    } catch (err) { /* drawn empty; live points still come */ }
    series[m.key] = { t: t.slice(), v: v.slice() };
    const c = IoTLive.colors();
    const g = IoTLive.withGaps(t, [v, rolling(t, v)], 3 * 60e3);
    const x = g.t.map(function (ms) { return new Date(ms); });
    Plotly.newPlot(div, [
      { x: x, y: g.columns[0], mode: "lines+markers", name: "fleet average",
        line: { color: c.accent, width: 1.6 }, marker: { size: 3 } },
      { x: x, y: g.columns[1], mode: "lines", name: "10-min rolling",
        line: { color: c.warn, width: 1.4, dash: "dash" } },
    ], layout(m, t.length === 0), { displaylogo: false, responsive: true });
  }

  function tick() {
    const now = Date.now();
    for (const m of data.metrics) {
      const div = document.getElementById(chartId(m.key));
      const s = series[m.key];
      if (!div || !div.data || !s) continue;
      const mean = liveMean(m.key, now);
      if (mean === null) continue;
      s.t.push(now); s.v.push(mean);
      while (s.t.length && now - s.t[0] > HOUR) { s.t.shift(); s.v.shift(); }
      const r = rolling(s.t, s.v);
      if (div.layout.annotations && div.layout.annotations.length) Plotly.relayout(div, { annotations: [] });
      Plotly.extendTraces(div, { x: [[new Date(now)], [new Date(now)]], y: [[mean], [r[r.length - 1]]] }, [0, 1], 1500);
      Plotly.relayout(div, { "xaxis.range": [new Date(now - HOUR), new Date(now)] });
    }
  }

  Promise.all(data.metrics.map(drawChart)).then(function () { setInterval(tick, LIVE_EVERY); });
})();
