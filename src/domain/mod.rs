//! Parse, don't validate: values that reach the store have passed these types.

mod denylist;
mod email;
mod password;
mod user;
mod username;

pub use denylist::Denylist;
pub use email::Email;
pub use password::Password;
pub use user::PublicUser;
pub use username::Username;

/// The longest login (a username or an email) accepted at `/auth/login`.
pub const LOGIN_MAX_CHARS: usize = 320;

/// The longest mailed token accepted (`/auth/verify`, `/auth/password/reset`):
/// a real one has 43 characters; anything longer matches nothing.
pub const TOKEN_MAX_CHARS: usize = 1024;

/// Why a field was refused; the message is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
