// Notifications page: your own settings (PATCH .../notifications/me) and, for admins, who hears
// of each severity (PATCH .../recipients/<severity>). The API's 400s name the field at fault.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("notifications-data").textContent);

  function patch(url, body) { return IoTLive.api("PATCH", url, body); }

  const form = document.getElementById("profile-form");
  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    const error = form.querySelector("[data-error]");
    error.textContent = "";
    const f = form.elements;
    const body = {
      email: f.email.checked, sms: f.sms.checked, phone: f.phone.value.trim(),
      webhook: f.webhook.checked, webhook_url: f.webhook_url.value.trim(), webhook_format: f.webhook_format.value,
      min_severity: f.min_severity.value, quiet_start: f.quiet_start.value || null,
      quiet_end: f.quiet_end.value || null, quiet_critical: f.quiet_critical.checked,
    };
    if (f.webhook_secret.value) body.webhook_secret = f.webhook_secret.value;
    try {
      await patch(data.me_url, body);
      f.webhook_secret.value = "";
      IoTLive.toast("Notification settings saved", "ok");
    } catch (err) { error.textContent = err.message; }
  });

  const recipients = document.getElementById("recipients");
  if (recipients) {
    recipients.addEventListener("click", async function (e) {
      if (!e.target.closest("[data-save]")) return;
      const row = e.target.closest("tr");
      const people = Array.from(row.querySelector('select[name="people"]').selectedOptions).map(function (o) { return Number(o.value); });
      try {
        await patch(data.recipients_url + "/" + row.dataset.severity, {
          audience: row.querySelector('select[name="audience"]').value, people: people,
        });
        IoTLive.toast("Recipients of " + row.dataset.severity + " alarms saved", "ok");
      } catch (err) { IoTLive.toast(err.message, "bad"); }
    });
  }
})();
