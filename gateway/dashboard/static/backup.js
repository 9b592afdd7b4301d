"use strict";
// Restore from the dashboard: the file goes up as the request body (backup_routes.py); the
// gateway checks it and keeps it, and the next boot restores it.
document.getElementById("restore-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  const status = document.getElementById("restore-status");
  event.target.value = "";
  if (!file || !window.confirm(`Restore ${file.name}? At its next start the gateway takes ` +
      "the settings, users, keys, retained messages and history of the backup.")) {
    return;
  }
  status.textContent = "Checking the backup…";
  try {
    const response = await fetch("/api/system/restore", {method: "POST", body: file,
                                                          credentials: "same-origin"});
    const answer = await response.json().catch(() => ({}));
    status.textContent = response.ok
      ? `The backup of ${answer.hostname} made ${answer.created} is checked and kept: it is ` +
        "restored when the gateway next starts. Unplug it and plug it in again (that is safe)."
      : `Not restored: ${answer.error || response.statusText}`;
  } catch (error) {
    status.textContent = `Not restored: ${error}`;
  }
});
