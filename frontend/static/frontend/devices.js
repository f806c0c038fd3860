// Devices table: client-side filters and sorting, live updates, and operator row actions that
// create commands whose status (pending → sent → acked) follows live.
(function () {
  "use strict";
  const table = document.getElementById("devices");
  const filters = document.getElementById("filters");
  const shown = document.getElementById("shown");
  const rows = function () { return Array.from(table.tBodies[0].querySelectorAll("tr[data-device]")); };

  function csrf() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function applyFilters() {
    const f = new FormData(filters);
    const search = String(f.get("search") || "").toLowerCase();
    let count = 0;
    for (const row of rows()) {
      const visible = (!f.get("status") || row.dataset.status === f.get("status")) &&
        (!f.get("type") || row.dataset.type === f.get("type")) &&
        (!search || row.dataset.search.includes(search));
      row.hidden = !visible;
      if (visible) count++;
    }
    shown.textContent = count + " of " + rows().length + " devices";
  }
  filters.addEventListener("input", applyFilters);
  filters.addEventListener("submit", function (e) { e.preventDefault(); });

  table.querySelectorAll("th[data-sort]").forEach(function (th, index) {
    th.addEventListener("click", function () {
      const ascending = th.dataset.dir !== "asc";
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = ascending ? "asc" : "desc";
      const key = function (row) {
        const cell = row.cells[index];
        if (th.dataset.sort === "number") {
          const v = parseFloat(cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent);
          return isNaN(v) ? (ascending ? Infinity : -Infinity) : v;
        }
        return cell.textContent.trim().toLowerCase();
      };
      const sorted = rows().sort(function (a, b) {
        const x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      for (const row of sorted) table.tBodies[0].appendChild(row);
    });
  });

  async function command(deviceId, kind, payload) {
    const response = await fetch("/api/v1/devices/" + deviceId + "/commands", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ kind: kind, payload: payload || {} }),
    });
    const body = await response.json();
    if (!response.ok) throw body;
    showCommand(deviceId, kind, body.status);
    return body;
  }

  function showCommand(deviceId, kind, status) {
    const cell = table.querySelector('tr[data-device="' + deviceId + '"] [data-command]');
    if (cell) cell.textContent = kind + ": " + status;
  }

  table.addEventListener("click", function (e) {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    const name = row.querySelector("a").textContent;
    if (button.dataset.action === "restart") {
      if (window.confirm("Restart " + name + "?")) {
        command(row.dataset.device, "restart").catch(function (err) {
          showCommand(row.dataset.device, "restart", "refused: " + JSON.stringify(err));
        });
      }
    } else {
      openThresholds(row.dataset.device, name);
    }
  });

  const dialog = document.getElementById("thresholds-dialog");
  let dialogDevice = null;
  function openThresholds(deviceId, name) {
    dialogDevice = deviceId;
    dialog.querySelector("[data-name]").textContent = name;
    dialog.querySelector("[data-error]").textContent = "";
    dialog.querySelector("form").reset();
    dialog.showModal();
  }
  if (dialog) {
    dialog.querySelector("[data-cancel]").addEventListener("click", function () { dialog.close(); });
    dialog.querySelector("form").addEventListener("submit", function (e) {
      e.preventDefault();
      const f = new FormData(e.target);
      const error = dialog.querySelector("[data-error]");
      const limits = {};
      for (const key of ["warn_low", "warn_high", "alarm_low", "alarm_high"]) {
        if (f.get(key) !== "") limits[key] = Number(f.get(key));
      }
      const low = limits.warn_low !== undefined ? limits.warn_low : limits.alarm_low;
      const high = limits.warn_high !== undefined ? limits.warn_high : limits.alarm_high;
      if (low !== undefined && high !== undefined && low >= high) {
        error.textContent = "The low threshold must be below the high one."; return;
      }
      const payload = {};
      if (Object.keys(limits).length) payload.thresholds = { [f.get("metric")]: limits };
      if (f.get("interval_seconds") !== "") {
        const interval = Number(f.get("interval_seconds"));
        if (!Number.isInteger(interval) || interval < 1 || interval > 86400) {
          error.textContent = "The interval is a whole number of seconds from 1 to 86400."; return;
        }
        payload.interval_seconds = interval;
      }
      if (!Object.keys(payload).length) { error.textContent = "Set at least one threshold or the interval."; return; }
      command(dialogDevice, "set_config", payload).then(function () { dialog.close(); })
        .catch(function (err) { error.textContent = JSON.stringify(err.payload || err); });
    });
  }

  IoTLive.on(IoTLive.events.TELEMETRY, function (data) {
    for (const [id, metrics] of Object.entries(data.devices)) {
      const cell = table.querySelector('tr[data-device="' + id + '"] [data-latest="temperature"]');
      if (cell && metrics.temperature) {
        cell.dataset.value = metrics.temperature[1];
        cell.textContent = metrics.temperature[1].toFixed(1);
      }
    }
  });
  IoTLive.on(IoTLive.events.DEVICE_STATUS, function (data) {
    const row = table.querySelector('tr[data-device="' + data.device + '"]');
    if (!row) return;
    row.dataset.status = data.to;
    const pill = row.querySelector("[data-status-pill]");
    pill.className = "pill status-" + data.to;
    pill.textContent = IoTLive.statusLabel(data.to);
    pill.title = data.reason || "";
    applyFilters();
  });
  // Health and RUL as the scoring minute sets them; the lowest tenth of RULs in red (as the
  // server marks them on load).
  function setNumber(cell, value) {
    if (!cell || value === undefined) return;
    cell.dataset.value = value === null ? "" : value;
    cell.textContent = value === null ? "—" : Number(value).toFixed(0);
  }
  function markLowRul() {
    const rows = Array.from(table.querySelectorAll("tr[data-device]"));
    const ruls = rows.map(function (r) { return r.querySelector("[data-rul]").dataset.value; })
      .filter(function (v) { return v !== ""; }).map(Number).sort(function (a, b) { return a - b; });
    const low = ruls.length ? ruls[Math.max(0, Math.floor(ruls.length / 10) - 1)] : null;
    for (const row of rows) {
      const v = row.querySelector("[data-rul]").dataset.value;
      row.classList.toggle("low-rul", low !== null && v !== "" && Number(v) <= low);
    }
  }
  IoTLive.on(IoTLive.events.DEVICE_SCORES, function (data) {
    for (const [id, score] of Object.entries(data.devices)) {
      const row = table.querySelector('tr[data-device="' + id + '"]');
      if (!row) continue;
      setNumber(row.querySelector("[data-health]"), score.health);
      setNumber(row.querySelector("[data-rul]"), score.rul_hours);
    }
    markLowRul();
  });
  IoTLive.on(IoTLive.events.COMMAND_STATUS, function (data) { showCommand(data.device, data.kind, data.status); });
  applyFilters();
})();
