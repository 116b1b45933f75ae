// The studio's ID-document upload: the document is sealed in this browser, so the server never
// sees it. A fresh age identity (the document key) encrypts the file; that identity is wrapped
// to every current verifier's recipient; the server stores both and a commitment to the key's
// proof (see server/api/src/key_proof.rs), and cannot read either.
import { Encrypter, armor, generateX25519Identity, identityToRecipient } from "age-encryption";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";

const PROOF_TAG = "livestars/iddoc-key-proof/v1\n";
const COMMITMENT_TAG = "livestars/iddoc-key-commitment/v1\n";

/** The commitment to a document key's proof (lower-case hex). */
export function keyCommitment(identity) {
  const proof = sha256(utf8ToBytes(PROOF_TAG + identity.trim()));
  const tag = utf8ToBytes(COMMITMENT_TAG);
  const input = new Uint8Array(tag.length + proof.length);
  input.set(tag);
  input.set(proof, tag.length);
  return bytesToHex(sha256(input));
}

/** The accepted document types, from the first bytes (as the server's own upload sniffs). */
export function sniff(bytes) {
  const starts = (sig) => sig.every((b, i) => bytes[i] === b);
  if (starts([0xff, 0xd8, 0xff])) return "image/jpeg";
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (starts([0x25, 0x50, 0x44, 0x46, 0x2d])) return "application/pdf";
  return null;
}

/** Seal `bytes` to `recipients`: the ciphertext, the armored wrapped key, the commitment. */
export async function seal(bytes, recipients) {
  const docKey = await generateX25519Identity();
  const doc = new Encrypter();
  doc.addRecipient(await identityToRecipient(docKey));
  const ciphertext = await doc.encrypt(bytes);
  const wrap = new Encrypter();
  for (const r of recipients) wrap.addRecipient(r);
  const wrappedKey = armor.encode(await wrap.encrypt(docKey));
  return { ciphertext, wrappedKey, commitment: keyCommitment(docKey) };
}

function base64(text) {
  const bytes = utf8ToBytes(text);
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export async function json(res) {
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || `the server answered ${res.status}`);
  return data;
}

/** Seal the chosen file and upload it; the page reloads to show the new status. */
export async function uploadDocument(form, status) {
  const input = form.querySelector("input[type=file]");
  const file = input.files && input.files[0];
  if (!file) throw new Error("Choose a photo or scan of your ID document first.");
  const bytes = new Uint8Array(await file.arrayBuffer());
  const type = sniff(bytes);
  if (!type) throw new Error("Your ID document must be a JPEG, PNG or PDF file.");
  status.textContent = "Encrypting in your browser…";
  const { recipients, max_bytes } = await json(
    await fetch("/api/iddocs/recipients", { credentials: "same-origin" }),
  );
  if (bytes.length > max_bytes) {
    throw new Error(`The file is larger than ${Math.floor(max_bytes / 1048576)} MB.`);
  }
  const sealed = await seal(bytes, recipients);
  status.textContent = "Uploading the encrypted document…";
  await json(
    await fetch("/api/iddocs/sealed", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "content-type": "application/octet-stream",
        "livestars-wrapped-key": base64(sealed.wrappedKey),
        "livestars-key-commitment": sealed.commitment,
        "livestars-recipients": recipients.join(" "),
        "livestars-document-type": type,
      },
      body: sealed.ciphertext,
    }),
  );
  window.location.assign("/studio?done=iddoc-uploaded");
}

