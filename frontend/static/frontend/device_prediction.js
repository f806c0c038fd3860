// Device page, the Prediction card: what the engine says of the device now (health, remaining
// useful life with its 80 % interval, anomaly score and open spell, the soonest forecast
// crossing of a warning limit, its behaviour cluster) from the prediction API, kept current by
// each scoring minute on the socket; and a chart of health and RUL (with its interval) over the
// last 7 days from the scores API, extended live.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("device-data").textContent);
  const card = document.getElementById("prediction");
  const trend = document.getElementById("trend");
  const WEEK = 7 * 24 * 3600e3;

  function set(key, text) { card.querySelector('[data-p="' + key + '"]').textContent = text; }
  function hours(h) { return h < 1 ? Math.round(h * 60) + " min" : (h < 48 ? h.toFixed(1) + " h" : Math.round(h) + " h"); }
  function unit(metric) { const u = (data.metrics[metric] || {}).unit; return u ? " " + u : ""; }

  function showRul(rul) {
    if (rul.hours === null || rul.hours === undefined) { set("rul", "—"); return; }
    const range = rul.low !== null && rul.high !== null && rul.low !== undefined
      ? " (80 %: " + Math.round(rul.low) + " to " + Math.round(rul.high) + " h)" : "";
    set("rul", Math.round(rul.hours) + " h" + range);
  }
  function showCrossing(c) {
    if (!c) { set("crossing", "no warning limit crossed in the next 3 h"); return; }
    set("crossing", c.metric + " passes " + c.limit + unit(c.metric) + " (" + c.direction + ") in about " +
        hours(c.hours) + ", as early as " + hours(c.earliest_hours));
  }
  function showSpell(a) {
    set("anomaly", a ? "since " + new Date(a.started_at).toLocaleString() + ", " + a.detector + ": " +
        a.drivers.map(function (d) { return d.metric + " " + Math.round((d.share || 0) * 100) + " %"; }).join(", ") : "none open");
  }
  function show(p) {
    set("minute", p.minute ? "as of " + new Date(p.minute).toLocaleTimeString() : "not scored yet");
    set("health", p.health === null ? "—" : Math.round(p.health) + " / 100");
    showRul(p.rul);
    set("anomaly_score", p.anomaly_score === null ? "—" : p.anomaly_score.toFixed(2) + (p.anomaly_score > 1 ? " (above 1: anomalous)" : ""));
    showSpell(p.anomaly);
    if (p.minute) showCrossing(p.crossing);
    set("cluster", p.cluster === null ? "—" : (p.cluster < 0 ? "an outlier" : String(p.cluster)));
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.json();
  }

  function drawTrend(series) {
    const h = series._health || { t: [], avg: [] }, r = series._rul_hours || { t: [], avg: [] };
    const lo = series._rul_low || { t: [], avg: [] }, hi = series._rul_high || { t: [], avg: [] };
    const c = IoTLive.colors();
    const traces = [
      { x: hi.t, y: hi.avg, name: "RUL 80 % high", mode: "lines", line: { width: 0 }, yaxis: "y2", showlegend: false, hoverinfo: "skip" },
      { x: lo.t, y: lo.avg, name: "RUL interval", mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(255,176,32,0.18)", yaxis: "y2" },
      { x: r.t, y: r.avg, name: "RUL (h)", mode: "lines", line: { color: "#ffb020" }, yaxis: "y2" },
      { x: h.t, y: h.avg, name: "health", mode: "lines", line: { color: "#33c27f" } },
    ];
    Plotly.newPlot(trend, traces, {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: c.text },
      margin: { l: 40, r: 50, t: 30, b: 40 }, height: 240, legend: { orientation: "h", x: 0, y: 1.2 },
      xaxis: { gridcolor: c.grid, nticks: 4 },
      yaxis: { title: "health", range: [0, 100], gridcolor: c.grid },
      yaxis2: { title: "RUL (h)", overlaying: "y", side: "right", rangemode: "tozero" },
    }, { displayModeBar: false, responsive: true });
    trend.dataset.points = String(h.t.length + r.t.length);
  }

  async function load() {
    try { show(await getJson(data.prediction_url)); } catch (err) { set("minute", "prediction unavailable"); }
    const end = new Date(), start = new Date(end.getTime() - WEEK);
    try {
      const body = await getJson(data.scores_url + "?" + new URLSearchParams({ start: start.toISOString(), end: end.toISOString(), points: "300" }));
      drawTrend(body.series);
    } catch (err) { trend.textContent = "No scores to chart."; }
  }

  IoTLive.on(IoTLive.events.DEVICE_SCORES, function (payload) {
    const s = payload.devices[String(data.device)];
    if (!s) return;
    set("minute", "as of " + new Date(payload.minute).toLocaleTimeString());
    set("health", s.health === null ? "—" : Math.round(s.health) + " / 100");
    showRul({ hours: s.rul_hours, low: s.rul_low, high: s.rul_high });
    if (s.anomaly !== null) set("anomaly_score", s.anomaly.toFixed(2) + (s.anomaly > 1 ? " (above 1: anomalous)" : ""));
    if ("crossing" in s) showCrossing(s.crossing);
    if (trend.data) {
      const at = payload.minute;
      Plotly.extendTraces(trend, { x: [[at], [at], [at], [at]], y: [[s.rul_high], [s.rul_low], [s.rul_hours], [s.health]] }, [0, 1, 2, 3]);
    }
  });
  // A spell of this device opening or ending, as the scoring minute finds it.
  IoTLive.on(IoTLive.events.ANOMALY, function (a) {
    if (String(a.device) === String(data.device)) showSpell(a.state === "opened" ? a : null);
  });
  load();
})();
