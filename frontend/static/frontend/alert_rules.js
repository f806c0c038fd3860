// Alert rules page: operators switch rules on and off; admins add, change and delete them in a
// dialog. Everything goes through the rules API, whose 400s name the field at fault.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("rules-data").textContent);
  const table = document.getElementById("rules");
  const dialog = document.getElementById("rule-dialog");
  const form = document.getElementById("rule-form");
  let editing = null;

  const send = IoTLive.api;

  table.addEventListener("change", async function (e) {
    const box = e.target.closest("input[data-toggle]");
    if (!box) return;
    const row = box.closest("tr");
    try {
      await send("PATCH", data.rules_url + "/" + row.dataset.rule, { enabled: box.checked });
      row.classList.toggle("rule-off", !box.checked);
      IoTLive.toast("Rule " + (box.checked ? "enabled" : "disabled"), "ok");
    } catch (err) {
      box.checked = !box.checked;
      IoTLive.toast(err.message, "bad");
    }
  });

  if (!form) return;
  const error = form.querySelector("[data-error]");
  const metrics = document.getElementById("metric-names");

  function fillMetrics() {
    const target = form.elements.target.value;
    const type = target.startsWith("type:") ? target.slice(5) : null;
    const names = type ? data.metrics[type] || [] : [].concat.apply([], Object.values(data.metrics));
    metrics.replaceChildren.apply(metrics, Array.from(new Set(names)).sort().map(function (m) {
      const o = document.createElement("option"); o.value = m; return o;
    }));
  }
  form.elements.target.addEventListener("change", fillMetrics);

  function open(rule) {
    editing = rule ? rule.id : null;
    form.reset();
    error.textContent = "";
    document.getElementById("rule-title").textContent = rule ? "Edit " + rule.name : "New rule";
    if (rule) {
      for (const name of ["name", "kind", "metric", "direction", "severity", "duration_seconds", "window_seconds", "cooldown_seconds"]) {
        form.elements[name].value = rule[name];
      }
      form.elements.threshold.value = rule.threshold === null ? "" : rule.threshold;
      form.elements.clear_threshold.value = rule.clear_threshold === null ? "" : rule.clear_threshold;
      form.elements.enabled.checked = rule.enabled;
      form.elements.target.value = rule.device ? "device:" + rule.device : "type:" + rule.device_type;
    }
    fillMetrics();
    dialog.showModal();
  }

  function number(name) { const v = form.elements[name].value; return v === "" ? null : Number(v); }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    error.textContent = "";
    const target = form.elements.target.value;
    const body = {
      name: form.elements.name.value.trim(),
      device_type: target.startsWith("type:") ? target.slice(5) : null,
      device: target.startsWith("device:") ? Number(target.slice(7)) : null,
      kind: form.elements.kind.value,
      metric: form.elements.metric.value.trim(),
      direction: form.elements.direction.value,
      threshold: number("threshold"),
      clear_threshold: number("clear_threshold"),
      duration_seconds: number("duration_seconds") || 0,
      window_seconds: number("window_seconds") || 0,
      severity: form.elements.severity.value,
      cooldown_seconds: number("cooldown_seconds") || 0,
      enabled: form.elements.enabled.checked,
    };
    try {
      if (editing) await send("PATCH", data.rules_url + "/" + editing, body);
      else await send("POST", data.rules_url, body);
      dialog.close();
      location.reload();
    } catch (err) { error.textContent = err.message; }
  });
  form.querySelector("[data-cancel]").addEventListener("click", function () { dialog.close(); });
  document.getElementById("new-rule").addEventListener("click", function () { open(null); });

  table.addEventListener("click", async function (e) {
    const row = e.target.closest("tr[data-rule]");
    if (!row) return;
    const url = data.rules_url + "/" + row.dataset.rule;
    if (e.target.closest("[data-edit]")) {
      try { open(await send("GET", url)); } catch (err) { IoTLive.toast(err.message, "bad"); }
    } else if (e.target.closest("[data-delete]")) {
      if (!confirm("Delete this rule?")) return;
      try { await send("DELETE", url); row.remove(); IoTLive.toast("Rule deleted", "ok"); }
      catch (err) { IoTLive.toast(err.message, "bad"); }
    }
  });
})();
