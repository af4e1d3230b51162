use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A user as everyone may see it (responses, events): never the password hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PublicUser {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    /// Whether the user proved to own `email` (a verification link, a password
    /// reset, or an import that said so).
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}
