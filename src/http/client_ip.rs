//! The client's address, which forwarded headers cannot spoof.
//!
//! The socket peer is the client unless it is one of
//! `SHELF_TRUSTED_PROXIES`. Only then is a forwarded header read, and only
//! the one those proxies write (`SHELF_FORWARDED_HEADER`): a proxy appends
//! to its own header and passes any other through untouched, so the other
//! header is entirely the client's and is never looked at. The chain is
//! read from the right: each trusted proxy appends the address it saw, so
//! the right-most address that is not a trusted proxy is the first hop
//! nobody we trust can vouch past, i.e. the client. Everything left of it
//! was written by the client and is ignored. (actix's
//! `realip_remote_addr` takes the left-most value from anyone, which is
//! exactly what an attacker writes.)

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::{FORWARDED, HeaderMap, HeaderName};
use ipnet::IpNet;

pub use crate::settings::ForwardedHeader;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Which peers are proxies we believe, and which header they write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    pub trusted: Vec<IpNet>,
    pub header: ForwardedHeader,
}

impl Proxies {
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        self.resolve(req.peer_addr(), req.headers())
    }

    pub fn resolve(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.ip().to_canonical();
        let is_trusted = |ip: &IpAddr| self.trusted.iter().any(|net| net.contains(ip));
        if !is_trusted(&peer) {
            return Some(peer);
        }
        let mut client = peer;
        for hop in self.chain(headers).iter().rev() {
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

    /// The forwarded-for chain of the configured header, left to right,
    /// over all its header lines in order. `None` marks a hop that is not
    /// an IP address (`unknown`, an obfuscated name, garbage).
    fn chain(&self, headers: &HeaderMap) -> Vec<Option<IpAddr>> {
        let name = match self.header {
            ForwardedHeader::XForwardedFor => X_FORWARDED_FOR,
            ForwardedHeader::Forwarded => FORWARDED,
        };
        // A value that is not visible ASCII cannot be read past, like an
        // unreadable hop.
        let hops = headers.get_all(name).flat_map(|v| match v.to_str() {
            Ok(text) => text.split(',').map(Some).collect::<Vec<_>>(),
            Err(_) => vec![None],
        });
        match self.header {
            ForwardedHeader::XForwardedFor => hops.map(|hop| hop.and_then(|h| parse_node(h.trim()))).collect(),
            ForwardedHeader::Forwarded => hops
                .map(|element| {
                    element?
                        .split(';')
                        .filter_map(|pair| pair.split_once('='))
                        .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                        .and_then(|(_, value)| parse_node(value.trim().trim_matches('"')))
                })
                .collect(),
        }
    }
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

    fn behind(header: ForwardedHeader) -> Proxies {
        Proxies { trusted: vec!["10.0.0.0/8".parse().unwrap()], header }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(Proxies::default().resolve(peer("203.0.113.9"), &h), ip("203.0.113.9"));
        let proxies = behind(ForwardedHeader::XForwardedFor);
        assert_eq!(proxies.resolve(peer("203.0.113.9"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_peer_yields_the_right_most_untrusted_hop_of_its_header() {
        let xff = behind(ForwardedHeader::XForwardedFor);
        // The client wrote 6.6.6.6; the proxy appended what it saw.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3")]);
        assert_eq!(xff.resolve(peer("10.0.0.2"), &h), ip("198.51.100.7"));
        // Nothing forwarded: the proxy itself.
        assert_eq!(xff.resolve(peer("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        // Garbage in the chain stops the walk at the last trusted hop.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, nonsense")]);
        assert_eq!(xff.resolve(peer("10.0.0.2"), &h), ip("10.0.0.2"));
        // Several header lines are one chain, in order.
        let h = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.8")]);
        assert_eq!(xff.resolve(peer("10.0.0.2"), &h), ip("198.51.100.8"));

        let forwarded = behind(ForwardedHeader::Forwarded);
        let h = headers(&[("forwarded", r#"for=6.6.6.6, for="[2001:db8::5]:443";proto=https"#)]);
        assert_eq!(forwarded.resolve(peer("10.0.0.2"), &h), ip("2001:db8::5"));
    }

    #[test]
    fn the_header_the_proxy_does_not_write_is_never_read() {
        // The proxy writes X-Forwarded-For; the client adds its own Forwarded.
        let h = headers(&[("x-forwarded-for", "198.51.100.7"), ("forwarded", "for=203.0.113.66")]);
        assert_eq!(behind(ForwardedHeader::XForwardedFor).resolve(peer("10.0.0.2"), &h), ip("198.51.100.7"));
        // And the other way round.
        let h = headers(&[("forwarded", "for=198.51.100.7"), ("x-forwarded-for", "203.0.113.66")]);
        assert_eq!(behind(ForwardedHeader::Forwarded).resolve(peer("10.0.0.2"), &h), ip("198.51.100.7"));
        // Only the other header: the proxy itself is the client we can vouch for.
        let h = headers(&[("forwarded", "for=203.0.113.66")]);
        assert_eq!(behind(ForwardedHeader::XForwardedFor).resolve(peer("10.0.0.2"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn ipv4_mapped_peers_are_plain_ipv4() {
        assert_eq!(Proxies::default().resolve(peer("::ffff:192.0.2.1"), &HeaderMap::new()), ip("192.0.2.1"));
    }

    #[test]
    fn the_header_setting_parses_either_name() {
        assert_eq!(ForwardedHeader::parse("X-Forwarded-For"), Some(ForwardedHeader::XForwardedFor));
        assert_eq!(ForwardedHeader::parse("forwarded"), Some(ForwardedHeader::Forwarded));
        assert_eq!(ForwardedHeader::parse("x-real-ip"), None);
    }
}
