//! Brute-force protection that holds across replicas. Every guarded check reserves
//! a slot in each of its counters in the shared store *before* it verifies, in one
//! atomic statement: the reservation that reaches a counter's threshold locks it at
//! once, so a burst of concurrent attempts on any number of replicas gets no more
//! verifications than the threshold. A locked counter refuses (429) until its lock
//! ends; each further failure doubles the lock, up to the maximum.
//!
//! The counters of a login (`AttemptKeys::login`):
//! - the login as typed *from this client network* (`AUTHD_LOGIN_MAX_FAILURES`):
//!   what a guesser at one address locks is their own way into the account, not
//!   the owner's from elsewhere (the username and the email are two logins here,
//!   so the 429 does not tell which email belongs to which username);
//! - the account from anywhere (`AUTHD_LOGIN_MAX_FAILURES_PER_ACCOUNT`, higher):
//!   bounds guessing spread over many addresses; a client that has had a session of
//!   this account before (a login from its address) is not held back by it;
//! - the client network (`AUTHD_LOGIN_MAX_FAILURES_PER_CLIENT`): one address
//!   guessing many accounts.
//!
//! A client network is the address for IPv4 and its /64 for IPv6 (one host owns a
//! whole /64). Requests that send mail (forgot, resend) have counters of their own,
//! so a storm of them cannot lock an address out of login.
//!
//! A success releases its reservations and resets the account-from-this-client
//! count; it never resets the address's count nor the account's count from
//! anywhere (one's own login must not wipe what others did).

use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    /// Failures of one account from one client network before it locks for that
    /// network (and of one mail address before its mail requests lock).
    pub account_failures: u32,
    /// Failures of one account from anywhere before it locks for clients it has
    /// not seen.
    pub account_total_failures: u32,
    /// Failures from one client network before it is locked.
    pub client_failures: u32,
    /// The first lock; each further failure doubles it.
    pub base_lockout: Duration,
    pub max_lockout: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

/// What a counter counts, which picks its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    AccountFromClient,
    Account,
    Client,
    MailAddress,
    Once,
}

/// The counters one attempt reserves a slot in.
#[derive(Debug, Clone)]
pub struct AttemptKeys {
    counters: Vec<(String, Kind)>,
}

impl AttemptKeys {
    /// A login (or a current-password check) of `user`, or of an unknown `login`,
    /// from `client`. Unknown logins are counted under their name, so that probing
    /// them is throttled like probing real accounts and the answer reveals nothing.
    /// `known_client`: the account has had a session from this address.
    pub fn login(user: Option<Uuid>, login: &str, client: IpAddr, known_client: bool) -> Self {
        let typed = format!("login:{}", login.to_lowercase());
        let account = match user {
            Some(id) => format!("user:{id}"),
            None => typed.clone(),
        };
        let net = client_net(client);
        let mut counters = vec![
            // By the login as typed, not the account it names: were it the account,
            // a guesser locked out as `alice` could try candidate emails and learn
            // which one is hers from the 429.
            (format!("{typed}@{net}"), Kind::AccountFromClient),
            (format!("client:{net}"), Kind::Client),
        ];
        if !known_client {
            counters.push((account, Kind::Account));
        }
        Self { counters }
    }

    /// A request that sends mail to `email` (a reset, a resend): counted per
    /// address whether or not an account has it, so the answer and the throttle
    /// reveal nothing, and per client, apart from the login counters.
    /// Per address and client network (`AUTHD_LOGIN_MAX_FAILURES`), so a stranger
    /// at one address cannot lock the owner's own requests; per address from
    /// anywhere (four times that), which bounds the mail one address receives; and
    /// per client network (`AUTHD_LOGIN_MAX_FAILURES_PER_CLIENT`).
    pub fn mail(email: &str, client: IpAddr) -> Self {
        let net = client_net(client);
        let address = format!("mail:{}", email.to_lowercase());
        Self {
            counters: vec![
                (format!("{address}@{net}"), Kind::AccountFromClient),
                (address, Kind::MailAddress),
                (format!("mailclient:{net}"), Kind::Client),
            ],
        }
    }

    /// A second-factor code of `user` (TOTP or recovery) from `client`: per user
    /// and client network (`AUTHD_LOGIN_MAX_FAILURES`) and per client network
    /// (`..._PER_CLIENT`), apart from the password's counters. Not per user from
    /// anywhere: guessing spread over many addresses is bounded by the
    /// authenticator's own count of wrong codes in a row (`authn::mfa`), which no
    /// window forgets, so a guesser cannot lock the owner's own address out.
    pub fn second_factor(user: Uuid, client: IpAddr) -> Self {
        let net = client_net(client);
        Self {
            counters: vec![
                (format!("otp:{user}@{net}"), Kind::AccountFromClient),
                (format!("otpclient:{net}"), Kind::Client),
            ],
        }
    }

    /// A change of a user's profile (each an event, perhaps a mail): at most
    /// `AUTHD_LOGIN_MAX_FAILURES_PER_CLIENT` a window, whatever the client.
    pub fn change(user: Uuid) -> Self {
        Self {
            counters: vec![(format!("change:{user}"), Kind::Client)],
        }
    }

    /// A client presenting a mailed token with a new password (a reset): a wrong
    /// token is counted per client network, apart from logins.
    pub fn token(client: IpAddr) -> Self {
        Self {
            counters: vec![(format!("token:{}", client_net(client)), Kind::Client)],
        }
    }

    /// A client finishing a login with a passkey alone: a refused answer is
    /// counted per client network, apart from password logins.
    pub fn passkey(client: IpAddr) -> Self {
        Self {
            counters: vec![(format!("passkey:{}", client_net(client)), Kind::Client)],
        }
    }

    /// One live token, checked by one request at a time (a counter of its digest
    /// with a threshold of one): sending a good reset token many times at once
    /// buys one hash, the others are refused (429) while it runs.
    pub fn single_use(token_hash: &[u8; 32]) -> Self {
        let digest: String = token_hash.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            counters: vec![(format!("once:{digest}"), Kind::Once)],
        }
    }

    /// Whether these are the counter of one token in use (`single_use`).
    pub fn is_single_use(&self) -> bool {
        self.counters.iter().all(|(_, kind)| *kind == Kind::Once)
    }

    /// (key, threshold) of each counter under `config`.
    pub fn thresholds(&self, config: &ThrottleConfig) -> Vec<(&str, i32)> {
        self.counters
            .iter()
            .map(|(key, kind)| {
                let threshold = match kind {
                    Kind::AccountFromClient => config.account_failures,
                    Kind::Account => config.account_total_failures,
                    Kind::Client => config.client_failures,
                    Kind::MailAddress => config.account_failures.saturating_mul(4),
                    Kind::Once => 1,
                };
                (key.as_str(), i32::try_from(threshold).unwrap_or(i32::MAX))
            })
            .collect()
    }

    /// The counters a success resets: the account as seen from this client.
    pub fn reset_on_success(&self) -> Vec<&str> {
        self.counters
            .iter()
            .filter(|(_, kind)| *kind == Kind::AccountFromClient)
            .map(|(key, _)| key.as_str())
            .collect()
    }

    pub fn keys(&self) -> Vec<&str> {
        self.counters.iter().map(|(key, _)| key.as_str()).collect()
    }
}

/// The network a client is counted under: the address itself for IPv4 (and an
/// IPv4-mapped IPv6 address), the /64 for IPv6.
pub fn client_net(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    }
}

/// How long a key with `failures` failures stays locked, if at all (the lock the
/// reservation statement computes in SQL; kept here for its unit test).
pub fn lockout(failures: i32, threshold: u32, base: Duration, max: Duration) -> Option<Duration> {
    let past = u32::try_from(failures).ok()?.checked_sub(threshold)?;
    let factor = 1u32.checked_shl(past.min(31)).unwrap_or(u32::MAX);
    Some(base.saturating_mul(factor).min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ThrottleConfig {
        ThrottleConfig {
            account_failures: 5,
            account_total_failures: 100,
            client_failures: 50,
            base_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(900),
            window: Duration::from_secs(900),
        }
    }

    #[test]
    fn the_lock_starts_at_the_threshold_and_doubles_up_to_the_cap() {
        let (s, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(lockout(4, 5, s, max), None);
        assert_eq!(lockout(5, 5, s, max), Some(Duration::from_secs(1)));
        assert_eq!(lockout(6, 5, s, max), Some(Duration::from_secs(2)));
        assert_eq!(lockout(10, 5, s, max), Some(Duration::from_secs(32)));
        assert_eq!(lockout(11, 5, s, max), Some(max));
        assert_eq!(lockout(1_000, 5, s, max), Some(max), "no overflow");
        assert_eq!(lockout(-1, 5, s, max), None);
    }

    #[test]
    fn unknown_logins_are_counted_by_name_case_folded() {
        let ip = "10.0.0.1".parse().unwrap();
        let keys = AttemptKeys::login(None, "Alice@Example.com", ip, false);
        assert_eq!(
            keys.keys(),
            [
                "login:alice@example.com@10.0.0.1",
                "client:10.0.0.1",
                "login:alice@example.com"
            ]
        );
        let id = Uuid::now_v7();
        let known = AttemptKeys::login(Some(id), "X", ip, true);
        assert_eq!(
            known.keys(),
            ["login:x@10.0.0.1", "client:10.0.0.1"],
            "a known client is not held back by the account's total"
        );
        assert_eq!(known.reset_on_success(), ["login:x@10.0.0.1"]);
        let stranger = AttemptKeys::login(Some(id), "x@example.com", ip, false);
        assert_eq!(
            stranger.keys(),
            [
                "login:x@example.com@10.0.0.1".to_string(),
                "client:10.0.0.1".into(),
                format!("user:{id}")
            ],
            "the account's total is the account's, whichever login named it"
        );
    }

    #[test]
    fn each_counter_gets_the_threshold_of_its_kind() {
        let ip = "10.0.0.1".parse().unwrap();
        let keys = AttemptKeys::login(None, "bob", ip, false);
        let thresholds: Vec<i32> = keys.thresholds(&config()).iter().map(|t| t.1).collect();
        assert_eq!(thresholds, [5, 50, 100]);
        let mail = AttemptKeys::mail("Bob@Example.com", ip);
        assert_eq!(
            mail.keys(),
            [
                "mail:bob@example.com@10.0.0.1",
                "mail:bob@example.com",
                "mailclient:10.0.0.1"
            ]
        );
        let thresholds: Vec<i32> = mail.thresholds(&config()).iter().map(|t| t.1).collect();
        assert_eq!(thresholds, [5, 20, 50]);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_net(a), "2001:db8:1:2::/64");
        assert_eq!(client_net(a), client_net(b));
        assert_ne!(client_net(a), client_net(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_net(mapped), "192.0.2.7");
    }
}
