// pb ballot pages: progressive enhancement only (every page works without this file).
// The receipt's print button is hidden without JavaScript, where the page says to use the browser's Print.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
  // After a refused ballot, move focus to the list of problems so a screen reader reads it first.
  const problems = document.getElementById("ballot-problems");
  if (problems) problems.focus();
});
