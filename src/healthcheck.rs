//! `authd healthcheck URL`: a dependency-free HTTP/1.1 probe of `/readyz`, for
//! container health checks (the runtime image has no curl).

use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Splits `http://host:port[/path]` into (host:port, path); the path defaults to /readyz.
pub fn target(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .context("the health check URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        bail!("the health check URL has no host");
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let path = match path.trim_end_matches('/') {
        "" => "/readyz".to_string(),
        p if p.ends_with("/readyz") => p.to_string(),
        p => format!("{p}/readyz"),
    };
    Ok((authority, path))
}

/// The status code of GET <url>/readyz.
pub async fn probe(url: &str, timeout: Duration) -> anyhow::Result<u16> {
    let (authority, path) = target(url)?;
    tokio::time::timeout(timeout, async {
        let mut stream = TcpStream::connect(&authority)
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).await?;
        let line = std::str::from_utf8(&head[..n]).unwrap_or("");
        line.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .with_context(|| format!("not an HTTP answer: {line:?}"))
    })
    .await
    .context("timed out")?
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn base_urls_get_the_readyz_path() {
        let t = |u: &str| target(u).unwrap();
        assert_eq!(
            t("http://127.0.0.1:8080"),
            ("127.0.0.1:8080".into(), "/readyz".into())
        );
        assert_eq!(
            t("http://localhost:8080/"),
            ("localhost:8080".into(), "/readyz".into())
        );
        assert_eq!(
            t("http://auth/readyz"),
            ("auth:80".into(), "/readyz".into())
        );
        assert_eq!(t("http://h:1/base"), ("h:1".into(), "/base/readyz".into()));
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(target("https://x").is_err());
        assert!(target("127.0.0.1:8080").is_err());
        assert!(target("http://").is_err());
    }
}
