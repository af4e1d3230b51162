use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::domain::PublicUser;

/// What happened to a user; the CloudEvents `type` is `authd.user.<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserEventKind {
    Created,
    /// Brought by an import (`authd users import`), with its password hash.
    Imported,
    /// An administrator locked the account: no login, no refresh.
    Locked,
    Unlocked,
    /// Username and/or email changed.
    Updated,
    PasswordChanged,
    /// The password was set with a reset link (every session ended).
    PasswordReset,
    /// The user confirmed its email with a verification link.
    Verified,
    /// The user confirmed a new email with the link sent to it.
    EmailChanged,
    Deleted,
    /// A second factor was confirmed (and recovery codes made).
    MfaEnabled,
    /// A second factor was removed (by the user, or an admin: `authdactor`).
    MfaDisabled,
    RecoveryCodesRegenerated,
    /// A recovery code finished a login or a step-up.
    RecoveryCodeUsed,
    /// A passkey was registered (a factor; the first makes recovery codes).
    PasskeyAdded,
    /// A passkey was removed (by the user, or an admin: `authdactor`).
    PasskeyRemoved,
    /// A passkey's signature counter went back: the authenticator may have been
    /// cloned. The login was refused.
    PasskeyCloneSuspected,
}

impl UserEventKind {
    pub fn event_type(self) -> &'static str {
        match self {
            UserEventKind::Created => "authd.user.created",
            UserEventKind::Imported => "authd.user.imported",
            UserEventKind::Locked => "authd.user.locked",
            UserEventKind::Unlocked => "authd.user.unlocked",
            UserEventKind::Updated => "authd.user.updated",
            UserEventKind::PasswordChanged => "authd.user.password_changed",
            UserEventKind::PasswordReset => "authd.user.password_reset",
            UserEventKind::Verified => "authd.user.verified",
            UserEventKind::EmailChanged => "authd.user.email_changed",
            UserEventKind::Deleted => "authd.user.deleted",
            UserEventKind::MfaEnabled => "authd.user.mfa_enabled",
            UserEventKind::MfaDisabled => "authd.user.mfa_disabled",
            UserEventKind::RecoveryCodesRegenerated => "authd.user.recovery_codes_regenerated",
            UserEventKind::RecoveryCodeUsed => "authd.user.recovery_code_used",
            UserEventKind::PasskeyAdded => "authd.user.passkey_added",
            UserEventKind::PasskeyRemoved => "authd.user.passkey_removed",
            UserEventKind::PasskeyCloneSuspected => "authd.user.passkey_clone_suspected",
        }
    }
}

/// Why a session ended; `authd.session.revoked` says it as `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// The user logged out, or ended the session from the sessions list.
    Logout,
    /// A spent refresh token was presented again: someone else holds a copy.
    Reuse,
    PasswordChange,
    /// The password was set with a reset link.
    PasswordReset,
    /// An administrator locked the account or logged the user out.
    Admin,
    /// The user was deleted.
    Delete,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::Reuse => "reuse",
            RevokeReason::PasswordChange => "password_change",
            RevokeReason::PasswordReset => "password_reset",
            RevokeReason::Admin => "admin",
            RevokeReason::Delete => "delete",
        }
    }
}

pub const SESSION_REVOKED: &str = "authd.session.revoked";

/// `authd.session.revoked`: session `session` of `user` ended at `now`. A verifier
/// refuses the access tokens of the session (claim `sid`) from then on; the Kafka
/// key is the user, so it comes in order with the user's other events.
pub fn session_revoked(
    session: Uuid,
    user: Uuid,
    reason: RevokeReason,
    source: &str,
    now: DateTime<Utc>,
) -> OutboxEvent {
    let id = Uuid::now_v7();
    let time = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    let payload = json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": SESSION_REVOKED,
        "subject": user,
        "time": time,
        "datacontenttype": "application/json",
        "data": { "session_id": session, "user_id": user, "reason": reason.as_str(), "revoked_at": time },
    });
    OutboxEvent {
        id,
        aggregate_id: user,
        event_type: SESSION_REVOKED.to_string(),
        payload,
        created_at: now,
    }
}

/// Marks an event as done by `actor` (`admin:<name>` for the admin API), as the
/// CloudEvents extension attribute `authdactor`; events without it were done by
/// the user themselves (or by authd, for a reuse).
pub fn done_by(mut event: OutboxEvent, actor: Option<&str>) -> OutboxEvent {
    if let Some(actor) = actor {
        event.payload["authdactor"] = actor.into();
    }
    event
}

/// One event about one user, on its way into the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: Uuid,
    /// The user: the Kafka key, and what orders the user's events.
    pub aggregate_id: Uuid,
    pub event_type: String,
    /// The CloudEvents JSON envelope.
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A CloudEvents 1.0 structured-mode envelope about `user`. `data` is the public
/// user: no password material can reach consumers.
pub fn user_event(
    kind: UserEventKind,
    user: &PublicUser,
    source: &str,
    now: DateTime<Utc>,
) -> OutboxEvent {
    let id = Uuid::now_v7();
    let payload = json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": kind.event_type(),
        "subject": user.id,
        "time": now.to_rfc3339_opts(SecondsFormat::Micros, true),
        "datacontenttype": "application/json",
        "data": user,
    });
    OutboxEvent {
        id,
        aggregate_id: user.id,
        event_type: kind.event_type().to_string(),
        payload,
        created_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SystemClock};

    fn alice() -> PublicUser {
        PublicUser {
            id: Uuid::now_v7(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: false,
            created_at: SystemClock.now(),
        }
    }

    #[test]
    fn envelope_has_every_required_cloudevents_attribute() {
        let user = alice();
        let event = user_event(UserEventKind::Created, &user, "authd", SystemClock.now());
        let p = &event.payload;
        assert_eq!(p["specversion"], "1.0");
        assert_eq!(p["id"], event.id.to_string());
        assert_eq!(p["source"], "authd");
        assert_eq!(p["type"], "authd.user.created");
        assert_eq!(p["subject"], user.id.to_string());
        assert_eq!(p["datacontenttype"], "application/json");
        assert!(DateTime::parse_from_rfc3339(p["time"].as_str().unwrap()).is_ok());
        assert_eq!(p["data"]["username"], "alice");
        assert_eq!(event.aggregate_id, user.id);
    }

    #[test]
    fn data_holds_only_public_fields() {
        let event = user_event(UserEventKind::Created, &alice(), "authd", SystemClock.now());
        let mut keys: Vec<_> = event.payload["data"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            ["created_at", "email", "email_verified", "id", "username"]
        );
    }

    #[test]
    fn every_event_gets_a_new_id() {
        let user = alice();
        let a = user_event(UserEventKind::Created, &user, "authd", SystemClock.now());
        let b = user_event(UserEventKind::Created, &user, "authd", SystemClock.now());
        assert_ne!(a.id, b.id);
    }
}
