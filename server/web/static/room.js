// The room page, live: tips arrive over the server's event stream (SSE) as they are made,
// and the suggested amounts fill the tip form. The page works without it.
const list = document.getElementById("tips");
const room = list && list.dataset.room;
if (room && "EventSource" in window) {
  const empty = document.getElementById("tips-empty");
  const events = new EventSource(`/api/rooms/${encodeURIComponent(room)}/events`);
  events.addEventListener("tip", (e) => {
    let tip;
    try {
      tip = JSON.parse(e.data);
    } catch {
      return;
    }
    const item = document.createElement("li");
    const usd = tip.amount_usd ? ` (≈ $${tip.amount_usd})` : "";
    // Text, never markup: a tipper's name is user input.
    item.textContent = `${tip.tipper} tipped ${tip.amount} LIVE${usd}`;
    list.prepend(item);
    while (list.children.length > 50) list.lastElementChild.remove();
    if (empty) empty.hidden = true;
  });
}
const amount = document.getElementById("amount");
for (const preset of document.querySelectorAll("button.preset[data-amount]")) {
  preset.hidden = false;
  preset.addEventListener("click", () => {
    if (amount) {
      amount.value = preset.dataset.amount;
      amount.focus();
    }
  });
}

// Arriving from "Report her room" on the model page: the report form is open.
if (window.location.hash === "#report") {
  const report = document.getElementById("report");
  if (report) report.open = true;
}
