// What every signed-in page shares: one WebSocket (the path is <body data-live>), reconnecting
// with backoff (a page whose access ended reloads instead) and showing its state in the top
// bar; toasts when a device changes status and when a critical or major alarm opens; the
// light/dark theme switch; Plotly colours that follow the theme.
// Pages subscribe with IoTLive.on(IoTLive.events.DEVICE_STATUS, fn). The server sends
// {"type": "batch", "events": [...]} at most a few times a second; each event is handed to the
// subscribers of its type. Event names and limits come from the server (iotplatform/live.py),
// rendered into the page as JSON (#live-config): nothing of the vocabulary is repeated here.
window.IoTLive = (function () {
  "use strict";
  const config = JSON.parse(document.getElementById("live-config").textContent);
  const EV = config.events;
  const handlers = {};
  const stateEl = document.getElementById("live-state");
  const toasts = document.getElementById("toasts");
  let socket = null;
  let delay = 500;
  let connectedOnce = false;

  function on(type, fn) { (handlers[type] = handlers[type] || []).push(fn); }

  function emit(type, data) {
    for (const fn of handlers[type] || []) {
      try { fn(data); } catch (err) { console.error(err); }
    }
  }

  function setState(state, text) {
    if (!stateEl) return;
    stateEl.dataset.state = state;
    stateEl.textContent = text;
    stateEl.title = state === "live" ? "Live updates connected" : "Live updates are not connected";
    emit("connection", state);
  }

  function statusLabel(status) { return status ? status.charAt(0).toUpperCase() + status.slice(1) : "?"; }

  // --- toasts ---------------------------------------------------------------------------
  function toast(text, kind, href) {
    if (!toasts) return;
    const el = document.createElement(href ? "a" : "div");
    el.className = "toast toast-" + (kind || "info");
    el.setAttribute("role", "status");
    if (href) el.href = href;
    el.textContent = text;
    toasts.appendChild(el);
    while (toasts.children.length > 4) toasts.firstElementChild.remove();
    setTimeout(function () { el.classList.add("leaving"); }, 6000);
    setTimeout(function () { el.remove(); }, 6600);
  }

  function statusToasts(changes) {
    if (changes.length > 3) {
      const counts = {};
      for (const c of changes) counts[c.to] = (counts[c.to] || 0) + 1;
      const parts = Object.entries(counts).map(function (e) { return e[1] + " " + statusLabel(e[0]).toLowerCase(); });
      toast(changes.length + " devices changed status: " + parts.join(", "), "info", "/devices/");
      return;
    }
    for (const c of changes) {
      const kind = c.to === "healthy" ? "ok" : c.to === "anomaly" ? "warn" : c.to === "offline" ? "bad" : "info";
      toast((c.name || "Device " + c.device) + ": " + statusLabel(c.from) + " → " + statusLabel(c.to),
            kind, "/devices/" + c.device + "/");
    }
  }

  // A new (or reopened) critical or major alarm: a toast on every page, linking to it.
  const LOUD = { critical: "bad", major: "warn" };
  function alarmToasts(raised) {
    if (raised.length > 3) {
      toast(raised.length + " critical or major alarms opened", "bad", "/alerts/");
      return;
    }
    for (const a of raised) {
      toast(a.severity.toUpperCase() + ": " + a.rule_name + " on " + a.device_name, LOUD[a.severity],
            "/alerts/?alarm=" + a.alarm);
    }
  }

  // --- socket ---------------------------------------------------------------------------
  function dispatch(msg) {
    const events = msg.type === "batch" ? msg.events : [msg];
    const changes = [], raised = [];
    for (const event of events) {
      if (event.type === EV.DEVICE_STATUS) changes.push(event.data);
      if (event.type === EV.ALARM && LOUD[event.data.severity]
          && (event.data.action === "opened" || event.data.action === "reopened")) raised.push(event.data);
      emit(event.type, event.data);
    }
    if (changes.length) statusToasts(changes);
    if (raised.length) alarmToasts(raised);
    emit("batch", events);
  }

  // Set when the page starts to leave (a link, a form such as "Log out"): a socket closing
  // because of that departure must not reload the page over it.
  let leaving = false;
  window.addEventListener("beforeunload", function () { leaving = true; });
  window.addEventListener("pageshow", function () { leaving = false; });

  function connect() {
    const path = document.body.dataset.live;
    if (!path) return;
    setState(connectedOnce ? "reconnecting" : "connecting", connectedOnce ? "Reconnecting…" : "Connecting…");
    socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
    socket.onopen = function () {
      delay = 500;
      connectedOnce = true;
      setState("live", "Live");
    };
    socket.onmessage = function (e) { dispatch(JSON.parse(e.data)); };
    socket.onclose = function (e) {
      socket = null;
      // Access gone (signed out, removed from the tenant, role or account changed): reloading
      // shows the sign-in page or the refusal instead of retrying a socket that cannot open.
      if (e.code === config.closeCodes.SIGNED_OUT || e.code === config.closeCodes.FORBIDDEN) {
        setState("closed", "Access ended");
        // Unless the page is already on its way somewhere (the sign-out button's own request
        // closes the socket too): a reload then would cancel that navigation.
        if (!leaving) location.reload();
        return;
      }
      setState("reconnecting", "Reconnecting in " + Math.max(1, Math.round(delay / 1000)) + " s…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  // --- theme ----------------------------------------------------------------------------
  function colors() {
    const css = getComputedStyle(document.documentElement);
    const v = function (name, fallback) { return css.getPropertyValue(name).trim() || fallback; };
    return { text: v("--text", "#e6edf3"), muted: v("--muted", "#8b98a5"), grid: v("--border", "#2b3640"),
             accent: v("--accent", "#3fb6ff"), ok: v("--ok", "#2ecc71"), warn: v("--warn", "#f1c40f"),
             bad: v("--bad", "#ff5c5c") };
  }

  function plotTheme() {
    const c = colors();
    return { "font.color": c.muted, "title.font.color": c.text, "xaxis.gridcolor": c.grid,
             "yaxis.gridcolor": c.grid, "legend.font.color": c.muted };
  }

  function setTheme(theme) {
    document.documentElement.dataset.theme = theme;
    try { localStorage.setItem("theme", theme); } catch (err) { /* private mode */ }
    const button = document.getElementById("theme-toggle");
    if (button) button.textContent = theme === "dark" ? "Light theme" : "Dark theme";
    if (window.Plotly) {
      document.querySelectorAll(".js-plotly-plot").forEach(function (div) { Plotly.relayout(div, plotTheme()); });
    }
    emit("theme", theme);
  }

  const themeButton = document.getElementById("theme-toggle");
  if (themeButton) {
    themeButton.textContent = document.documentElement.dataset.theme === "dark" ? "Light theme" : "Dark theme";
    themeButton.addEventListener("click", function () {
      setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
    });
  }

  // Pages' scripts come after this one and subscribe first; connect once they have.
  document.addEventListener("DOMContentLoaded", connect);

  // Plotly joins every two neighbouring points; a device that stopped reporting must show a gap.
  // Returns copies of the columns with a null row wherever times jump by more than maxGap ms.
  function withGaps(times, columns, maxGap) {
    const t = [], out = columns.map(function () { return []; });
    for (let i = 0; i < times.length; i++) {
      const ms = new Date(times[i]).getTime();
      if (i && ms - new Date(times[i - 1]).getTime() > maxGap) {
        t.push(new Date(ms - 1));
        out.forEach(function (c) { c.push(null); });
      }
      t.push(times[i]);
      out.forEach(function (c, k) { c.push(columns[k][i]); });
    }
    return { t: t, columns: out };
  }

  // Django's CSRF token, for the pages' API calls that change something.
  function csrf() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // The pages' calls to the API that change something: the answer's JSON, or an Error whose
  // message names each field the API refused (a ListField's errors come by index).
  async function api(method, url, body) {
    const response = await fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    const payload = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      const parts = payload.detail ? [payload.detail] : Object.entries(payload).map(function (e) {
        const errors = typeof e[1] === "object" && !Array.isArray(e[1]) ? Object.values(e[1]).flat() : [].concat(e[1]);
        return (e[0] === "non_field_errors" ? "" : e[0] + ": ") + errors.join(" ");
      });
      throw new Error(parts.join(" ") || response.statusText);
    }
    return payload;
  }

  return { on: on, events: EV, csrf: csrf, api: api, maxPointsPerMetric: config.maxPointsPerMetric, toast: toast, colors: colors, statusLabel: statusLabel, withGaps: withGaps,
           socket: function () { return socket; },
           connected: function () { return socket !== null && socket.readyState === 1; } };
})();
