// The room page, live: one WebSocket to the room (docs/socket.md) carries the chat and the
// tips as they are made; it reconnects after a drop and asks only for the lines it missed. The
// suggested amounts fill the tip form. The page works without it (the tip form posts).
const chat = document.getElementById("chat");
const room = chat && chat.dataset.room;
const lines = document.getElementById("chat-lines");
const state = document.getElementById("chat-state");
const form = document.getElementById("chat-form");
const input = document.getElementById("chat-text");
const tips = document.getElementById("tips");
const tipsEmpty = document.getElementById("tips-empty");
let socket = null;
let lastId = 0;
let retry = 1000;

function show(line) {
  if (line.id <= lastId) return;
  lastId = line.id;
  const item = document.createElement("li");
  item.dataset.id = String(line.id);
  const who = document.createElement("strong");
  // Text, never markup: names and lines are user input.
  who.textContent = line.from;
  item.append(who, document.createTextNode(` ${line.text}`));
  lines.append(item);
  while (lines.children.length > 200) lines.firstElementChild.remove();
  lines.scrollTop = lines.scrollHeight;
}

function showTip(tip) {
  const item = document.createElement("li");
  const usd = tip.amount_usd ? ` (≈ $${tip.amount_usd})` : "";
  item.textContent = `${tip.tipper} tipped ${tip.amount} LIVE${usd}`;
  tips.prepend(item);
  while (tips.children.length > 50) tips.lastElementChild.remove();
  if (tipsEmpty) tipsEmpty.hidden = true;
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const after = lastId ? `?after=${lastId}` : "";
  socket = new WebSocket(`${scheme}://${window.location.host}/api/rooms/${encodeURIComponent(room)}/socket${after}`);
  socket.addEventListener("message", (e) => {
    let f;
    try {
      f = JSON.parse(e.data);
    } catch {
      return;
    }
    if (f.type === "welcome") {
      retry = 1000;
      for (const line of f.backlog) show(line);
      state.textContent = f.can_chat ? "" : "Read-only: sign in to chat.";
      state.classList.remove("error");
      if (form) form.hidden = !f.can_chat;
    } else if (f.type === "chat") {
      show(f);
    } else if (f.type === "tip") {
      showTip(f);
    } else if (f.type === "presence") {
      const guests = f.guests > 0 ? ` · ${f.guests} guest${f.guests === 1 ? "" : "s"}` : "";
      document.getElementById("audience").textContent = `${f.viewers} watching${guests}`;
    } else if (f.type === "error") {
      state.textContent = f.message;
      state.classList.add("error");
    }
  });
  socket.addEventListener("close", () => {
    state.textContent = "Reconnecting…";
    window.setTimeout(connect, retry);
    retry = Math.min(retry * 2, 30000);
  });
}

if (room && "WebSocket" in window) {
  connect();
  if (form) {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = input.value.trim();
      if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
      socket.send(JSON.stringify({ v: 1, type: "chat", text }));
      input.value = "";
      state.textContent = "";
      state.classList.remove("error");
    });
  }
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
