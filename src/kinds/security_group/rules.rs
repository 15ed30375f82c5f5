//! Rule normalisation: protocols, CIDR blocks and permissions (the unit rules are compared in),
//! from what a spec writes and from what EC2 reports, and back into the form EC2 takes.

use std::net::{Ipv4Addr, Ipv6Addr};

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};

/// Where a permission lets traffic come from (ingress) or go to (egress).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Cidr(String),
    CidrV6(String),
    /// A security group by id (ids are unique across accounts, so the id alone identifies it).
    Group(String),
    /// A group by name and owner, passed to AWS as written (EC2-Classic style).
    GroupName {
        name: String,
        owner: String,
    },
    /// A managed prefix list (only ever observed: specs cannot write one).
    PrefixList(String),
}

/// One normalised permission: the unit rules are compared in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `-1` or a protocol number.
    pub protocol: String,
    /// Only for tcp, udp (ports) and icmp, icmpv6 (type, code); `None` otherwise.
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub source: Source,
}

impl Permission {
    pub(super) fn new(
        protocol: &str,
        from: Option<i32>,
        to: Option<i32>,
        source: Source,
    ) -> Permission {
        let protocol = canonical_protocol(protocol).unwrap_or_else(|| protocol.to_string());
        let (from_port, to_port) = match protocol.as_str() {
            "tcp" | "udp" => (from, to),
            "icmp" | "icmpv6" => (Some(from.unwrap_or(-1)), Some(to.unwrap_or(-1))),
            _ => (None, None),
        };
        Permission {
            protocol,
            from_port,
            to_port,
            source,
        }
    }

    /// The traffic part, for plans: `tcp 80`, `tcp 8000-8090`, `icmp type 8 code -1`, `all`.
    pub(super) fn traffic(&self) -> String {
        match (self.protocol.as_str(), self.from_port, self.to_port) {
            ("-1", _, _) => "all traffic".to_string(),
            ("tcp" | "udp", Some(f), Some(t)) if f == t => format!("{} {f}", self.protocol),
            ("tcp" | "udp", Some(f), Some(t)) => format!("{} {f}-{t}", self.protocol),
            ("icmp" | "icmpv6", Some(f), Some(t)) => {
                format!("{} type {f} code {t}", self.protocol)
            }
            (p, _, _) if p.parse::<u8>().is_ok() => format!("protocol {p}"),
            (p, _, _) => p.to_string(),
        }
    }

    /// The permission as the EC2 API takes it.
    pub(super) fn to_sdk(&self) -> IpPermission {
        let mut b = IpPermission::builder().ip_protocol(&self.protocol);
        if let (Some(f), Some(t)) = (self.from_port, self.to_port) {
            b = b.from_port(f).to_port(t);
        }
        b = match &self.source {
            Source::Cidr(c) => b.ip_ranges(IpRange::builder().cidr_ip(c).build()),
            Source::CidrV6(c) => b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build()),
            Source::Group(id) => {
                b.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
            }
            Source::GroupName { name, owner } => b.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_name(name)
                    .user_id(owner)
                    .build(),
            ),
            Source::PrefixList(id) => {
                b.prefix_list_ids(PrefixListId::builder().prefix_list_id(id).build())
            }
        };
        b.build()
    }
}

/// A permission as observed, with the name and owner AWS reported for a source group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    pub permission: Permission,
    /// `(owner, name)` of the source group, when AWS reported a name.
    pub group: Option<(String, String)>,
}

impl LiveRule {
    /// True when this live permission is what `want` asks for.
    pub(super) fn satisfies(&self, want: &Permission) -> bool {
        if self.permission == *want {
            return true;
        }
        let p = &self.permission;
        let same_traffic =
            (&p.protocol, p.from_port, p.to_port) == (&want.protocol, want.from_port, want.to_port);
        match &want.source {
            Source::GroupName { name, owner } => {
                same_traffic && self.group == Some((owner.clone(), name.clone()))
            }
            _ => false,
        }
    }
}

/// The normalised permissions of an observed group's rules.
pub(super) fn live_rules(perms: &[IpPermission]) -> Vec<LiveRule> {
    let mut out = Vec::new();
    for p in perms {
        let proto = p.ip_protocol().unwrap_or("-1");
        let (from, to) = (p.from_port(), p.to_port());
        let rule = |source: Source| LiveRule {
            permission: Permission::new(proto, from, to, source),
            group: None,
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                out.push(rule(Source::Cidr(
                    ipv4_network(c).unwrap_or_else(|| c.to_string()),
                )));
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                out.push(rule(Source::CidrV6(ipv6_text(c))));
            }
        }
        for g in p.user_id_group_pairs() {
            let owner = g.user_id().unwrap_or_default().to_string();
            let named = g.group_name().map(|n| (owner.clone(), n.to_string()));
            let source = match (g.group_id(), g.group_name()) {
                (Some(id), _) => Source::Group(id.to_string()),
                (None, Some(n)) => Source::GroupName {
                    name: n.to_string(),
                    owner,
                },
                (None, None) => continue,
            };
            out.push(LiveRule {
                group: named,
                ..rule(source)
            });
        }
        for pl in p.prefix_list_ids() {
            if let Some(id) = pl.prefix_list_id() {
                out.push(rule(Source::PrefixList(id.to_string())));
            }
        }
    }
    out
}

/// `tcp`/`6` → `tcp`, `all`/`-1` → `-1`, `50` → `50`; `None` when not a protocol.
pub fn canonical_protocol(p: &str) -> Option<String> {
    let p = p.trim().to_ascii_lowercase();
    let name = match p.as_str() {
        "tcp" | "6" => "tcp",
        "udp" | "17" => "udp",
        "icmp" | "1" => "icmp",
        "icmpv6" | "58" => "icmpv6",
        "all" | "-1" => "-1",
        n => return n.parse::<u8>().ok().map(|v| v.to_string()),
    };
    Some(name.to_string())
}

/// Splits `addr/len`.
fn split_cidr(s: &str) -> Option<(&str, u32)> {
    let (addr, len) = s.trim().split_once('/')?;
    Some((addr, len.parse().ok()?))
}

/// The network of an IPv4 CIDR block (host bits cleared), `None` when not a CIDR block.
pub(super) fn ipv4_network(s: &str) -> Option<String> {
    let (addr, len) = split_cidr(s)?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    if len > 32 {
        return None;
    }
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    Some(format!("{}/{len}", Ipv4Addr::from(u32::from(addr) & mask)))
}

/// The network of an IPv6 CIDR block in canonical text (RFC 5952), `None` when not one.
pub(super) fn ipv6_network(s: &str) -> Option<String> {
    let (addr, len) = split_cidr(s)?;
    let addr: Ipv6Addr = addr.parse().ok()?;
    if len > 128 {
        return None;
    }
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    Some(format!("{}/{len}", Ipv6Addr::from(u128::from(addr) & mask)))
}

/// An IPv6 block as written, in canonical text (case and zero compression do not matter).
pub(super) fn ipv6_text(s: &str) -> String {
    split_cidr(s)
        .and_then(|(a, len)| a.parse::<Ipv6Addr>().ok().map(|a| format!("{a}/{len}")))
        .unwrap_or_else(|| s.trim().to_string())
}
