# Loaded by schemathesis (SCHEMATHESIS_HOOKS=hooks) in tests/api/fuzz.rs.
import re, uuid
import schemathesis

VALID = re.compile(r"^[!-~]{1,255}$")

@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # A new key per call, as a client would use it; invalid keys stay as generated.
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and VALID.match(key):
        case.headers["Idempotency-Key"] = str(uuid.uuid4())

# The admin import takes JSON lines (application/x-ndjson) as one string.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
