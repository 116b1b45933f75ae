// The studio page's live parts: the ID document is sealed in this browser before it is
// uploaded (iddoc.js), and the avatar is sent as the raw image the API takes. Both forms stay
// hidden without JavaScript (the page says why).
import { json, uploadDocument } from "./iddoc.js";

/** Send the chosen image as the model's avatar. */
async function uploadAvatar(form, status) {
  const input = form.querySelector("input[type=file]");
  const file = input.files && input.files[0];
  if (!file) throw new Error("Choose an image first.");
  status.textContent = "Uploading…";
  await json(
    await fetch(`/api/profiles/${encodeURIComponent(form.dataset.username)}/avatar`, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "content-type": "application/octet-stream" },
      body: file,
    }),
  );
  window.location.assign("/studio?done=avatar");
}

/** Show `form` and run `action` on submit, with its messages in `#{form.id}-status`. */
function wire(id, action) {
  const form = document.getElementById(id);
  if (!form) return;
  const status = document.getElementById(`${id}-status`);
  form.hidden = false;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    status.classList.remove("error");
    action(form, status).catch((e) => {
      status.textContent = e.message;
      status.classList.add("error");
      button.disabled = false;
    });
  });
}

wire("iddoc-upload", uploadDocument);
wire("avatar-upload", uploadAvatar);
