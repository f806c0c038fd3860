// Live updates for the overview: one WebSocket per page, reconnecting with backoff.
(function () {
  "use strict";
  const state = document.getElementById("live-state");
  const feed = document.getElementById("feed");
  let delay = 500;

  function setState(text) { if (state) state.textContent = text; }

  function addFeed(text) {
    if (!feed) return;
    const placeholder = feed.querySelector(".muted");
    if (placeholder) placeholder.remove();
    const li = document.createElement("li");
    li.textContent = new Date().toLocaleTimeString() + "  " + text;
    feed.prepend(li);
    while (feed.children.length > 100) feed.lastElementChild.remove();
  }

  function bumpCount(status, delta) {
    const cell = document.querySelector('[data-status-count="' + status + '"]');
    if (cell) cell.textContent = String(Math.max(0, (parseInt(cell.textContent, 10) || 0) + delta));
  }

  function onEvent(msg) {
    if (msg.type === "device.status") {
      bumpCount(msg.data.from, -1);
      bumpCount(msg.data.to, +1);
      const row = document.querySelector('tr[data-device="' + msg.data.device + '"]');
      if (row) {
        const pill = row.querySelector("[data-status]");
        pill.className = "pill status-" + msg.data.to;
        pill.textContent = msg.data.to.charAt(0).toUpperCase() + msg.data.to.slice(1);
        addFeed(row.querySelector("a").textContent + ": " + msg.data.from + " → " + msg.data.to);
      } else {
        addFeed("device " + msg.data.device + ": " + msg.data.from + " → " + msg.data.to);
      }
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/live/");
    ws.onopen = function () { delay = 500; setState("live"); };
    ws.onmessage = function (e) { onEvent(JSON.parse(e.data)); };
    ws.onclose = function () {
      setState("reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  connect();
})();
