//! How other errors become `ApiError`s: a full hashing queue is 503, a taken
//! name 409, a database that cannot be reached 503, anything else 500.

use crate::hashing::HashError;
use crate::http::error::ApiError;
use crate::store::WriteError;

impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Overloaded => ApiError::Overloaded,
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Taken(taken) => ApiError::Conflict(taken),
            WriteError::KeyLost => ApiError::KeyInProgress { waited: false },
            WriteError::Other(err) => ApiError::from(err),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    /// A database that cannot be reached is a 503 the client may retry; any other
    /// failure is a 500.
    fn from(err: anyhow::Error) -> Self {
        if crate::store::is_full(&err) {
            ApiError::StorageFull(err)
        } else if crate::store::is_unavailable(&err) {
            ApiError::Unavailable(err)
        } else {
            ApiError::Internal(err)
        }
    }
}
