// Wallet actions through the browser's injected provider (EIP-1193, `window.ethereum`):
// bind a wallet to the signed-in account, or sign in with one. The server issues a one-time
// EIP-4361 message; the wallet signs it (personal_sign); nothing is sent on chain.
const status = document.getElementById("wallet-js-status");

function say(text, isError) {
  if (!status) return;
  status.textContent = text;
  status.className = isError ? "error" : "meta";
}

function hexOf(text) {
  return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || `the server answered ${res.status}`);
  return data;
}

async function signChallenge(purpose) {
  const provider = window.ethereum;
  if (!provider || typeof provider.request !== "function") {
    throw new Error("no wallet was found in this browser; install one (for example MetaMask) and reload");
  }
  const accounts = await provider.request({ method: "eth_requestAccounts" });
  const address = accounts && accounts[0];
  if (!address) throw new Error("the wallet shared no account");
  const challenge = await api("POST", "/api/wallet/challenges", { address, purpose });
  const signature = await provider.request({
    method: "personal_sign",
    params: [hexOf(challenge.message), address],
  });
  return { nonce: challenge.nonce, signature };
}

for (const box of document.querySelectorAll(".wallet-box")) box.hidden = false;
for (const button of document.querySelectorAll("button[data-wallet]")) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    say("Waiting for your wallet…", false);
    try {
      const action = button.dataset.wallet;
      const purpose = ["bind", "delete_account"].includes(action) ? action : "sign_in";
      const signed = await signChallenge(purpose);
      if (action === "bind") {
        await api("PUT", "/api/me/wallet/address", signed);
        window.location.reload();
      } else if (action === "delete_account") {
        const res = await fetch("/api/me", {
          method: "DELETE",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(signed),
          credentials: "same-origin",
        });
        if (!res.ok) {
          const data = await res.json().catch(() => ({}));
          throw new Error(data.message || `the server answered ${res.status}`);
        }
        window.location.assign("/deleted");
      } else {
        await api("POST", "/api/wallet/sessions", signed);
        const next = button.dataset.next || "/";
        window.location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
      }
    } catch (e) {
      say(`The wallet step failed: ${e.message || e}.`, true);
      button.disabled = false;
    }
  });
}
