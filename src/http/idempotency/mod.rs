//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) on the routes that
//! change state and whose answers hold no secret (sign-up, profile changes, logout).
//! The first answer is stored with the key, scoped to the client address, for 24 h,
//! with a fingerprint of the request: a repeat gets the same status and body, marked
//! `Idempotent-Replayed: true`, without the work being done again, on any replica.
//! A repeat while the first is still running waits up to a lease for it (looking
//! every 100 ms): it gets its answer, takes the key over (its holder died) or gets 409; the same key with another
//! request 422. A 5xx is not stored: the key is released, and a retry does the work.
//! Login and refresh take no key: their answers are credentials, which authd never
//! stores.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::http::auth::Bearer;
use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::http::BODY_LIMIT;
use crate::store::{Claimed, HeldKey, Store, StoredResponse};

mod lease;
pub mod openapi;

use lease::{claim, heartbeat, wait_for_holder};

pub const HEADER: &str = "idempotency-key";

const REPLAYED: &str = "idempotent-replayed";
/// Repeats that may wait for their key's holder at once on one replica (each
/// reads the key every 100 ms for up to a second); past them, 409 at once.
pub const MAX_WAITERS: usize = 128;
/// How long an answer is kept (the draft suggests at least 24 h).
const KEEP: chrono::Duration = chrono::Duration::hours(24);
/// How long a replica keeps trying to keep an answer (or release a key) while
/// the database is away; meanwhile a retry gets 409 "in progress".
const SETTLE_FOR: std::time::Duration = std::time::Duration::from_secs(45);
/// The largest answer kept.
const ANSWER_LIMIT: usize = 64 * 1024;
/// Answer headers worth replaying.
const KEPT_HEADERS: [HeaderName; 2] = [header::LOCATION, header::CONTENT_TYPE];

/// The routes that honour a key: method, route template, and whether the route
/// needs a bearer token (then a request without one goes straight to its 401).
/// `KeyParameter` documents the header on exactly these.
pub const ROUTES: [(&str, &str, bool); 3] = [
    ("POST", "/auth/user", false),
    ("PATCH", "/auth/user/{id}", true),
    ("POST", "/auth/logout", false),
];

pub async fn idempotent(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (request, honoured) = honoured(&state, route, request).await;
    let Some(key) = request.headers().get(HEADER).filter(|_| honoured) else {
        return Ok(next.run(request).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::BadHeader("Idempotency-Key must be 1 to 255 printable ASCII characters")
        })?
        .to_string();
    let (parts, body) = request.into_parts();
    let body = tokio::time::timeout(state.body_timeout, to_bytes(body, BODY_LIMIT))
        .await
        .map_err(|_| ApiError::BodyTimeout)?
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let fingerprint = fingerprint(&parts, &body);
    let held = HeldKey {
        scope: client.to_string(),
        key,
        claim: uuid::Uuid::new_v4().to_string(),
    };
    let claimed = match claim(&state, &held, &fingerprint).await? {
        Claimed::InProgress(until) => wait_for_holder(&state, &held, &fingerprint, until).await?,
        claimed => claimed,
    };
    match claimed {
        Claimed::Started => {}
        Claimed::Busy => return Err(ApiError::KeysInFlight),
        Claimed::InProgress(_) => return Err(ApiError::KeyInProgress { waited: false }),
        Claimed::Mismatch => return Err(ApiError::KeyReused),
        Claimed::Done(stored) => return Ok(replay(stored)),
    }
    let request = Request::from_parts(parts, Body::from(body));
    run_holding(state, held, request, next).await
}

/// Whether this request's route honours a key. A route that needs a token honours
/// it only with a valid one: without, the request goes on to its own 401, the key
/// untouched.
async fn honoured(
    state: &AppState,
    route: Option<MatchedPath>,
    request: Request,
) -> (Request, bool) {
    let route = route.and_then(|route| {
        ROUTES.iter().find(|(method, path, _)| {
            *method == request.method().as_str() && *path == route.as_str()
        })
    });
    match route {
        None => (request, false),
        Some((_, _, false)) => (request, true),
        Some((_, _, true)) => {
            let (mut parts, body) = request.into_parts();
            let valid = Bearer::from_request_parts(&mut parts, state).await.is_ok();
            (Request::from_parts(parts, body), valid)
        }
    }
}

/// What makes two requests the same: method, path, who sent it (another token
/// cannot replay it) and the body.
fn fingerprint(parts: &axum::http::request::Parts, body: &[u8]) -> Vec<u8> {
    let authorization = parts.headers.get(header::AUTHORIZATION);
    let mut digest = Sha256::new();
    digest.update(parts.method.as_str());
    digest.update(b" ");
    digest.update(parts.uri.path());
    digest.update(b"\n");
    digest.update(authorization.map_or(&b""[..], |a| a.as_bytes()));
    digest.update(b"\n");
    digest.update(body);
    digest.finalize().to_vec()
}

/// Runs the request holding its key, renewing the lease meanwhile, then keeps its
/// answer. The work and the storing of its answer run to the end even when the
/// client goes away (a timed-out attempt): otherwise the key would stay "in
/// progress" until abandoned, and the client's retry could not get the answer.
async fn run_holding(
    state: AppState,
    held: HeldKey,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // A route may keep its answer in its own transaction (sign-up does).
    request.extensions_mut().insert(held.clone());
    tokio::spawn(async move {
        let beat = held.clone();
        let HeldKey { scope, key, claim } = held;
        // The heartbeat runs beside the work, never in its way: a renewal waiting
        // for a pool connection must not stall a transaction the work holds open.
        // It lasts until the answer is kept (dropping `beating` ends it).
        let (beating, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(heartbeat(state.clone(), beat, stopped));
        let response = next.run(request).await;
        let answer = finish(&state, &scope, &key, &claim, response).await;
        drop(beating);
        answer
    })
    .await
    .map_err(|err| ApiError::Internal(anyhow::anyhow!("the keyed request failed: {err}")))?
}

/// Keeps the answer with the key (a 5xx releases the key instead) and returns it.
async fn finish(
    state: &AppState,
    scope: &str,
    key: &str,
    claim: &str,
    response: Response,
) -> Result<Response, ApiError> {
    let (mut parts, body) = response.into_parts();
    let body = match to_bytes(body, ANSWER_LIMIT).await {
        Ok(body) => body,
        Err(err) => {
            release(state, scope, key, claim).await;
            return Err(ApiError::Internal(anyhow::anyhow!(
                "reading the answer: {err}"
            )));
        }
    };
    // Only an answer that records work done is kept: a refusal (4xx) or a request
    // that changed nothing is simply done again by a retry, so a client cannot fill
    // the table with keys by sending requests that do nothing.
    let nothing_done = parts.extensions.remove::<NothingDone>().is_some();
    if parts.status.is_server_error() || parts.status.is_client_error() || nothing_done {
        release(state, scope, key, claim).await;
    } else if parts.extensions.remove::<AnswerKept>().is_none() {
        let stored = stored_response(parts.status, &parts.headers, body.to_vec());
        // The work is done: its answer goes to the client now, and is kept with the
        // key as soon as the database takes it (it may just have gone away).
        settle(state, scope, key, claim, Some(stored)).await;
    }
    parts.headers.remove(REPLAYED);
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// On a response that changed nothing (a logout that ended no session, a PATCH
/// with nothing new): its key is not kept.
#[derive(Debug, Clone, Copy)]
pub struct NothingDone;

/// On a response whose route kept it with its key in its own transaction (a
/// sign-up): the middleware does not store it again.
#[derive(Debug, Clone, Copy)]
pub struct AnswerKept;

/// The answer as it is kept with its key.
pub fn stored_response(status: StatusCode, headers: &HeaderMap, body: Vec<u8>) -> StoredResponse {
    StoredResponse {
        status: status.as_u16(),
        headers: KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = headers.get(name)?.to_str().ok()?;
                Some((name.to_string(), value.to_string()))
            })
            .collect(),
        body,
    }
}

/// Forgets the key of a failed request so that a retry does the work.
async fn release(state: &AppState, scope: &str, key: &str, claim: &str) {
    settle(state, scope, key, claim, None).await;
}

/// Keeps `answer` with the key, or releases the key when there is none. When the
/// database refuses, a task tries again for `SETTLE_FOR`: otherwise a client whose
/// attempt timed out would find its key "in progress" until abandoned, and its
/// retry would redo a sign-up that was done (and be told 409 "taken").
async fn settle(
    state: &AppState,
    scope: &str,
    key: &str,
    claim: &str,
    answer: Option<StoredResponse>,
) {
    if try_settle(&state.store, scope, key, claim, answer.as_ref())
        .await
        .is_ok()
    {
        return;
    }
    let (store, scope, key, claim) = (
        state.store.clone(),
        scope.to_string(),
        key.to_string(),
        claim.to_string(),
    );
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + SETTLE_FOR;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            match try_settle(&store, &scope, &key, &claim, answer.as_ref()).await {
                Ok(()) => return,
                Err(err) if tokio::time::Instant::now() >= deadline => {
                    let error = format!("{err:#}");
                    tracing::warn!(error, "an idempotency key was left in progress");
                    return;
                }
                Err(_) => {}
            }
        }
    });
}

async fn try_settle(
    store: &Store,
    scope: &str,
    key: &str,
    claim: &str,
    answer: Option<&StoredResponse>,
) -> anyhow::Result<()> {
    match answer {
        Some(answer) => {
            store
                .finish_idempotency_key(scope, key, claim, answer)
                .await
        }
        None => store.release_idempotency_key(scope, key, claim).await,
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}
