//! The settings of each subsystem, checked into its own config type: the store,
//! tokens, trusted proxies, the relay, the admin API, mail, the denylist.

use std::time::Duration;

use ipnet::IpNet;

use super::{AdminConfig, AdminCredentials, Settings, StoreConfig};
use crate::domain::Denylist;
use crate::events::kafka::{KafkaConfig, KafkaProperties};
use crate::events::relay::RelayConfig;
use crate::mail::{Delivery, MailConfig, Templates};
use crate::tokens::{SecretsSource, TokenConfig};

impl Settings {
    pub(super) fn mail(&self) -> Result<MailConfig, String> {
        let delivery = match self.mail.smtp_url.as_deref().map(str::trim) {
            None | Some("") => Delivery::Files {
                dir: self
                    .mail
                    .mail_dir
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("mail")),
            },
            Some(url) if url.starts_with("smtp://") || url.starts_with("smtps://") => {
                Delivery::Smtp { url: url.into() }
            }
            // Never echo the URL: it may hold a password.
            Some(_) => return Err("AUTHD_SMTP_URL must start with smtp:// or smtps://".into()),
        };
        let from = self
            .mail
            .mail_from
            .parse()
            .map_err(|e| format!("AUTHD_MAIL_FROM {:?}: {e}", self.mail.mail_from))?;
        // Unset, the links open the hosted pages (when on), the token in the
        // fragment: browsers never send it, so no access log keeps it.
        let (app_url, token_in_fragment) = match &self.mail.app_url {
            Some(url) => (http_url("AUTHD_APP_URL", url)?, false),
            None if self.ui.ui == super::ui_settings::Switch::On => {
                (format!("{}/ui", self.public_url()?), true)
            }
            None => (self.public_url()?, false),
        };
        let config = MailConfig {
            delivery,
            from,
            app_url,
            token_in_fragment,
            templates: std::sync::Arc::new(Templates::load(self.mail.mail_templates.as_deref())?),
            verification: self.mail.email_verification,
            verify_ttl: Duration::from_secs(self.mail.verify_token_ttl_secs),
            reset_ttl: Duration::from_secs(self.mail.reset_token_ttl_secs),
        };
        crate::mail::check(&config).map_err(|e| format!("{e:#}"))?;
        Ok(config)
    }

    pub(super) fn denylist(&self) -> Result<Denylist, String> {
        match self.password_denylist.trim() {
            "builtin" => Ok(Denylist::built_in()),
            "off" => Ok(Denylist::default()),
            path => std::fs::read_to_string(path)
                .map(|text| Denylist::parse(&text))
                .map_err(|e| format!("AUTHD_PASSWORD_DENYLIST {path}: {e}")),
        }
    }

    /// `AUTHD_PUBLIC_URL`, or (for a run on one machine) `http://` and the listen
    /// address, with an unspecified IP read as loopback.
    pub(super) fn public_url(&self) -> Result<String, String> {
        match &self.public_url {
            Some(url) => http_url("AUTHD_PUBLIC_URL", url),
            None => {
                let mut listen = self.listen;
                if listen.ip().is_unspecified() {
                    listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                Ok(format!("http://{listen}"))
            }
        }
    }

    /// The passkeys' relying party, when `AUTHD_WEBAUTHN_RP_ID` is set (clap
    /// makes the two variables go together).
    pub(super) fn webauthn(&self) -> Result<Option<std::sync::Arc<webauthn_rs::Webauthn>>, String> {
        let factors = &self.second_factors;
        match (&factors.webauthn_rp_id, &factors.webauthn_origins) {
            (Some(rp_id), Some(origins)) => {
                let rp = crate::authn::passkey::relying_party(rp_id.trim(), origins)?;
                Ok(Some(std::sync::Arc::new(rp)))
            }
            _ => Ok(None),
        }
    }

    pub(super) fn admin(&self) -> Result<Option<AdminConfig>, String> {
        match (&self.admin_listen, &self.admin_tokens_file) {
            (None, None) => Ok(None),
            (None, Some(_)) => {
                Err("AUTHD_ADMIN_TOKENS_FILE is set without AUTHD_ADMIN_LISTEN".into())
            }
            (Some(_), None) => {
                Err("AUTHD_ADMIN_LISTEN needs AUTHD_ADMIN_TOKENS_FILE (name:token lines)".into())
            }
            (Some(listen), Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("AUTHD_ADMIN_TOKENS_FILE {}: {e}", path.display()))?;
                let credentials = AdminCredentials::parse(&text)
                    .map_err(|e| format!("AUTHD_ADMIN_TOKENS_FILE {}: {e}", path.display()))?;
                Ok(Some(AdminConfig {
                    listen: *listen,
                    credentials,
                }))
            }
        }
    }

    pub(super) fn tokens(&self) -> Result<TokenConfig, String> {
        if self.token_audience.trim().is_empty() {
            return Err("AUTHD_TOKEN_AUDIENCE must not be empty".into());
        }
        // The issuer is where clients reach authd: OpenID Connect Discovery has
        // clients compare `iss` with the URL the document came from.
        if std::env::var_os("AUTHD_TOKEN_ISSUER").is_some() {
            return Err("AUTHD_TOKEN_ISSUER is gone: the tokens' iss is AUTHD_PUBLIC_URL".into());
        }
        Ok(TokenConfig {
            issuer: self.public_url()?,
            audience: self.token_audience.trim().to_string(),
            access_ttl: Duration::from_secs(self.access_token_ttl_secs),
            refresh_ttl: Duration::from_secs(self.refresh_token_ttl_secs),
            keys_refresh: Duration::from_millis(self.keys_refresh_ms),
            session_max_age: Duration::from_secs(self.session_max_age_secs),
            reauth_max_age: Duration::from_secs(self.reauth_max_age_secs),
            secrets: match (&self.secrets_key_file, self.store()?) {
                (Some(path), _) => SecretsSource::File(path.clone()),
                (None, StoreConfig::Sqlite { path }) => {
                    SecretsSource::Generated(path.with_file_name("secrets.key"))
                }
                (None, StoreConfig::Postgres { .. }) => SecretsSource::None,
            },
        })
    }

    pub(super) fn trusted_proxies(&self) -> Result<Vec<IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("AUTHD_TRUSTED_PROXIES: {s:?} is not an IP address or CIDR")
                    })
                    .map(canonical_net)
            })
            .collect()
    }

    pub(super) fn instance_id(&self) -> Result<String, String> {
        let id = match &self.instance_id {
            Some(id) => id.trim().to_string(),
            None => default_instance_id(),
        };
        let printable = id.bytes().all(|b| b.is_ascii_graphic());
        if id.is_empty() || id.len() > 64 || !printable {
            return Err(format!(
                "AUTHD_INSTANCE_ID must be 1 to 64 printable ASCII characters, got {id:?}"
            ));
        }
        Ok(id)
    }

    pub(super) fn relay_config(&self) -> Result<Option<RelayConfig>, String> {
        let brokers = match self.kafka_brokers.as_deref().map(str::trim) {
            None | Some("") => return Ok(None),
            Some(b) => b.to_string(),
        };
        if self.kafka_topic.trim().is_empty() {
            return Err("AUTHD_KAFKA_TOPIC must not be empty".into());
        }
        if !self.relay {
            return Ok(None);
        }
        Ok(Some(RelayConfig {
            kafka: KafkaConfig {
                properties: self.kafka_properties(&brokers)?,
                brokers,
                topic: self.kafka_topic.clone(),
                partitions: self.kafka_partitions,
                replication: self.kafka_replication,
            },
            batch: self.relay_batch,
            poll: Duration::from_millis(self.relay_poll_ms),
        }))
    }

    /// AUTHD_KAFKA_PROPERTIES and then the lines of AUTHD_KAFKA_PROPERTIES_FILE,
    /// checked by librdkafka. Errors name a property, never its value.
    pub fn kafka_properties(&self, brokers: &str) -> Result<KafkaProperties, String> {
        let mut properties = match &self.kafka_properties {
            Some(text) => {
                KafkaProperties::parse(text).map_err(|e| format!("AUTHD_KAFKA_PROPERTIES: {e}"))?
            }
            None => KafkaProperties::default(),
        };
        if let Some(path) = &self.kafka_properties_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("AUTHD_KAFKA_PROPERTIES_FILE {}: {e}", path.display()))?;
            let more = KafkaProperties::parse(&text)
                .map_err(|e| format!("AUTHD_KAFKA_PROPERTIES_FILE {}: {e}", path.display()))?;
            properties.0.extend(more.0);
        }
        properties.check(brokers)?;
        Ok(properties)
    }

    pub(super) fn store(&self) -> Result<StoreConfig, String> {
        match self.database_url.as_deref().map(str::trim) {
            None | Some("") => Ok(StoreConfig::Sqlite {
                path: self.data_dir.join("authd.sqlite3"),
            }),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StoreConfig::Postgres { url: url.into() })
            }
            Some(_) => Err("DATABASE_URL must start with postgres:// or postgresql:// \
                 (leave it unset for the embedded SQLite store)"
                .into()),
        }
    }
}

/// `url` without its trailing slashes, if it is an http(s) URL.
fn http_url(name: &str, url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.bytes().all(|b| b.is_ascii_graphic())
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(url.to_string())
    } else {
        Err(format!("{name} must be an http(s) URL, not {url:?}"))
    }
}

/// `host-pid`: unique on a machine, and the container id under Docker.
pub fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(48)
        .collect();
    let host = if host.is_empty() {
        "authd".into()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
}

/// CPUs this process may run on; std reads the cgroup quota and the affinity mask.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4 network it is,
/// since client addresses are compared in their canonical form.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}
