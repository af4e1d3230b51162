// The pages' one script, and all it does: put a mail link's token (in the
// fragment, which no server receives) into its form, and the WebAuthn
// ceremonies (the browser API wants ArrayBuffers, authd speaks base64url).
// Without it every page but the passkey buttons works.
"use strict";

const b64u = {
  decode: (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)),
  encode: (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
};

function csrf() {
  const field = document.querySelector("input[name=csrf]");
  return field ? field.value : "";
}

async function call(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": csrf() },
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json().catch(() => ({}));
  if (answer.redirect && !answer.recovery_codes) {
    window.location.assign(answer.redirect);
    return null;
  }
  if (!response.ok) throw new Error(answer.detail || String(response.status));
  return answer;
}

function publicKey(options, kind) {
  const o = structuredClone(options.publicKey || options);
  o.challenge = b64u.decode(o.challenge);
  if (kind === "create") o.user.id = b64u.decode(o.user.id);
  for (const list of [o.allowCredentials, o.excludeCredentials]) {
    for (const c of list || []) c.id = b64u.decode(c.id);
  }
  return o;
}

function credentialJson(credential) {
  const r = credential.response;
  const response = { clientDataJSON: b64u.encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64u.encode(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
  } else {
    response.authenticatorData = b64u.encode(r.authenticatorData);
    response.signature = b64u.encode(r.signature);
    response.userHandle = r.userHandle ? b64u.encode(r.userHandle) : null;
  }
  return {
    id: credential.id, rawId: b64u.encode(credential.rawId), type: credential.type,
    response, extensions: credential.getClientExtensionResults(),
  };
}

function problem(error) {
  const p = document.getElementById("passkey-problem");
  p.textContent = error.message;
  p.hidden = false;
}

// Sign in (or finish the second step) with a passkey.
async function assert(optionsPath, finishPath, returnTo) {
  try {
    const started = await call(optionsPath);
    if (!started) return;
    const credential = await navigator.credentials.get({ publicKey: publicKey(started.options, "get") });
    await call(finishPath, { ceremony: started.ceremony, credential: credentialJson(credential), return_to: returnTo });
  } catch (error) {
    problem(error);
  }
}

async function addPasskey() {
  try {
    const started = await call("/ui/account/passkeys/options");
    if (!started) return;
    const credential = await navigator.credentials.create({ publicKey: publicKey(started.options, "create") });
    const name = document.getElementById("passkey-name").value;
    const added = await call("/ui/account/passkeys", { ceremony: started.ceremony, credential: credentialJson(credential), name });
    if (added && added.recovery_codes) {
      const list = document.getElementById("passkey-codes");
      for (const code of added.recovery_codes) {
        const item = document.createElement("li");
        item.textContent = code;
        list.append(item);
      }
      list.hidden = false;
      const next = document.createElement("a");
      next.href = added.redirect;
      next.className = "button";
      next.textContent = "OK";
      list.after(next);
    }
  } catch (error) {
    problem(error);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  const tokenForm = document.querySelector("form[data-token-form]");
  if (token && tokenForm) {
    tokenForm.querySelector("input[name=token]").value = token;
    history.replaceState(null, "", window.location.pathname);
  }
  const webauthn = "PublicKeyCredential" in window;
  const login = document.querySelector("[data-passkey-login]");
  if (login && webauthn) {
    login.hidden = false;
    document.getElementById("passkey-login").addEventListener("click", () =>
      assert("/ui/login/passkey/options", "/ui/login/passkey", login.dataset.returnTo));
  }
  const mfa = document.querySelector("[data-passkey-mfa]");
  if (mfa && webauthn) {
    mfa.hidden = false;
    document.getElementById("passkey-mfa").addEventListener("click", () =>
      assert("/ui/login/mfa/passkey/options", "/ui/login/mfa/passkey", mfa.dataset.returnTo));
  }
  const add = document.querySelector("[data-passkey-add]");
  if (add && webauthn) {
    add.hidden = false;
    document.getElementById("passkey-add").addEventListener("click", addPasskey);
  }
});
