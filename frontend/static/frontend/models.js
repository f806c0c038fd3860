// Models page: "Retrain now" asks the training API for a run of the device type (an operator's
// or an admin's) and a progress bar follows it over the live socket; when the run ends the page
// reloads to show the new versions and why each was or was not activated.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("models-data").textContent);

  function section(type) { return document.querySelector('section[data-type="' + CSS.escape(type) + '"]'); }
  function show(box, run) {
    box.hidden = false;
    box.dataset.run = run.run || run.id;
    box.querySelector("[data-bar]").value = run.progress;
    const status = run.status.charAt(0).toUpperCase() + run.status.slice(1);
    box.querySelector("[data-step]").textContent = status + (run.step ? ": " + run.step : "");
  }

  document.querySelectorAll("[data-retrain]").forEach(function (button) {
    button.addEventListener("click", async function () {
      const box = section(button.dataset.retrain).querySelector("[data-training]");
      button.disabled = true;
      try {
        const run = await IoTLive.api("POST", data.training_url, { type: button.dataset.retrain });
        show(box, run);
        IoTLive.toast("Retraining " + run.device_type + ": run #" + run.id, "ok");
      } catch (err) {
        button.disabled = false;
        IoTLive.toast(err.message, "bad");
      }
    });
  });

  IoTLive.on(IoTLive.events.TRAINING, function (run) {
    const place = section(run.device_type);
    if (!place) return;
    const box = place.querySelector("[data-training]");
    show(box, run);
    if (run.status === "done" || run.status === "failed") {
      box.querySelector("[data-step]").textContent += run.status === "done" ? " — new versions below" : "";
      setTimeout(function () { location.reload(); }, 1500);
    }
  });
})();
