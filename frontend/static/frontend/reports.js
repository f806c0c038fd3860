// Reports page: operators send a schedule's report now; admins add, change and delete
// schedules in a dialog, with a preview of the first rows it would send. Everything goes through
// the reports API, whose 400s name the field at fault.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("reports-data").textContent);
  const table = document.getElementById("schedules");
  const dialog = document.getElementById("schedule-dialog");
  const form = document.getElementById("schedule-form");
  let editing = null;

  const send = IoTLive.api;

  table.addEventListener("click", async function (e) {
    const row = e.target.closest("tr[data-schedule]");
    if (!row) return;
    const url = data.schedules_url + "/" + row.dataset.schedule;
    try {
      if (e.target.closest("[data-send]")) {
        const run = await send("POST", url + "/send");
        IoTLive.toast("Report " + run.name + " on its way to " + run.recipients.length + " recipient(s)", "ok");
        setTimeout(function () { location.reload(); }, 1500);
      } else if (e.target.closest("[data-edit]")) {
        open(await send("GET", url));
      } else if (e.target.closest("[data-delete]")) {
        if (!confirm("Delete this schedule? The reports it produced stay.")) return;
        await send("DELETE", url);
        row.remove();
      }
    } catch (err) { IoTLive.toast(err.message, "bad"); }
  });

  if (!form) return;
  const error = form.querySelector("[data-error]");
  const preview = form.querySelector("[data-preview]");

  function showFor() {
    const frequency = form.elements.frequency.value, scope = form.elements.scope.value;
    form.querySelectorAll("[data-for]").forEach(function (label) {
      const key = label.dataset.for;
      label.hidden = !(key === frequency || key === scope);
    });
    form.querySelector("[data-for-section]").hidden = !form.querySelector('input[name="sections"][value="readings"]').checked;
  }
  form.elements.frequency.addEventListener("change", showFor);
  form.elements.scope.addEventListener("change", showFor);
  form.querySelectorAll('input[name="sections"]').forEach(function (i) { i.addEventListener("change", showFor); });

  function list(text) { return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }
  function selected(name) {
    return Array.from(form.elements[name].selectedOptions).map(function (o) { return Number(o.value); });
  }

  function body() {
    const f = form.elements, frequency = f.frequency.value, scope = f.scope.value;
    const sections = Array.from(form.querySelectorAll('input[name="sections"]:checked')).map(function (i) { return i.value; });
    return {
      name: f.name.value.trim(), frequency: frequency, at: f.at.value,
      weekday: frequency === "weekly" ? Number(f.weekday.value) : null,
      day_of_month: frequency === "monthly" ? Number(f.day_of_month.value) : null,
      scope: scope, device_type: scope === "type" ? f.device_type.value : null,
      tag: scope === "tag" ? f.tag.value.trim() : "", devices: scope === "list" ? selected("devices") : [],
      metrics: list(f.metrics.value),
      sections: sections, bucket: sections.indexOf("readings") >= 0 ? f.bucket.value : "",
      people: selected("people"), emails: list(f.emails.value), enabled: f.enabled.checked,
    };
  }

  function open(schedule) {
    editing = schedule ? schedule.id : null;
    form.reset();
    error.textContent = "";
    preview.replaceChildren();
    document.getElementById("schedule-title").textContent = schedule ? "Edit " + schedule.name : "New schedule";
    if (schedule) {
      const f = form.elements;
      f.name.value = schedule.name; f.frequency.value = schedule.frequency; f.at.value = schedule.at.slice(0, 5);
      if (schedule.weekday !== null) f.weekday.value = schedule.weekday;
      if (schedule.day_of_month !== null) f.day_of_month.value = schedule.day_of_month;
      f.scope.value = schedule.scope;
      if (schedule.device_type) f.device_type.value = schedule.device_type;
      f.tag.value = schedule.tag; f.metrics.value = schedule.metrics.join(", ");
      f.emails.value = schedule.emails.join(", "); f.enabled.checked = schedule.enabled;
      Array.from(f.devices.options).forEach(function (o) { o.selected = schedule.devices.indexOf(Number(o.value)) >= 0; });
      const people = schedule.people.map(function (p) { return p.id; });
      Array.from(f.people.options).forEach(function (o) { o.selected = people.indexOf(Number(o.value)) >= 0; });
      form.querySelectorAll('input[name="sections"]').forEach(function (i) { i.checked = schedule.sections.indexOf(i.value) >= 0; });
      if (schedule.bucket) f.bucket.value = schedule.bucket;
    }
    showFor();
    dialog.showModal();
  }

  function table_(file) {
    const wrap = document.createElement("div");
    const title = document.createElement("p");
    // rows is null when the preview read only as far as it shows (the readings): "at least".
    title.textContent = file.rows === null ? file.name + ": the first " + file.first.length + " rows"
      : file.name + ": " + file.rows + " row" + (file.rows === 1 ? "" : "s") + (file.rows > file.first.length ? " (the first " + file.first.length + ")" : "");
    const t = document.createElement("table");
    t.className = "table small";
    const head = document.createElement("tr");
    for (const h of file.header) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
    t.appendChild(head);
    for (const r of file.first) {
      const tr = document.createElement("tr");
      for (const v of r) { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); }
      t.appendChild(tr);
    }
    wrap.append(title, t);
    return wrap;
  }

  form.querySelector("[data-preview-button]").addEventListener("click", async function () {
    error.textContent = "";
    preview.replaceChildren();
    try {
      const result = await send("POST", data.preview_url, body());
      const note = document.createElement("p");
      note.className = "muted small";
      note.textContent = "For " + new Date(result.period_start).toLocaleString() + " – " + new Date(result.period_end).toLocaleString();
      preview.append(note, ...result.files.map(table_));
    } catch (err) { error.textContent = err.message; }
  });

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    error.textContent = "";
    try {
      if (editing) await send("PATCH", data.schedules_url + "/" + editing, body());
      else await send("POST", data.schedules_url, body());
      dialog.close();
      location.reload();
    } catch (err) { error.textContent = err.message; }
  });
  form.querySelector("[data-cancel]").addEventListener("click", function () { dialog.close(); });
  document.getElementById("new-schedule").addEventListener("click", function () { open(null); });
})();
