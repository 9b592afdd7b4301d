"use strict";
// System updates (update_routes.py), shown to administrators only: a bundle goes up as the
// multipart field "bundle" (or its URL as JSON); the gateway installs it into the other
// slot and restarts into it on trial. The card follows GET /api/system/update meanwhile.
(() => {
  const card = document.getElementById("update");
  const status = document.getElementById("update-status");
  const running = document.getElementById("update-running");
  const bar = document.getElementById("update-progress");
  // What the card puts before the status's message (which says the rest: versions, why).
  const SAY = {installing: "Installing:", failed: "The update failed:"};
  let timer = null;

  function show(answer) {
    card.hidden = false;
    running.textContent = answer.booted_slot
      ? `Running version ${answer.booted_version} from slot ${answer.booted_slot}` +
        (answer.other_slot_version ? `; the other slot holds ${answer.other_slot_version}.` : ".")
      : "";
    bar.hidden = answer.state !== "installing";
    if (answer.progress !== null && answer.progress !== undefined) bar.value = answer.progress;
    const said = SAY[answer.state] || "";
    let message = answer.message || "";
    if (message && !said) message = message[0].toUpperCase() + message.slice(1);
    status.textContent = [said, message].join(" ").trim();
    const busy = answer.state === "installing" || answer.state === "rebooting";
    clearTimeout(timer);
    if (busy) timer = setTimeout(poll, 2000);
  }

  async function poll() {
    try {
      const response = await fetch("/api/system/update", {credentials: "same-origin"});
      if (response.status === 403 || response.status === 404) return;  // not an administrator
      if (response.ok) show(await response.json());
      else timer = setTimeout(poll, 5000);
    } catch (error) {
      timer = setTimeout(poll, 5000);  // restarting: try again until it answers
    }
  }

  async function start(body, headers) {
    status.textContent = "Sending the update…";
    try {
      const response = await fetch("/api/system/update", {method: "POST", body, headers,
                                                         credentials: "same-origin"});
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        status.textContent = `Not installed: ${answer.error || response.statusText}`;
        return;
      }
      poll();
    } catch (error) {
      status.textContent = `Not installed: ${error}`;
    }
  }

  document.getElementById("update-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file || !window.confirm(`Install ${file.name}? The gateway restarts into it; ` +
        "if it does not come up healthy, the current version comes back by itself.")) return;
    const form = new FormData();
    form.append("bundle", file);
    start(form, {});
  });
  document.getElementById("update-url").addEventListener("submit", (event) => {
    event.preventDefault();
    const url = document.getElementById("update-address").value.trim();
    if (url) start(JSON.stringify({url}), {"Content-Type": "application/json"});
  });
  poll();
})();
