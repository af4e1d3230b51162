# Loaded by schemathesis (SCHEMATHESIS_HOOKS=hooks) in tests/api/fuzz.rs.
import json, os, re, urllib.request, uuid
import schemathesis

VALID = re.compile(r"^[!-~]{1,255}$")
# An mfa_token works only for the user agent of its password step: the hook's
# login and the fuzzer's second step say the same one.
AGENT = "authd-fuzz"

def fresh_mfa_token():
    """A real mfa_token: the password step of AUTHD_MFA_LOGIN (a user with a
    second factor), or None when not set up or refused (429)."""
    login, base = os.environ.get("AUTHD_MFA_LOGIN"), os.environ.get("AUTHD_BASE_URL")
    if not login or not base:
        return None
    body = json.dumps({"login": login, "password": os.environ["AUTHD_MFA_PASSWORD"]})
    request = urllib.request.Request(base + "/auth/login", data=body.encode(),
                                     headers={"content-type": "application/json",
                                              "user-agent": AGENT})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer).get("mfa_token")
    except Exception:
        return None


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # A new key per call, as a client would use it; invalid keys stay as generated.
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and VALID.match(key):
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    # The login's second step with a live mfa_token, so the code is what is tested.
    body = case.body
    if case.path == "/auth/login/mfa" and isinstance(body, dict) \
            and isinstance(body.get("mfa_token"), str):
        token = fresh_mfa_token()
        if token:
            body["mfa_token"] = token
            case.headers = {**(case.headers or {}), "User-Agent": AGENT}

# The admin import takes JSON lines (application/x-ndjson) as one string.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
