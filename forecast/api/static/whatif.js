// Saving and deleting what-if scenarios. Saving: POST /v1/scenarios/saved with the key typed into the page. The key goes in
// the request's header and nowhere else (not in the address, not in storage); the field is cleared after.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const removal = document.getElementById("delete");
  if (removal) {
    const said = document.getElementById("delete-status");
    removal.addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = removal.elements.key;
      const id = removal.elements.id.value;
      said.textContent = "Deleting…";
      let response;
      try {
        response = await fetch("/v1/scenarios/saved/" + encodeURIComponent(id), {
          method: "DELETE",
          headers: { "X-API-Key": key.value },
        });
      } catch (error) {
        said.textContent = "Not deleted: the service did not answer.";
        return;
      } finally {
        key.value = "";
      }
      if (response.status === 204) {
        window.location.assign("/what-if");
        return;
      }
      const answer = await response.json().catch(() => ({}));
      said.textContent = "Not deleted: " + (response.status === 401 ? "the API key is missing or wrong" : answer.detail || response.statusText) + ".";
    });
  }
  const form = document.getElementById("save");
  if (!form) return;
  const status = document.getElementById("save-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = form.elements.key;
    const scenario = JSON.parse(document.getElementById(form.dataset.scenarioSource).textContent);
    scenario.name = form.elements.name.value.trim();
    status.textContent = "Saving…";
    let response;
    try {
      response = await fetch("/v1/scenarios/saved", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-API-Key": key.value },
        body: JSON.stringify(scenario),
      });
    } catch (error) {
      status.textContent = "Not saved: the service did not answer.";
      return;
    } finally {
      key.value = "";
    }
    const answer = await response.json().catch(() => ({}));
    if (response.status === 201) {
      const unit = document.getElementById("unit").value;
      window.location.assign("/what-if?saved=" + encodeURIComponent(answer.id) + "&unit=" + encodeURIComponent(unit));
      return;
    }
    const detail = Array.isArray(answer.detail) ? answer.detail.map((d) => d.msg).join("; ") : answer.detail;
    const why = response.status === 401 ? "the API key is missing or wrong" : detail || response.statusText;
    status.textContent = "Not saved: " + why + ".";
  });
});
