// Fill timezone fields from the browser, so times are right without asking.
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

if (browserZone) {
  // Sign-up: a hidden field takes the browser's timezone as it is.
  for (const input of document.querySelectorAll("input[data-browser-timezone]")) {
    input.value = browserZone;
  }
  // Settings: offer the browser's timezone when it differs from the saved one.
  const select = document.querySelector("select[name=timezone]");
  const suggestion = document.querySelector("[data-browser-timezone-suggestion]");
  const hasOption = select && [...select.options].some((option) => option.value === browserZone);
  if (select && suggestion && hasOption && select.value !== browserZone) {
    suggestion.querySelector("[data-browser-timezone-name]").textContent = browserZone;
    suggestion.hidden = false;
    suggestion.querySelector("[data-use-browser-timezone]").addEventListener("click", () => {
      select.value = browserZone;
      suggestion.hidden = true;
      select.focus();
    });
  }
}
