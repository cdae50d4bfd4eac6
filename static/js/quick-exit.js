// Quick exit: the button, or Shift pressed three times within two seconds, replaces this
// page with a neutral site. location.replace() keeps Hearth out of the tab's Back history.
const PRESSES = 3;
const WINDOW_MS = 2000;

function exitData() {
  const button = document.getElementById("quick-exit");
  return (button && button.dataset) || {};
}

export function quickExit() {
  const { exitUrl, exitTitle } = exitData();
  document.title = exitTitle || "New tab";
  document.body.hidden = true;
  window.location.replace(exitUrl || "https://weather.com/");
}

let presses = [];

document.addEventListener("keydown", (event) => {
  if (event.key !== "Shift" || event.repeat) {
    if (event.key !== "Shift") presses = [];
    return;
  }
  const now = Date.now();
  presses = presses.filter((time) => now - time < WINDOW_MS);
  presses.push(now);
  if (presses.length >= PRESSES) {
    presses = [];
    quickExit();
  }
});

document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("#quick-exit") : null;
  if (link) {
    event.preventDefault();
    quickExit();
  }
});

// The skip link moves focus to the main content without adding "#main" to the tab's history:
// Quick exit can only replace the current entry, so any extra Hearth entry would come back
// with one press of Back.
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a.skip-link") : null;
  const target = link && document.getElementById(link.hash.slice(1));
  if (target) {
    event.preventDefault();
    target.focus(); // also scrolls it into view
  }
});
