//! One mail's message: who it goes to, the fresh single-use token it carries
//! (stored as its hash, replacing older ones of the same purpose), and the
//! rendered template.

use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use super::sender::Sender;
use super::{human, MailConfig};
use crate::store::{Account, MailKind, NewAccountToken, QueuedMail, TokenPurpose};
use crate::tokens::refresh;

/// What a mail says and to whom: its template, its recipient and the purpose of the
/// token it carries, if any.
struct Plan {
    template: &'static str,
    to: String,
    purpose: Option<TokenPurpose>,
}

/// The link a token mail carries: (token, link, lifetime in words).
struct Link {
    token: String,
    link: String,
    expires_in: String,
}

impl Sender {
    /// The message for `mail`, with a fresh token where it carries one; `None`
    /// when there is nobody to write to.
    pub(super) async fn compose(
        &self,
        mail: &QueuedMail,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Message>> {
        let Some(account) = self.account_of(mail).await? else {
            return Ok(None);
        };
        let Some(plan) = plan(mail, &account) else {
            return Ok(None);
        };
        let link = match plan.purpose {
            Some(purpose) => match self.issue(mail, &account, purpose, now).await? {
                Some(link) => link,
                // Voided meanwhile (a password change, a reset, a lock).
                None => return Ok(None),
            },
            None => Link {
                token: String::new(),
                link: String::new(),
                expires_in: String::new(),
            },
        };
        let user = &account.user;
        let new_email = mail.new_email.clone().unwrap_or_default();
        let old_or_current = match mail.kind {
            MailKind::EmailChanged => mail.recipient.clone().unwrap_or_default(),
            _ => user.email.clone(),
        };
        let rendered = self.config.templates.render(
            plan.template,
            &[
                ("username", &user.username),
                ("email", &old_or_current),
                ("new_email", &new_email),
                ("link", &link.link),
                ("token", &link.token),
                ("expires_in", &link.expires_in),
            ],
        );
        let to = match plan.to.parse() {
            Ok(address) => Mailbox::new(Some(user.username.clone()), address),
            Err(err) => {
                tracing::warn!(mail_id = %mail.id, error = %err, "a recipient lettre cannot address; the mail is dropped");
                return Ok(None);
            }
        };
        let message = Message::builder()
            .from(self.config.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))?;
        Ok(Some(message))
    }

    /// The account a mail is about: by id, or by the address a request named.
    async fn account_of(&self, mail: &QueuedMail) -> anyhow::Result<Option<Account>> {
        match (mail.kind, mail.user_id, mail.recipient.as_deref()) {
            (MailKind::Verify | MailKind::EmailChange | MailKind::EmailChanged, Some(id), _) => {
                self.store.account(id).await
            }
            (MailKind::VerifyRequest | MailKind::ResetRequest, _, Some(email)) => {
                self.store.account_by_email(email).await
            }
            _ => Ok(None),
        }
    }

    /// A new token of `purpose` for the account, stored as its hash, and its link;
    /// `None` when the mail was voided before the token could be stored.
    async fn issue(
        &self,
        mail: &QueuedMail,
        account: &Account,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Link>> {
        let c: &MailConfig = &self.config;
        let (ttl, page) = match purpose {
            TokenPurpose::Reset => (c.reset_ttl, "reset-password"),
            _ => (c.verify_ttl, "verify-email"),
        };
        let (token, hash) = refresh::new_token();
        // A verification token names the address it was sent to: it cannot
        // verify another one the account has since.
        let bound = match purpose {
            TokenPurpose::EmailChange => mail.new_email.as_deref(),
            TokenPurpose::Verify => Some(account.user.email.as_str()),
            TokenPurpose::Reset => None,
        };
        let expires = now + chrono::Duration::from_std(ttl)?;
        let token_row = NewAccountToken {
            user_id: account.user.id,
            mail_id: mail.id,
            purpose,
            new_email: bound,
            token_hash: &hash,
        };
        let stored = self
            .store
            .issue_account_token(&token_row, now, expires)
            .await?;
        let mark = if c.token_in_fragment { '#' } else { '?' };
        let link = format!("{}/{page}{mark}token={token}", c.app_url);
        Ok(stored.then(|| Link {
            token,
            link,
            expires_in: human(ttl),
        }))
    }
}

/// What `mail` says to `account`; `None` when it has nothing to say (a verified
/// address, a change without its new address).
fn plan(mail: &QueuedMail, account: &Account) -> Option<Plan> {
    let user = &account.user;
    let (template, to, purpose) = match mail.kind {
        MailKind::Verify | MailKind::VerifyRequest if user.email_verified => return None,
        MailKind::Verify | MailKind::VerifyRequest => {
            ("verify", user.email.clone(), Some(TokenPurpose::Verify))
        }
        MailKind::EmailChange => (
            "email_change",
            mail.new_email.clone()?,
            Some(TokenPurpose::EmailChange),
        ),
        MailKind::EmailChanged => ("email_changed", mail.recipient.clone()?, None),
        MailKind::ResetRequest => ("reset", user.email.clone(), Some(TokenPurpose::Reset)),
    };
    Some(Plan {
        template,
        to,
        purpose,
    })
}
