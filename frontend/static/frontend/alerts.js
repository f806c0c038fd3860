// Alerts page: the active alarms (or the history) as the server rendered them, kept current by
// the socket's `alarm` events — a new alarm matching the filters appears at the top, a changed
// one updates in place, one that leaves the tab is shown as such — and operators' steps
// (acknowledge, clear, close, comment) through the alarms API. ?alarm=ID opens its details.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("alerts-data").textContent);
  const table = document.querySelector("#alarms tbody");
  const dialog = document.getElementById("alarm-dialog");
  const RANK = {};
  data.severities.forEach(function (s, i) { RANK[s] = i; });
  const LABEL = { open: "Open", acknowledged: "Acknowledged", cleared: "Cleared", closed: "Closed" };
  const STEPS = { acknowledge: ["open"], clear: ["open", "acknowledged"], close: ["open", "acknowledged", "cleared"] };
  let current = null;  // the alarm shown in the dialog

  function fmt(iso) {
    const d = new Date(iso);
    const p = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  function time(iso) { const t = document.createElement("time"); t.dateTime = iso; t.textContent = fmt(iso); return t; }

  function matches(a) {
    const f = data.filters;
    if (data.statuses.indexOf(a.status) < 0) return false;
    if (f.severity && RANK[a.severity] > RANK[f.severity]) return false;
    if (f.device && a.device !== f.device) return false;
    if (f.rule && a.rule !== f.rule) return false;
    return true;
  }

  function setSteps(row, status) {
    row.querySelectorAll("button[data-step]").forEach(function (b) {
      b.hidden = STEPS[b.dataset.step].indexOf(status) < 0;
    });
  }

  function rowFor(a) {
    const tr = document.createElement("tr");
    tr.dataset.alarm = a.alarm; tr.dataset.severity = a.severity; tr.dataset.status = a.status;
    tr.dataset.device = a.device; tr.dataset.rule = a.rule;
    const sev = document.createElement("td");
    const pill = document.createElement("span");
    pill.className = "pill severity-" + a.severity;
    pill.textContent = a.severity.charAt(0).toUpperCase() + a.severity.slice(1);
    sev.appendChild(pill);
    tr.appendChild(sev);
    const status = cell(LABEL[a.status] || a.status); status.dataset.field = "status"; tr.appendChild(status);
    const dev = document.createElement("td");
    const link = document.createElement("a"); link.href = "/devices/" + a.device + "/"; link.textContent = a.device_name;
    dev.appendChild(link); tr.appendChild(dev);
    const rule = document.createElement("td");
    const open = document.createElement("a"); open.href = "?tab=" + data.tab + "&alarm=" + a.alarm; open.dataset.open = "";
    open.textContent = a.rule_name; rule.appendChild(open); tr.appendChild(rule);
    const opened = document.createElement("td"); opened.appendChild(time(a.at)); tr.appendChild(opened);
    const last = document.createElement("td"); last.dataset.field = "last_seen_at"; last.appendChild(time(a.at)); tr.appendChild(last);
    const count = cell(a.occurrences); count.dataset.field = "occurrences"; tr.appendChild(count);
    const value = cell(a.value === null ? "—" : a.value); value.dataset.field = "value"; tr.appendChild(value);
    if (data.can_act) {
      const actions = document.createElement("td"); actions.className = "actions";
      for (const step of ["acknowledge", "clear", "close"]) {
        const b = document.createElement("button"); b.type = "button"; b.dataset.step = step;
        b.textContent = step.charAt(0).toUpperCase() + step.slice(1); actions.appendChild(b);
      }
      tr.appendChild(actions);
      setSteps(tr, a.status);
    }
    return tr;
  }

  function update(row, a) {
    row.dataset.status = a.status;
    row.querySelector('[data-field="status"]').textContent = LABEL[a.status] || a.status;
    row.querySelector('[data-field="occurrences"]').textContent = a.occurrences;
    if (a.value !== null && a.value !== undefined) row.querySelector('[data-field="value"]').textContent = a.value;
    const last = row.querySelector('[data-field="last_seen_at"]');
    if (a.action === "updated" || a.action === "repeated" || a.action === "opened" || a.action === "reopened") {
      last.replaceChildren(time(a.at));
    }
    setSteps(row, a.status);
    row.classList.toggle("left-tab", data.statuses.indexOf(a.status) < 0);
  }

  function flash(row) {
    row.classList.remove("flash"); void row.offsetWidth; row.classList.add("flash");
  }

  IoTLive.on(IoTLive.events.ALARM, function (a) {
    let row = table.querySelector('tr[data-alarm="' + a.alarm + '"]');
    if (row) { update(row, a); flash(row); }
    else if (matches(a)) {
      const empty = table.querySelector("tr.empty");
      if (empty) empty.remove();
      row = rowFor(a);
      table.prepend(row);
      flash(row);
      const n = table.querySelectorAll("tr[data-alarm]").length;
      document.getElementById("shown").textContent = n + " alarm" + (n === 1 ? "" : "s");
    }
    if (current && current.id === a.alarm) show(a.alarm);
  });

  function call(url, body) { return IoTLive.api("POST", url, body || {}); }

  async function step(id, name, text) {
    try {
      const alarm = await call(data.alarms_url + "/" + id + "/" + name, { text: text || "" });
      const row = table.querySelector('tr[data-alarm="' + id + '"]');
      if (row) update(row, { status: alarm.status, occurrences: alarm.occurrences, value: alarm.last_value, action: name, at: alarm.last_seen_at });
      if (current && current.id === id) render(alarm);
      IoTLive.toast(alarm.rule_name + " on " + alarm.device_name + ": " + (LABEL[alarm.status] || alarm.status).toLowerCase(), "ok");
    } catch (err) {
      IoTLive.toast(err.message, "bad");
      if (current && current.id === id) show(id);
    }
  }

  table.addEventListener("click", function (e) {
    const button = e.target.closest("button[data-step]");
    if (button) { step(Number(button.closest("tr").dataset.alarm), button.dataset.step); return; }
    const open = e.target.closest("a[data-open]");
    if (open) { e.preventDefault(); show(Number(open.closest("tr").dataset.alarm)); }
  });

  // --- details --------------------------------------------------------------------------
  function fact(dl, term, value) {
    const dt = document.createElement("dt"); dt.textContent = term;
    const dd = document.createElement("dd"); dd.textContent = value === null || value === undefined || value === "" ? "—" : value;
    dl.append(dt, dd);
  }

  function render(a) {
    current = a;
    dialog.querySelector("#alarm-title").textContent = a.rule_name + " on " + a.device_name;
    const dl = dialog.querySelector("[data-facts]");
    dl.replaceChildren();
    fact(dl, "Severity", a.severity);
    fact(dl, "Status", LABEL[a.status] || a.status);
    fact(dl, "Opened", fmt(a.opened_at));
    fact(dl, "Last seen", fmt(a.last_seen_at));
    fact(dl, "Occurrences", a.occurrences);
    fact(dl, "First value", a.first_value);
    fact(dl, "Last value", a.last_value);
    fact(dl, "Message", a.message);
    if (a.acknowledged_at) fact(dl, "Acknowledged", fmt(a.acknowledged_at) + " by " + a.acknowledged_by);
    if (a.cleared_at) fact(dl, "Cleared", fmt(a.cleared_at) + " by " + (a.cleared_by || "the platform (condition cleared)"));
    if (a.closed_at) fact(dl, "Closed", fmt(a.closed_at) + " by " + a.closed_by);
    const list = dialog.querySelector("[data-activity]");
    list.replaceChildren();
    for (const item of a.activity || []) {
      const li = document.createElement("li");
      const who = item.actor || "platform";
      li.textContent = fmt(item.at) + " · " + item.action + " · " + who + (item.value !== null ? " · " + item.value : "") + (item.text ? " — " + item.text : "");
      list.appendChild(li);
    }
    const form = document.getElementById("comment-form");
    if (form) form.querySelectorAll("button[data-step]").forEach(function (b) { b.hidden = STEPS[b.dataset.step].indexOf(a.status) < 0; });
  }

  async function show(id) {
    try {
      const response = await fetch(data.alarms_url + "/" + id, { credentials: "same-origin" });
      if (!response.ok) throw new Error(response.status === 404 ? "No such alarm." : response.statusText);
      render(await response.json());
      if (!dialog.open) dialog.showModal();
    } catch (err) { IoTLive.toast(err.message, "bad"); }
  }

  const form = document.getElementById("comment-form");
  if (form) {
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      const error = form.querySelector("[data-error]");
      error.textContent = "";
      try {
        await call(data.alarms_url + "/" + current.id + "/comments", { text: form.elements.text.value });
        form.reset();
        show(current.id);
      } catch (err) { error.textContent = err.message; }
    });
    form.addEventListener("click", function (e) {
      const button = e.target.closest("button[data-step]");
      if (button && current) step(current.id, button.dataset.step, form.elements.text.value).then(function () { form.reset(); });
    });
  }
  dialog.addEventListener("close", function () { current = null; });
  if (data.focus) show(data.focus);
})();
