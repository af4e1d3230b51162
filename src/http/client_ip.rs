//! The client's address: the TCP peer, or the address a trusted proxy (nginx) put
//! in `X-Forwarded-For`. A header from anyone else is ignored: otherwise a client
//! could pick the address its failed logins are counted under.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use ipnet::IpNet;

use crate::http::state::AppState;

/// Walks `X-Forwarded-For` from the right (the entries our proxies appended) and
/// takes the first address that is not itself a trusted proxy. Addresses are
/// compared canonically: on a dual-stack listener (`[::]`) an IPv4 gateway
/// arrives as `::ffff:a.b.c.d`, which must match its IPv4 entry.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded_for.unwrap_or("").rsplit(',') {
        match entry.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => break,
        }
    }
    client
}

/// The client's User-Agent as the sessions list shows it: printable, 256
/// characters at most.
pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    let agent = headers.get(header::USER_AGENT)?.to_str().ok()?;
    let agent: String = agent
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect();
    (!agent.trim().is_empty()).then_some(agent)
}

/// Extracts the client address of a request.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Ok(ClientIp(client_ip(
            peer,
            Some(&forwarded),
            &state.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client() {
        let trusted = [
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ];
        let peer = ip("127.0.0.1");
        // A client-supplied entry (1.2.3.4) sits left of what the proxies appended.
        assert_eq!(
            client_ip(peer, Some("1.2.3.4, 198.51.100.7, 10.1.2.3"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(peer, Some("198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(peer, None, &trusted), peer);
        assert_eq!(
            client_ip(peer, Some("garbage, 10.0.0.2"), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_mapped_ipv4_peer_matches_its_ipv4_entry() {
        // A dual-stack listener sees the IPv4 gateway as ::ffff:127.0.0.1.
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        let peer = ip("::ffff:127.0.0.1");
        assert_eq!(
            client_ip(peer, Some("198.51.100.99"), &trusted),
            ip("198.51.100.99")
        );
        assert_eq!(
            client_ip(peer, Some("::ffff:10.9.9.9"), &trusted),
            ip("10.9.9.9")
        );
        assert_eq!(
            client_ip(ip("::ffff:203.0.113.5"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.5")
        );
    }
}
