//! The one way a write that queues events or mail ends: commit, then wake this
//! replica's relay (events) and mail sender (mail). Every transaction of the store
//! commits here; a test below keeps it so, since a commit that forgets the wake-up
//! leaves its events waiting for the relay's next poll.

use super::Store;

/// What a transaction queued besides its own rows: the wake-ups its commit owes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Queued {
    /// Rows in `outbox`: the relay publishes them.
    pub events: bool,
    /// Rows in `mail_outbox`: the sender sends them.
    pub mail: bool,
}

impl Queued {
    pub const NOTHING: Queued = Queued {
        events: false,
        mail: false,
    };
    pub const EVENTS: Queued = Queued {
        events: true,
        mail: false,
    };

    /// Events, when `wrote` says the transaction wrote some.
    pub fn events_if(wrote: bool) -> Queued {
        Queued {
            events: wrote,
            mail: false,
        }
    }

    /// These and mail, when `queued` says the transaction queued some.
    pub fn and_mail_if(self, queued: bool) -> Queued {
        Queued {
            mail: self.mail || queued,
            ..self
        }
    }
}

impl Store {
    /// Commits `tx`, then wakes what it queued work for.
    pub(super) async fn commit<DB: sqlx::Database>(
        &self,
        tx: sqlx::Transaction<'_, DB>,
        queued: Queued,
    ) -> sqlx::Result<()> {
        tx.commit().await?;
        self.committed(queued);
        Ok(())
    }

    /// Ends a SQLite transaction opened with `BEGIN IMMEDIATE` on `conn`, then wakes
    /// what it queued work for. A failed COMMIT (a full disk) is rolled back here:
    /// left open, it would keep its write lock until the connection is next used.
    pub(super) async fn commit_immediate(
        &self,
        conn: &mut sqlx::SqliteConnection,
        written: sqlx::Result<()>,
        queued: Queued,
    ) -> sqlx::Result<()> {
        let done = match written {
            Ok(()) => sqlx::query("COMMIT").execute(&mut *conn).await.map(drop),
            Err(err) => Err(err),
        };
        if let Err(err) = done {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Err(err);
        }
        self.committed(queued);
        Ok(())
    }

    /// After a write that committed on its own (one statement): wakes what it
    /// queued work for. Also what a NOTIFY from another replica's commit does.
    pub(super) fn committed(&self, queued: Queued) {
        if queued.events {
            self.wake.notify_one();
        }
        if queued.mail {
            self.mail_wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every file of the store, as compiled.
    const FILES: [(&str, &str); 24] = [
        ("account_tokens.rs", include_str!("account_tokens.rs")),
        ("admin.rs", include_str!("admin.rs")),
        ("commit.rs", include_str!("commit.rs")),
        ("create_user.rs", include_str!("create_user.rs")),
        ("dialect.rs", include_str!("dialect.rs")),
        ("idempotency.rs", include_str!("idempotency.rs")),
        ("keys.rs", include_str!("keys.rs")),
        ("login_counters.rs", include_str!("login_counters.rs")),
        ("mail.rs", include_str!("mail.rs")),
        ("maintenance.rs", include_str!("maintenance.rs")),
        ("mfa.rs", include_str!("mfa.rs")),
        ("mfa_changes.rs", include_str!("mfa_changes.rs")),
        ("mod.rs", include_str!("mod.rs")),
        ("outbox.rs", include_str!("outbox.rs")),
        ("passkey_changes.rs", include_str!("passkey_changes.rs")),
        ("passkeys.rs", include_str!("passkeys.rs")),
        ("postgres.rs", include_str!("postgres.rs")),
        ("revocation.rs", include_str!("revocation.rs")),
        ("rotation.rs", include_str!("rotation.rs")),
        ("sessions.rs", include_str!("sessions.rs")),
        ("sqlite.rs", include_str!("sqlite.rs")),
        ("user_changes.rs", include_str!("user_changes.rs")),
        ("user_import.rs", include_str!("user_import.rs")),
        ("users.rs", include_str!("users.rs")),
    ];

    #[test]
    fn the_list_of_files_is_the_whole_store() {
        let mut on_disk: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".rs"))
                .collect();
        on_disk.sort();
        let listed: Vec<&str> = FILES.iter().map(|(name, _)| *name).collect();
        assert_eq!(on_disk, listed, "a new store file must join FILES");
    }

    /// Only `commit.rs` commits and wakes. The relay's delete of what it published
    /// (`Claim::delivered`, one commit per backend) commits in `outbox.rs`: it
    /// queues nothing.
    #[test]
    fn every_commit_and_wake_up_goes_through_commit_rs() {
        for (name, source) in FILES {
            let code = source.split("#[cfg(test)]").next().unwrap();
            let commits = code.matches(".commit()").count() + code.matches("\"COMMIT\"").count();
            let allowed = match name {
                "commit.rs" => 2,
                "outbox.rs" => 2,
                _ => 0,
            };
            assert_eq!(commits, allowed, "{name} commits outside commit.rs");
            let wakes = code.matches("notify_one").count();
            let allowed = if name == "commit.rs" { 2 } else { 0 };
            assert_eq!(
                wakes, allowed,
                "{name} wakes the relay or the sender itself"
            );
        }
    }
}
