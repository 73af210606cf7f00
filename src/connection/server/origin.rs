//! Which web pages may open a WebSocket to the server: the upgrade's
//! `Origin` checked against an allow-list before any WebSocket exists.
//!
//! A browser lets any page open a WebSocket to any address and sends the
//! page's origin with the upgrade; nothing else stops a page on another site,
//! open in a user's browser, from talking to a server on the user's machine
//! or network (cross-site WebSocket hijacking). The check:
//!
//! - an upgrade without `Origin` is let in: browsers always send one, other
//!   clients (this crate's, the reference's, scripts) send none;
//! - `*` on the allow-list lets every origin in;
//! - an origin on the allow-list ([`ServerConfig::allow_origin`]) is let in;
//! - otherwise the origin must be the server's own: its host and port those
//!   of the request's `Host` header, its scheme `http` or `https`, as for
//!   the page the server serves ([`ServerConfig::pages`]), which opens its
//!   WebSocket to the address it came from;
//! - DNS rebinding: a hostile name that resolves to 127.0.0.1 makes a hostile
//!   page the "same origin" as a server on the loopback address. So on a
//!   connection that arrived on a loopback address, the server's own origin
//!   counts only under a loopback name or address (`localhost`,
//!   `*.localhost`, `127.0.0.0/8`, `[::1]`); other names must be on the
//!   allow-list.
//!
//! Origins are compared after normalising: scheme and host in lower case,
//! the scheme's default port (80 for `http` and `ws`, 443 for `https` and
//! `wss`) dropped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::config::ServerConfig;

/// The longest excerpt of a peer's header value kept in an error.
const EXCERPT: usize = 64;

/// The origins a server lets in besides its own: [`ServerConfig::allow_origin`].
#[derive(Debug, Clone, Default)]
pub(super) struct Origins {
    /// `*`: every origin.
    any: bool,
    /// Normalised origins, each let in.
    allowed: Vec<Origin>,
}

/// An origin, normalised: lower-case scheme and host, no default port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// Why a text is not an origin (`scheme://host[:port]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// No `://` after a scheme.
    #[error("{origin:?} is not an origin: it has no scheme:// (an origin is scheme://host[:port])")]
    NoScheme {
        /// The text given, or its start.
        origin: String,
    },
    /// The scheme is empty or has characters a scheme cannot have.
    #[error(
        "{origin:?} is not an origin: the scheme is not a letter followed by letters, digits, +, - or ."
    )]
    BadScheme {
        /// The text given, or its start.
        origin: String,
    },
    /// The host is empty, has characters a host name cannot have, or is a
    /// bracketed address that is not IPv6.
    #[error("{origin:?} is not an origin: the host is not a host name or an IP address")]
    BadHost {
        /// The text given, or its start.
        origin: String,
    },
    /// The port is not a number from 0 to 65535.
    #[error("{origin:?} is not an origin: the port is not a number up to 65535")]
    BadPort {
        /// The text given, or its start.
        origin: String,
    },
    /// A path, query, fragment or user name follows or precedes the host:
    /// an origin is scheme, host and port only.
    #[error("{origin:?} is not an origin: it has more than scheme://host[:port] (a path, a query, a user)")]
    NotJustAnOrigin {
        /// The text given, or its start.
        origin: String,
    },
    /// `null`, the opaque origin of sandboxed frames and local files of any
    /// site: it names no site, so it cannot be allowed on its own (`*`
    /// allows it with every other origin).
    #[error("`null` is the origin of sandboxed frames and files of any site; only `*` lets it in")]
    Opaque,
}

/// Why an upgrade's `Origin` was refused (with HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginRefused {
    /// The `Origin` header is not an origin.
    #[error("Origin refused: {0}")]
    Malformed(#[source] OriginError),
    /// The origin is another site's: not on the allow-list, and not the
    /// server's own (the request's `Host`).
    #[error("origin {origin} is not allowed: not this server's own ({host}) and not on its allow-list")]
    CrossOrigin {
        /// The origin, or its start.
        origin: String,
        /// The request's `Host`, or its start.
        host: String,
    },
    /// The origin is not on the allow-list, and the request has no `Host`
    /// (or one that is not a host) to tell whether it is the server's own.
    #[error("origin {origin} is not allowed: not on the allow-list, and no Host to compare it with")]
    NoHost {
        /// The origin, or its start.
        origin: String,
    },
    /// The origin is the server's own under a name that is not a loopback
    /// name, on a connection that arrived on a loopback address: a page of
    /// a name that resolves to this machine (DNS rebinding). Loopback names
    /// and addresses, and origins on the allow-list, are let in.
    #[error("origin {origin} is not allowed: a loopback server lets in its own origin only under a loopback name (localhost, 127.0.0.1, [::1])")]
    NotLoopbackName {
        /// The origin, or its start.
        origin: String,
    },
}

impl Origins {
    /// Adds `origin` (`*` for any).
    fn allow(&mut self, origin: &str) -> Result<(), OriginError> {
        if origin.trim() == "*" {
            self.any = true;
            return Ok(());
        }
        let origin = Origin::parse(origin.trim().as_bytes(), true)?;
        if !self.allowed.contains(&origin) {
            self.allowed.push(origin);
        }
        Ok(())
    }

    /// Whether an upgrade with these `Origin` and `Host` headers, on a
    /// connection that arrived at `local`, may go on.
    pub(super) fn check(
        &self,
        origin: Option<&[u8]>,
        host: Option<&[u8]>,
        local: Option<SocketAddr>,
    ) -> Result<(), OriginRefused> {
        let Some(raw) = origin else {
            return Ok(());
        };
        if self.any {
            return Ok(());
        }
        let origin = Origin::parse(trim(raw), false).map_err(OriginRefused::Malformed)?;
        if self.allowed.contains(&origin) {
            return Ok(());
        }
        let Some((host, port)) = host.and_then(|host| split_host(trim(host)).ok()) else {
            return Err(OriginRefused::NoHost { origin: excerpt(raw) });
        };
        let same = matches!(origin.scheme.as_str(), "http" | "https")
            && host.eq_ignore_ascii_case(&origin.host)
            && port.or(default_port(&origin.scheme)) == origin.port.or(default_port(&origin.scheme));
        if !same {
            return Err(OriginRefused::CrossOrigin {
                origin: excerpt(raw),
                host: excerpt(host.as_bytes()),
            });
        }
        if local.is_some_and(|local| is_loopback(local.ip())) && !is_loopback_name(host) {
            return Err(OriginRefused::NotLoopbackName { origin: excerpt(raw) });
        }
        Ok(())
    }
}

impl ServerConfig {
    /// Lets WebSocket upgrades from pages of `origin` in, besides the
    /// server's own: `https://app.example`, `http://localhost:5173`, or `*`
    /// for every origin. Compared after normalising (scheme and host in
    /// lower case, the scheme's default port dropped); a path, query or user
    /// name makes it no origin ([`OriginError`]).
    ///
    /// By default only upgrades without an `Origin` (non-browser clients)
    /// and from the server's own origin (its `Host`, as for the page of
    /// [`ServerConfig::pages`]) are let in, and on a loopback address the
    /// own origin only under a loopback name: a page of another site, open
    /// in the browser of someone who can reach the server, must not talk to
    /// it in their name. Any other `Origin` is refused with HTTP 403 before
    /// the upgrade. See [`ServerConfig::check_origin`].
    pub fn allow_origin(mut self, origin: &str) -> Result<Self, OriginError> {
        self.origins.allow(origin)?;
        Ok(self)
    }

    /// Whether an upgrade with these `Origin` and `Host` header values
    /// (`None` when absent), on a connection that arrived at the server's
    /// address `local` (when known), may go on: the check a [`super::Server`]
    /// makes before every upgrade, for applications that make the upgrade
    /// themselves ([`super::serve_websocket`] behind axum, say). Refuse the
    /// upgrade with HTTP 403 on an error. Without `local`, the loopback rule
    /// (see [`ServerConfig::allow_origin`]) does not apply.
    ///
    /// ```
    /// use haystack_wire::connection::ServerConfig;
    ///
    /// let config = ServerConfig::new().allow_origin("https://app.example").unwrap();
    /// let local = "127.0.0.1:8080".parse().ok();
    /// // No Origin: not a browser.
    /// assert!(config.check_origin(None, Some(b"127.0.0.1:8080"), local).is_ok());
    /// // The server's own page.
    /// assert!(config.check_origin(Some(b"http://127.0.0.1:8080"), Some(b"127.0.0.1:8080"), local).is_ok());
    /// // Allowed.
    /// assert!(config.check_origin(Some(b"https://APP.example:443"), Some(b"127.0.0.1:8080"), local).is_ok());
    /// // Another site.
    /// assert!(config.check_origin(Some(b"https://evil.example"), Some(b"127.0.0.1:8080"), local).is_err());
    /// ```
    pub fn check_origin(
        &self,
        origin: Option<&[u8]>,
        host: Option<&[u8]>,
        local: Option<SocketAddr>,
    ) -> Result<(), OriginRefused> {
        self.origins.check(origin, host, local)
    }
}

impl Origin {
    /// Reads `scheme://host[:port]`; `lenient` (an origin a user typed)
    /// takes one trailing `/`.
    fn parse(text: &[u8], lenient: bool) -> Result<Origin, OriginError> {
        let shown = || excerpt(text);
        if text == b"null" {
            return Err(OriginError::Opaque);
        }
        let Some(at) = text.windows(3).position(|w| w == b"://") else {
            return Err(OriginError::NoScheme { origin: shown() });
        };
        let (scheme, authority) = (&text[..at], &text[at + 3..]);
        let authority = match authority.strip_suffix(b"/") {
            Some(rest) if lenient => rest,
            _ => authority,
        };
        let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(OriginError::BadScheme { origin: shown() });
        }
        if authority.iter().any(|&b| matches!(b, b'/' | b'?' | b'#' | b'@')) {
            return Err(OriginError::NotJustAnOrigin { origin: shown() });
        }
        let (host, port) = split_host(authority).map_err(|fault| match fault {
            HostFault::Host => OriginError::BadHost { origin: shown() },
            HostFault::Port => OriginError::BadPort { origin: shown() },
        })?;
        let scheme = String::from_utf8_lossy(scheme).to_ascii_lowercase();
        let port = port.filter(|&port| Some(port) != default_port(&scheme));
        Ok(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// What is wrong with a `host[:port]`.
enum HostFault {
    Host,
    Port,
}

/// Splits `host[:port]` (a `Host` header, an origin's authority): a host
/// name of letters, digits, `-`, `.` and `_`, an IPv4 address, or an IPv6
/// address in brackets.
fn split_host(authority: &[u8]) -> Result<(&str, Option<u16>), HostFault> {
    let text = std::str::from_utf8(authority).map_err(|_| HostFault::Host)?;
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let end = rest.find(']').ok_or(HostFault::Host)?;
        rest[..end].parse::<Ipv6Addr>().map_err(|_| HostFault::Host)?;
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(HostFault::Host),
        };
        (&text[..end + 2], port)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let name_ok = host.starts_with('[')
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    if !name_ok {
        return Err(HostFault::Host);
    }
    let port = match port {
        None => None,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse::<u16>().map_err(|_| HostFault::Port)?)
        }
        Some(_) => return Err(HostFault::Port),
    };
    Ok((host, port))
}

/// The port a scheme means when it names none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Whether `address` is a loopback address (an IPv4-mapped one included).
fn is_loopback(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Whether a `Host` names this machine whatever the DNS says: `localhost`,
/// a name under `.localhost` (RFC 6761), or a loopback address.
fn is_loopback_name(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|v6| is_loopback(IpAddr::V6(v6)));
    }
    host.parse::<Ipv4Addr>().is_ok_and(|v4| v4.is_loopback())
}

/// Optional whitespace around a header value.
fn trim(value: &[u8]) -> &[u8] {
    value.trim_ascii()
}

/// At most the first [`EXCERPT`] bytes of a peer's value, as text.
fn excerpt(value: &[u8]) -> String {
    let cut = &value[..value.len().min(EXCERPT)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if value.len() > EXCERPT {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(allowed: &[&str]) -> Origins {
        let mut origins = Origins::default();
        for origin in allowed {
            origins.allow(origin).unwrap();
        }
        origins
    }

    fn loopback() -> Option<SocketAddr> {
        "127.0.0.1:8080".parse().ok()
    }

    fn public() -> Option<SocketAddr> {
        "192.0.2.7:8080".parse().ok()
    }

    fn check(
        origins: &Origins,
        origin: &str,
        host: &str,
        local: Option<SocketAddr>,
    ) -> Result<(), OriginRefused> {
        origins.check(Some(origin.as_bytes()), Some(host.as_bytes()), local)
    }

    #[test]
    fn an_upgrade_without_origin_is_let_in_whatever_the_list() {
        assert_eq!(Origins::default().check(None, None, loopback()), Ok(()));
        assert_eq!(
            Origins::default().check(None, Some(b"evil.example"), public()),
            Ok(())
        );
    }

    #[test]
    fn the_servers_own_origin_is_let_in_with_default_ports_and_case_normalised() {
        let none = Origins::default();
        assert_eq!(
            check(&none, "http://localhost:8080", "localhost:8080", loopback()),
            Ok(())
        );
        assert_eq!(
            check(&none, "http://127.0.0.1:8080", "127.0.0.1:8080", loopback()),
            Ok(())
        );
        assert_eq!(
            check(&none, "http://[::1]:8080", "[::1]:8080", loopback()),
            Ok(())
        );
        assert_eq!(
            check(
                &none,
                "http://app.localhost:8080",
                "APP.localhost:8080",
                loopback()
            ),
            Ok(())
        );
        assert_eq!(
            check(&none, "HTTPS://Example.COM", "example.com:443", public()),
            Ok(())
        );
        assert_eq!(
            check(&none, "http://example.com:80", "example.com", public()),
            Ok(())
        );
    }

    #[test]
    fn another_sites_origin_is_refused_naming_it_and_the_host() {
        let none = Origins::default();
        let refused = check(&none, "https://evil.example", "127.0.0.1:8080", loopback());
        assert_eq!(
            refused,
            Err(OriginRefused::CrossOrigin {
                origin: "https://evil.example".into(),
                host: "127.0.0.1".into()
            })
        );
        // Same host, another port or scheme: another origin.
        assert!(check(&none, "http://localhost:9090", "localhost:8080", loopback()).is_err());
        assert!(check(&none, "https://example.com", "example.com:80", public()).is_err());
        assert!(check(&none, "ftp://example.com:21", "example.com:21", public()).is_err());
    }

    #[test]
    fn a_rebound_name_on_a_loopback_connection_is_refused_unless_allowed() {
        let none = Origins::default();
        assert_eq!(
            check(&none, "http://evil.example:8080", "evil.example:8080", loopback()),
            Err(OriginRefused::NotLoopbackName {
                origin: "http://evil.example:8080".into()
            })
        );
        let v6: Option<SocketAddr> = "[::1]:8080".parse().ok();
        assert!(check(&none, "http://evil.example:8080", "evil.example:8080", v6).is_err());
        // The same name on a public address is the server's own site.
        assert_eq!(
            check(&none, "http://evil.example:8080", "evil.example:8080", public()),
            Ok(())
        );
        // Named on the list, it is let in on loopback too.
        let listed = origins(&["http://evil.example:8080"]);
        assert_eq!(
            check(
                &listed,
                "http://evil.example:8080",
                "evil.example:8080",
                loopback()
            ),
            Ok(())
        );
    }

    #[test]
    fn an_allowed_origin_matches_after_normalising_and_star_allows_any() {
        let listed = origins(&["HTTPS://App.Example:443/", "http://localhost:5173"]);
        assert_eq!(
            check(&listed, "https://app.example", "127.0.0.1:8080", loopback()),
            Ok(())
        );
        assert_eq!(
            check(&listed, "http://localhost:5173", "127.0.0.1:8080", loopback()),
            Ok(())
        );
        assert!(check(&listed, "http://app.example", "127.0.0.1:8080", loopback()).is_err());
        let any = origins(&["*"]);
        assert_eq!(
            check(&any, "https://evil.example", "127.0.0.1:8080", loopback()),
            Ok(())
        );
        assert_eq!(check(&any, "null", "127.0.0.1:8080", loopback()), Ok(()));
    }

    #[test]
    fn a_malformed_or_opaque_origin_and_a_missing_host_are_refused() {
        let none = Origins::default();
        assert_eq!(
            check(&none, "null", "127.0.0.1:8080", loopback()),
            Err(OriginRefused::Malformed(OriginError::Opaque))
        );
        assert!(matches!(
            check(&none, "http://127.0.0.1:8080/page", "127.0.0.1:8080", loopback()),
            Err(OriginRefused::Malformed(OriginError::NotJustAnOrigin { .. }))
        ));
        assert_eq!(
            none.check(Some(b"http://127.0.0.1:8080"), None, loopback()),
            Err(OriginRefused::NoHost {
                origin: "http://127.0.0.1:8080".into()
            })
        );
    }

    #[test]
    fn the_allow_list_refuses_what_is_not_an_origin_naming_what_is_wrong() {
        let mut list = Origins::default();
        assert!(matches!(
            list.allow("app.example"),
            Err(OriginError::NoScheme { .. })
        ));
        assert!(matches!(
            list.allow("1http://app.example"),
            Err(OriginError::BadScheme { .. })
        ));
        assert!(matches!(list.allow("https://"), Err(OriginError::BadHost { .. })));
        assert!(matches!(
            list.allow("https://[zz]:1"),
            Err(OriginError::BadHost { .. })
        ));
        assert!(matches!(
            list.allow("https://app.example:99999"),
            Err(OriginError::BadPort { .. })
        ));
        assert!(matches!(
            list.allow("https://app.example:"),
            Err(OriginError::BadPort { .. })
        ));
        assert!(matches!(
            list.allow("https://user@app.example"),
            Err(OriginError::NotJustAnOrigin { .. })
        ));
        assert_eq!(list.allow("null"), Err(OriginError::Opaque));
        assert!(list.allowed.is_empty() && !list.any);
    }

    #[test]
    fn a_long_origin_is_named_by_its_start_only() {
        let long = format!("https://{}.example", "a".repeat(500));
        let Err(OriginRefused::CrossOrigin { origin, .. }) =
            check(&Origins::default(), &long, "x:1", public())
        else {
            panic!("not refused as another site");
        };
        assert!(origin.len() <= EXCERPT + '…'.len_utf8(), "{origin}");
    }
}
