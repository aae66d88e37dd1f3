//! The client's address, which forwarded headers cannot spoof.
//!
//! The socket peer is the client unless it is one of
//! `SHELF_TRUSTED_PROXIES`. Only then are `Forwarded` / `X-Forwarded-For`
//! read, from the right: each trusted proxy appends the address it saw, so
//! the right-most address that is not a trusted proxy is the first hop
//! nobody we trust can vouch past, i.e. the client. Everything left of it
//! was written by the client and is ignored. (actix's
//! `realip_remote_addr` takes the left-most value from anyone, which is
//! exactly what an attacker writes.)

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::{FORWARDED, HeaderMap, HeaderName};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    resolve(req.peer_addr(), req.headers(), trusted)
}

pub fn resolve(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?.ip().to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops = forwarded_for(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(ip) => client = *ip,
            Some(ip) => return Some(*ip),
            // A hop we cannot read was written by someone untrusted; the
            // last trusted address is as far as we can vouch.
            None => return Some(client),
        }
    }
    Some(client)
}

/// The forwarded-for chain, left to right; `Forwarded` (RFC 7239) wins
/// over `X-Forwarded-For` when both are present. `None` marks a hop that is
/// not an IP address (`unknown`, an obfuscated name, garbage).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name| headers.get_all(name).filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    let forwarded = values(FORWARDED);
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value.trim().trim_matches('"')))
            })
            .collect();
    }
    values(X_FORWARDED_FOR).iter().flat_map(|v| v.split(',')).map(|hop| parse_node(hop.trim())).collect()
}

/// `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        map
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    fn ip(raw: &str) -> Option<IpAddr> {
        Some(raw.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(resolve(peer("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(resolve(peer("203.0.113.9"), &h, &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_peer_yields_the_right_most_untrusted_hop() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        // The client wrote 6.6.6.6; the proxy appended what it saw.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3")]);
        assert_eq!(resolve(peer("10.0.0.2"), &h, &trusted), ip("198.51.100.7"));
        let h = headers(&[("forwarded", r#"for=6.6.6.6, for="[2001:db8::5]:443";proto=https"#)]);
        assert_eq!(resolve(peer("10.0.0.2"), &h, &trusted), ip("2001:db8::5"));
        // Nothing forwarded: the proxy itself.
        assert_eq!(resolve(peer("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
        // Garbage in the chain stops the walk at the last trusted hop.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, nonsense")]);
        assert_eq!(resolve(peer("10.0.0.2"), &h, &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn ipv4_mapped_peers_are_plain_ipv4() {
        assert_eq!(resolve(peer("::ffff:192.0.2.1"), &HeaderMap::new(), &[]), ip("192.0.2.1"));
    }
}
