// The smallest page that registers a passkey and signs in with it (issue 24);
// the hosted pages grow from it. WebAuthn needs this script: the options authd
// sends have their binary fields in base64url, the browser wants ArrayBuffers,
// and its answer goes back in base64url. The access token stays in this page's
// memory, never in storage.
"use strict";

const b64u = {
  decode: (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)),
  encode: (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
};

let accessToken = null;
let refreshToken = null;

function show(text) {
  document.getElementById("status").textContent = text;
}

function signedIn(tokens) {
  const token = tokens.access_token;
  accessToken = token;
  refreshToken = tokens.refresh_token;
  const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  show(`Signed in as ${claims.sub} (${claims.amr.join(", ")}; ${claims.acr}).`);
  document.getElementById("register-button").disabled = false;
  document.getElementById("logout-button").disabled = false;
}

async function call(path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.detail || `${response.status}`);
  return answer;
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
    id: credential.id,
    rawId: b64u.encode(credential.rawId),
    type: credential.type,
    response,
    extensions: credential.getClientExtensionResults(),
  };
}

async function passwordLogin(event) {
  event.preventDefault();
  try {
    const tokens = await call("/auth/login", {
      login: document.getElementById("login").value,
      password: document.getElementById("password").value,
    });
    if (tokens.mfa_required) {
      show("This account needs its second factor: sign in with its passkey below.");
      return;
    }
    signedIn(tokens);
  } catch (error) {
    show(`Sign-in failed: ${error.message}`);
  }
}

async function register() {
  try {
    const started = await call("/auth/passkeys/registration", {}, accessToken);
    const options = started.options.publicKey;
    options.challenge = b64u.decode(options.challenge);
    options.user.id = b64u.decode(options.user.id);
    (options.excludeCredentials || []).forEach((c) => { c.id = b64u.decode(c.id); });
    const credential = await navigator.credentials.create({ publicKey: options });
    const done = await call("/auth/passkeys", {
      ceremony: started.ceremony,
      credential: credentialJson(credential),
      name: document.getElementById("passkey-name").value,
    }, accessToken);
    let said = `Passkey "${done.passkey.name}" added.`;
    if (done.recovery_codes) {
      said += ` Your recovery codes, shown this once (keep them somewhere safe): ${done.recovery_codes.join(" ")}`;
    }
    show(said);
  } catch (error) {
    show(`Adding a passkey failed: ${error.message}`);
  }
}

async function passkeyLogin() {
  try {
    const started = await call("/auth/login/passkey/options", {});
    const options = started.options.publicKey;
    options.challenge = b64u.decode(options.challenge);
    (options.allowCredentials || []).forEach((c) => { c.id = b64u.decode(c.id); });
    const credential = await navigator.credentials.get({ publicKey: options });
    const tokens = await call("/auth/login/passkey", {
      ceremony: started.ceremony,
      credential: credentialJson(credential),
    });
    signedIn(tokens);
  } catch (error) {
    show(`Passkey sign-in failed: ${error.message}`);
  }
}

async function forget() {
  // The session ends on the server (its refresh token's family is revoked); the
  // access token, held only by this page, is dropped with it.
  if (refreshToken) {
    try {
      await call("/auth/logout", { refresh_token: refreshToken });
    } catch (error) {
      show(`Sign-out failed, the session still runs: ${error.message}`);
      return;
    }
  }
  accessToken = null;
  refreshToken = null;
  document.getElementById("register-button").disabled = true;
  document.getElementById("logout-button").disabled = true;
  show("Not signed in.");
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login-form").addEventListener("submit", passwordLogin);
  document.getElementById("register-button").addEventListener("click", register);
  document.getElementById("passkey-button").addEventListener("click", passkeyLogin);
  document.getElementById("logout-button").addEventListener("click", forget);
});
