// Progressive enhancement only; every page works without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    for (const el of form.querySelectorAll(".js-hide")) el.hidden = true;
    form.querySelector("select")?.addEventListener("change", () => form.requestSubmit());
  }
});
