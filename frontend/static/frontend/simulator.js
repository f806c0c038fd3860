// Simulator page: start / stop / restart through the API; status follows live.
(function () {
  "use strict";
  function csrf() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }
  function show(data) {
    const cap = function (s) { return s ? s.charAt(0).toUpperCase() + s.slice(1) : "—"; };
    document.getElementById("sim-status").textContent = cap(data.status);
    document.getElementById("sim-desired").textContent = data.desired;
    document.getElementById("sim-devices").textContent = data.devices;
    const stats = data.stats || {};
    if (data.transport) document.getElementById("sim-transport").textContent = data.transport.toUpperCase();
    const delivered = data.transport === "mqtt" ? "published" : "accepted";
    for (const [id, key] of [["sim-reporting", "reporting"], ["sim-failed", "failed"],
                             ["sim-rate", "points_per_s"], ["sim-accepted", delivered]]) {
      document.getElementById(id).textContent = stats[key] !== undefined ? stats[key] : "—";
    }
    if (stats.wearing) showDevices(stats.wearing);
  }
  // The devices nearest to failing, as the simulator last reported them.
  function showDevices(rows) {
    const body = document.querySelector("#sim-devices-state tbody");
    body.replaceChildren(...rows.map(function (d) {
      const tr = document.createElement("tr");
      tr.dataset.serial = d.serial;
      for (const text of [d.serial, d.kind, d.mode, d.failed ? "failed" : Math.round(d.wear * 100) + " %",
                          d.faults.length ? d.faults.join(", ") : "—",
                          d.next_anomaly_s === null ? "—" : d.next_anomaly_s + " s"]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      return tr;
    }));
  }
  const form = document.getElementById("sim-form");
  if (form) {
    form.addEventListener("click", async function (e) {
      const button = e.target.closest("button[data-action]");
      if (!button) return;
      const f = new FormData(form);
      const body = { action: button.dataset.action };
      if (button.dataset.action !== "stop") {
        body.devices = Number(f.get("devices"));
        body.interval_seconds = Number(f.get("interval_seconds"));
        body.time_scale = Number(f.get("time_scale"));
        body.transport = f.get("transport");
      }
      const response = await fetch("/api/v1/simulator", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      document.getElementById("sim-error").textContent = response.ok ? "" : JSON.stringify(answer);
      if (response.ok) show(answer);
    });
  }
  IoTLive.on(IoTLive.events.SIMULATION_STATUS, show);

  // Fault injection: a "simulate" command to the chosen device; its answer follows live.
  const faults = document.getElementById("fault-form");
  if (faults) {
    const result = document.getElementById("fault-result");
    const WEAR = ["bearing", "overheating", "seal_leak", "battery_fade"];
    let sent = null;
    const showFor = function () {
      const anomaly = WEAR.indexOf(faults.elements.fault.value) < 0;
      faults.querySelectorAll("[data-for-anomaly]").forEach(function (l) { l.hidden = !anomaly; });
    };
    faults.elements.fault.addEventListener("change", showFor);
    showFor();
    faults.addEventListener("submit", async function (e) {
      e.preventDefault();
      const f = faults.elements, payload = { fault: f.fault.value };
      if (WEAR.indexOf(f.fault.value) < 0) {
        if (f.metric.value) payload.metric = f.metric.value;
        payload.minutes = Number(f.minutes.value);
      }
      try {
        const command = await IoTLive.api("POST", "/api/v1/devices/" + f.device.value + "/commands",
                                          { kind: "simulate", payload: payload });
        sent = command.id;
        result.textContent = payload.fault + " sent to " + f.device.selectedOptions[0].textContent + ": " + command.status;
      } catch (err) { result.textContent = err.message; }
    });
    IoTLive.on(IoTLive.events.COMMAND_STATUS, function (c) {
      if (c.command !== sent) return;
      result.textContent = result.textContent.replace(/: \w+$/, ": " + c.status);
    });
  }
})();
