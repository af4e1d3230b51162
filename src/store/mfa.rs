//! Second factors (`authn::mfa`): TOTP factors with their replay guard, recovery
//! codes, and the challenges (`mfa_token`) between a password step and the second
//! one. The changes a user's events report (a factor confirmed or removed,
//! recovery codes regenerated or used) are `UserChange`s in `mfa_changes`.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::commit::Queued;
use super::dialect::{on_pool, uuid, Dialect};
use super::{SessionOrigin, Store};

/// A second factor of a user.
#[derive(Debug, Clone)]
pub struct Factor {
    pub id: Uuid,
    /// `totp`.
    pub kind: String,
    /// The secret as stored (sealed when a secrets key is configured).
    pub secret: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// Set once the first code proved the authenticator holds the secret; only
    /// confirmed factors count.
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// The password step is done; a second factor finishes the login.
    Login,
    /// The password step is done and `AUTHD_MFA=required`, but the user has no
    /// factor: enrolling one finishes the login.
    Enrol,
}

impl ChallengePurpose {
    fn as_str(self) -> &'static str {
        match self {
            ChallengePurpose::Login => "login",
            ChallengePurpose::Enrol => "enrol",
        }
    }
}

/// A live challenge: whose, what for, and where the login came from.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub user_id: Uuid,
    pub purpose: ChallengePurpose,
    pub failures: i32,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

type FactorRow = (
    String,
    String,
    Vec<u8>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);
type ChallengeRow = (String, String, i32, Option<String>, Option<String>);

const FACTOR_COLUMNS: &str =
    "CAST(id AS TEXT), kind, secret, created_at, confirmed_at, last_used_at";
const CHALLENGE_COLUMNS: &str =
    "CAST(user_id AS TEXT), purpose, failures, client_address, user_agent";

fn factor(row: FactorRow) -> sqlx::Result<Factor> {
    let (id, kind, secret, created_at, confirmed_at, last_used_at) = row;
    Ok(Factor {
        id: uuid(&id)?,
        kind,
        secret,
        created_at,
        confirmed_at,
        last_used_at,
    })
}

fn challenge(row: ChallengeRow) -> sqlx::Result<Challenge> {
    let (user, purpose, failures, client_address, user_agent) = row;
    Ok(Challenge {
        user_id: uuid(&user)?,
        purpose: if purpose == "enrol" {
            ChallengePurpose::Enrol
        } else {
            ChallengePurpose::Login
        },
        failures,
        client_address,
        user_agent,
    })
}

/// Drops a user's recovery codes once no confirmed factor is left ($1: the user):
/// they recover a second factor, and there is none.
pub(super) const CODES_WITHOUT_FACTOR: &str = "DELETE FROM recovery_codes WHERE user_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)";

impl Store {
    /// The user's factors, confirmed or not, oldest first.
    pub async fn factors(&self, user: Uuid) -> anyhow::Result<Vec<Factor>> {
        let sql = format!(
            "SELECT {FACTOR_COLUMNS} FROM mfa_factors WHERE user_id = $1 ORDER BY created_at, id"
        );
        let rows: Vec<FactorRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(pool.id(user)).fetch_all(pool).await
        })
        .context("reading the factors")?;
        Ok(rows.into_iter().map(factor).collect::<sqlx::Result<_>>()?)
    }

    /// Every TOTP factor's id and sealed secret, whatever its user (`keys reseal`;
    /// a passkey's credential is public, never sealed).
    pub async fn all_factor_secrets(&self) -> anyhow::Result<Vec<(Uuid, Vec<u8>)>> {
        let sql =
            "SELECT CAST(id AS TEXT), secret FROM mfa_factors WHERE kind = 'totp' ORDER BY id";
        let rows: Vec<(String, Vec<u8>)> = on_pool!(self, pool => {
            sqlx::query_as(sql).fetch_all(pool).await
        })
        .context("reading the factors' secrets")?;
        rows.into_iter()
            .map(|(id, secret)| Ok((uuid(&id)?, secret)))
            .collect()
    }

    /// Replaces the stored secret of factor `id`, if it is still `old` (`keys reseal`).
    pub async fn replace_factor_secret(
        &self,
        id: Uuid,
        old: &[u8],
        new: &[u8],
    ) -> anyhow::Result<()> {
        let sql = "UPDATE mfa_factors SET secret = $3 WHERE id = $1 AND secret = $2";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(pool.id(id)).bind(old).bind(new).execute(pool).await.map(drop)
        })
        .context("resealing a factor's secret")
    }

    /// Whether the user has a confirmed second factor.
    pub async fn has_factor(&self, user: Uuid) -> anyhow::Result<bool> {
        let sql =
            "SELECT COUNT(*) FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL";
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(pool.id(user)).fetch_one(pool).await
        })
        .context("reading the factors")?;
        Ok(n > 0)
    }

    /// How many unused recovery codes the user has.
    pub async fn recovery_codes_left(&self, user: Uuid) -> anyhow::Result<i64> {
        let sql = "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1";
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(pool.id(user)).fetch_one(pool).await
        })
        .context("counting the recovery codes")?;
        Ok(n)
    }

    /// A new unconfirmed TOTP factor, replacing any unconfirmed one of the user;
    /// `false` (nothing written) when the user has a confirmed TOTP factor.
    pub async fn begin_totp(
        &self,
        user: Uuid,
        id: Uuid,
        secret: &[u8],
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let begun: sqlx::Result<bool> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            // Touching the user first serializes two enrolments of one user.
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(pool.id(user))
                .execute(&mut *tx)
                .await?;
            let active: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM mfa_factors WHERE user_id = $1 AND kind = 'totp' \
                 AND confirmed_at IS NOT NULL",
            )
            .bind(pool.id(user))
            .fetch_one(&mut *tx)
            .await?;
            if active > 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NULL")
                .bind(pool.id(user))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO mfa_factors (id, user_id, kind, secret, created_at) \
                 VALUES ($1, $2, 'totp', $3, $4)",
            )
            .bind(pool.id(id))
            .bind(pool.id(user))
            .bind(secret)
            .bind(pool.time(now))
            .execute(&mut *tx)
            .await?;
            self.commit(tx, Queued::NOTHING).await?;
            Ok(true)
        }.await);
        begun.context("storing a new factor")
    }

    /// The replay guard: accepts time step `step` of confirmed factor `id` only
    /// if no later or equal step was accepted before. One UPDATE: of two replicas
    /// given the same code at the same instant, the row lock lets one through.
    pub async fn accept_totp_step(
        &self,
        id: Uuid,
        step: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let sql = "UPDATE mfa_factors SET last_step = $2, last_used_at = $3, wrong_codes = 0 \
                   WHERE id = $1 AND confirmed_at IS NOT NULL \
                     AND (last_step IS NULL OR last_step < $2)";
        let accepted = on_pool!(self, pool => {
            sqlx::query(sql).bind(pool.id(id)).bind(step).bind(pool.time(now))
                .execute(pool).await.map(|r| r.rows_affected() == 1)
        })
        .context("accepting a one-time code")?;
        Ok(accepted)
    }

    /// Reserves one guess on each confirmed TOTP factor of `user` with fewer than
    /// `max` wrong codes in a row (the guess counts as wrong until an accepted
    /// code sets the count back to 0). `false`: every factor is at the limit.
    pub async fn reserve_code_guess(&self, user: Uuid, max: i32) -> anyhow::Result<bool> {
        let sql = "UPDATE mfa_factors SET wrong_codes = wrong_codes + 1 \
                   WHERE user_id = $1 AND kind = 'totp' AND confirmed_at IS NOT NULL \
                     AND wrong_codes < $2";
        let reserved = on_pool!(self, pool => {
            sqlx::query(sql).bind(pool.id(user)).bind(max)
                .execute(pool).await.map(|r| r.rows_affected() > 0)
        })
        .context("reserving a one-time code guess")?;
        Ok(reserved)
    }

    /// A challenge for `user`, stored as the digest of its token.
    pub async fn create_challenge(
        &self,
        token_hash: &[u8],
        user: Uuid,
        purpose: ChallengePurpose,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        origin: &SessionOrigin<'_>,
    ) -> anyhow::Result<()> {
        let sql = "INSERT INTO mfa_challenges (token_hash, user_id, purpose, created_at, \
                   expires_at, client_address, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(token_hash).bind(pool.id(user)).bind(purpose.as_str())
                .bind(pool.time(now)).bind(pool.time(expires_at))
                .bind(origin.client_address).bind(origin.user_agent)
                .execute(pool).await.map(drop)
        })
        .context("storing the challenge")?;
        Ok(())
    }

    /// The live (unexpired) challenge of this token digest.
    pub async fn challenge(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Challenge>> {
        let sql = format!(
            "SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges WHERE token_hash = $1 AND expires_at > $2"
        );
        let row: Option<ChallengeRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(token_hash).bind(pool.time(now)).fetch_optional(pool).await
        })
        .context("reading the challenge")?;
        Ok(row.map(challenge).transpose()?)
    }

    /// A wrong code for this challenge: counted, and the challenge ends at
    /// `max_failures`. Whether it ended.
    pub async fn fail_challenge(
        &self,
        token_hash: &[u8],
        max_failures: i32,
    ) -> anyhow::Result<bool> {
        let ended: sqlx::Result<bool> = on_pool!(self, pool => async {
            sqlx::query("UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await?;
            let gone = sqlx::query("DELETE FROM mfa_challenges WHERE token_hash = $1 AND failures >= $2")
                .bind(token_hash)
                .bind(max_failures)
                .execute(pool)
                .await?;
            Ok(gone.rows_affected() == 1)
        }.await);
        ended.context("counting a wrong code")
    }

    /// Spends the challenge: the DELETE that returns it lets one request through.
    pub async fn spend_challenge(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Challenge>> {
        let sql = format!(
            "DELETE FROM mfa_challenges WHERE token_hash = $1 AND expires_at > $2 \
             RETURNING {CHALLENGE_COLUMNS}"
        );
        let row: Option<ChallengeRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(token_hash).bind(pool.time(now)).fetch_optional(pool).await
        })
        .context("spending the challenge")?;
        Ok(row.map(challenge).transpose()?)
    }
}
