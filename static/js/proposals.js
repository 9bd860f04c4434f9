// pb proposal list: progressive enhancement only (the filter form works without this file).
// A bad filter (e.g. "cost up to" below "cost from") answers 400 with the message inside #results;
// htmx does not swap 4xx responses by default, so allow it for that region only.
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (target && target.id === "results" && event.detail.xhr.status === 400) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// Keep the pushed address short and shareable: "?q=garden", not "?q=garden&pot=&category=&status=...".
document.addEventListener("htmx:configRequest", (event) => {
  const form = event.detail.elt;
  const data = event.detail.formData;
  if (!form || form.id !== "filters" || !data) return;
  for (const [name, value] of [...data.entries()]) {
    if (value === "") data.delete(name);
  }
});
