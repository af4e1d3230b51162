//! Where a mail is handed over: an SMTP server (a pool of connections) or, in
//! development mode, a directory of `.eml` files.

use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Delivery;

/// The longest one SMTP exchange may take.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(super) enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Why a mail was not handed over.
pub(super) struct SendError {
    pub message: String,
    /// The server refused it for good: trying again cannot help.
    pub permanent: bool,
}

impl Transport {
    pub fn new(delivery: &Delivery) -> anyhow::Result<Self> {
        Ok(match delivery {
            // Builds the connection pool: within a Tokio runtime.
            Delivery::Smtp { url } => {
                Transport::Smtp(smtp_builder(url)?.timeout(Some(SMTP_TIMEOUT)).build())
            }
            Delivery::Files { dir } => {
                crate::private_files::private_dir(dir).map_err(|e| {
                    anyhow::anyhow!("creating the mail directory {}: {e}", dir.display())
                })?;
                Transport::Files(AsyncFileTransport::new(dir))
            }
        })
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Transport::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            }),
            Transport::Files(files) => files.send(message).await.map(drop).map_err(|e| SendError {
                permanent: false,
                message: e.to_string(),
            }),
        }
    }
}

pub(super) fn smtp_builder(
    url: &str,
) -> anyhow::Result<lettre::transport::smtp::AsyncSmtpTransportBuilder> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        // The URL is a secret: say what is wrong, not what it is.
        .map_err(|e| anyhow::anyhow!("AUTHD_SMTP_URL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn smtp_urls_with_starttls_and_tls_build_a_transport() {
        for url in [
            "smtp://localhost:2525",
            "smtp://user:secret@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:secret@mail.example.com",
        ] {
            let delivery = Delivery::Smtp { url: url.into() };
            assert!(Transport::new(&delivery).is_ok(), "{url}");
        }
        let bad = Delivery::Smtp {
            url: "http://user:secret@mail.example.com".into(),
        };
        let err = Transport::new(&bad)
            .err()
            .expect("not an SMTP URL")
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
