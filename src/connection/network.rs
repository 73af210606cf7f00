//! Which clients count together in limits per client: the network an
//! address belongs to.

use std::net::{IpAddr, Ipv6Addr};

/// The network `address` counts as in limits per client (logins tried,
/// watches held): an IPv4 address alone; an IPv6 address by its /64 prefix,
/// the block one subscriber usually gets, so that a client cannot take a new
/// address from its block for each attempt; an IPv4 address mapped into
/// IPv6 (`::ffff:a.b.c.d`, as a dual-stack socket reports one) as that IPv4
/// address. An IPv6 network is given as the first address of its /64.
///
/// ```
/// use haystack_wire::connection::client_network;
///
/// let a = client_network("2001:db8:1:2::1".parse().unwrap());
/// let b = client_network("2001:db8:1:2:ffff::9".parse().unwrap());
/// assert_eq!(a, b);
/// assert_eq!(a.to_string(), "2001:db8:1:2::");
/// assert_eq!(client_network("::ffff:10.0.0.7".parse().unwrap()).to_string(), "10.0.0.7");
/// ```
pub fn client_network(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
    }
}
