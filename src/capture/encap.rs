//! Encapsulations between the link layer and TCP: a frame's bytes after its link header
//! in, the innermost IP packet (or why there is none) out.
//!
//! Decoded recursively, at most [`MAX_DEPTH`] layers deep: 802.1Q / 802.1ad / QinQ tags at
//! any depth, 802.3 frames with LLC/SNAP, MPLS label stacks (payload told by its first
//! nibble, with or without a pseudowire control word before an Ethernet frame), PPPoE
//! sessions, GRE (checksum, key and sequence options; Transparent Ethernet Bridging;
//! ERSPAN types I, II and III), VXLAN (UDP 4789), Geneve (UDP 6081, options skipped),
//! IPv4-in-IP and IPv6-in-IP. Connections inside a tunnel are then keyed by the inner
//! addresses and ports (the tunnel id is not part of the key).
//!
//! Whatever is not decoded is an [`Undecoded`] class, which the pipeline counts and warns
//! about once per class; protocols that cannot carry TCP (ARP, LLDP, STP, ICMP, plain UDP…)
//! are [`Stop::NotTcp`], counted but not warned. Pure: no state, no allocation.

use std::fmt;

use etherparse::{IpNumber, LaxNetSlice, LaxSlicedPacket, TransportSlice};

/// Encapsulation layers nested deeper than this are not decoded.
pub const MAX_DEPTH: u8 = 8;

/// UDP port of VXLAN (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;
/// UDP port of Geneve (RFC 8926).
pub const GENEVE_PORT: u16 = 6081;

/// An encapsulation layer a packet went through (for `--stats`-style counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    /// 802.1Q / 802.1ad VLAN tag.
    Vlan = 0,
    /// 802.3 with LLC/SNAP.
    LlcSnap,
    /// MPLS label stack.
    Mpls,
    /// PPPoE session.
    Pppoe,
    /// GRE.
    Gre,
    /// ERSPAN (inside GRE).
    Erspan,
    /// VXLAN.
    Vxlan,
    /// Geneve.
    Geneve,
    /// IPv4 or IPv6 inside IP.
    IpInIp,
}

impl Layer {
    /// All layers, in counter order.
    pub const ALL: [Layer; 9] = [
        Layer::Vlan,
        Layer::LlcSnap,
        Layer::Mpls,
        Layer::Pppoe,
        Layer::Gre,
        Layer::Erspan,
        Layer::Vxlan,
        Layer::Geneve,
        Layer::IpInIp,
    ];

    /// Its usual name.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Vlan => "802.1Q",
            Layer::LlcSnap => "LLC/SNAP",
            Layer::Mpls => "MPLS",
            Layer::Pppoe => "PPPoE",
            Layer::Gre => "GRE",
            Layer::Erspan => "ERSPAN",
            Layer::Vxlan => "VXLAN",
            Layer::Geneve => "Geneve",
            Layer::IpInIp => "IP-in-IP",
        }
    }
}

/// The layers one packet went through, as a bit set of [`Layer`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Path {
    /// Bit `Layer as u16` is set for each layer seen.
    pub layers: u16,
    depth: u8,
}

impl Path {
    /// Did the packet go through `layer`?
    pub fn has(self, layer: Layer) -> bool {
        self.layers & (1 << layer as u16) != 0
    }

    /// Enters one more layer; `false` past [`MAX_DEPTH`].
    fn enter(&mut self, layer: Layer) -> bool {
        self.layers |= 1 << layer as u16;
        self.depth += 1;
        self.depth <= MAX_DEPTH
    }
}

/// A class of packets that is not decoded (one warning per class, with a count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Undecoded {
    /// An EtherType (or a GRE / Geneve protocol type) that is not decoded.
    EtherType(u16),
    /// An IP protocol that could carry TCP but is not decoded (ESP, L2TPv3…).
    IpProtocol(u8),
    /// A GRE version other than 0 (version 1 is PPTP's enhanced GRE).
    GreVersion(u8),
    /// GRE with source routing (RFC 1701).
    GreRouting,
    /// An MPLS payload whose first nibble names no known protocol.
    MplsPayload(u8),
    /// More than [`MAX_DEPTH`] nested encapsulations.
    TooDeep,
}

impl fmt::Display for Undecoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Undecoded::EtherType(t) => write!(f, "EtherType 0x{t:04x}{}", ether_type_name(t)),
            Undecoded::IpProtocol(p) => write!(f, "IP protocol {p}{}", ip_protocol_name(p)),
            Undecoded::GreVersion(v) => write!(f, "GRE version {v}{}", if v == 1 { " (PPTP)" } else { "" }),
            Undecoded::GreRouting => f.write_str("GRE with source routing"),
            Undecoded::MplsPayload(n) => write!(f, "MPLS payload starting with nibble 0x{n:x}"),
            Undecoded::TooDeep => write!(f, "more than {MAX_DEPTH} nested encapsulations"),
        }
    }
}

fn ether_type_name(t: u16) -> &'static str {
    match t {
        0x88e5 => " (MACsec, encrypted)",
        0x8863 => " (PPPoE discovery)",
        0x8100 | 0x88a8 | 0x9100 => " (VLAN)",
        0x22f0 => " (AVTP)",
        0x8200 => " (Aruba)",
        0x88b5 | 0x88b6 => " (local experimental)",
        _ => "",
    }
}

fn ip_protocol_name(p: u8) -> &'static str {
    match p {
        50 => " (ESP, encrypted)",
        51 => " (AH)",
        115 => " (L2TPv3)",
        132 => " (SCTP)",
        137 => " (MPLS-in-IP)",
        _ => "",
    }
}

/// What is under the encapsulations: the innermost IP packet, sliced, or why there is none.
pub type Inner<'a> = Result<LaxSlicedPacket<'a>, Stop>;

/// Why a frame has no IP packet to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A protocol that cannot carry TCP.
    NotTcp,
    /// A class that is not decoded.
    Undecoded(Undecoded),
    /// A header cut short.
    Malformed(&'static str),
}

/// An Ethernet frame (header included).
pub fn ethernet<'a>(path: &mut Path, data: &'a [u8]) -> Inner<'a> {
    let (Some(t), Some(rest)) = (data.get(12..14), data.get(14..)) else {
        return Err(Stop::Malformed("short Ethernet header"));
    };
    let et = u16::from_be_bytes([t[0], t[1]]);
    if et > 1500 {
        return ether_payload(path, et, rest);
    }
    // 802.3 length field: LLC; SNAP with OUI 0 carries an EtherType.
    match rest.get(..8) {
        Some([0xaa, 0xaa, 0x03, 0, 0, 0, a, b]) => {
            if !path.enter(Layer::LlcSnap) {
                return Err(Stop::Undecoded(Undecoded::TooDeep));
            }
            ether_payload(path, u16::from_be_bytes([*a, *b]), &rest[8..])
        }
        // Spanning tree, NetBIOS, IPX over LLC...: no TCP there.
        _ => Err(Stop::NotTcp),
    }
}

/// The payload of an EtherType.
pub fn ether_payload<'a>(path: &mut Path, et: u16, data: &'a [u8]) -> Inner<'a> {
    match et {
        0x0800 | 0x86dd => ip(path, data),
        0x8100 | 0x88a8 | 0x9100 => {
            let Some(t) = data.get(2..4) else { return Err(Stop::Malformed("short VLAN tag")) };
            if !path.enter(Layer::Vlan) {
                return Err(Stop::Undecoded(Undecoded::TooDeep));
            }
            ether_payload(path, u16::from_be_bytes([t[0], t[1]]), &data[4..])
        }
        0x8847 | 0x8848 => mpls(path, data),
        0x8864 => pppoe(path, data),
        0x6558 => {
            // Transparent Ethernet Bridging (GRE, Geneve).
            ethernet(path, data)
        }
        // ARP, RARP, LLDP, LACP/slow protocols, EAPOL, loopback, PPPoE discovery, PTP.
        0x0806 | 0x8035 | 0x88cc | 0x8809 | 0x888e | 0x9000 | 0x8863 | 0x88f7 => Err(Stop::NotTcp),
        other => Err(Stop::Undecoded(Undecoded::EtherType(other))),
    }
}

fn mpls<'a>(path: &mut Path, data: &'a [u8]) -> Inner<'a> {
    if !path.enter(Layer::Mpls) {
        return Err(Stop::Undecoded(Undecoded::TooDeep));
    }
    let mut rest = data;
    // A label stack deeper than 16 entries is not a real one.
    for _ in 0..16 {
        let Some(entry) = rest.get(..4) else { return Err(Stop::Malformed("short MPLS label stack")) };
        rest = &rest[4..];
        if entry[2] & 1 == 1 {
            return match rest.first().map(|b| b >> 4) {
                Some(4) | Some(6) => ip(path, rest),
                // A pseudowire control word (first nibble 0), then an Ethernet frame.
                Some(0) => match rest.get(4..) {
                    Some(frame) => ethernet(path, frame),
                    None => Err(Stop::Malformed("short MPLS pseudowire control word")),
                },
                Some(n) => Err(Stop::Undecoded(Undecoded::MplsPayload(n))),
                None => Err(Stop::Malformed("MPLS label stack without payload")),
            };
        }
    }
    Err(Stop::Malformed("MPLS label stack without bottom of stack"))
}

fn pppoe<'a>(path: &mut Path, data: &'a [u8]) -> Inner<'a> {
    if !path.enter(Layer::Pppoe) {
        return Err(Stop::Undecoded(Undecoded::TooDeep));
    }
    let (Some(p), Some(rest)) = (data.get(6..8), data.get(8..)) else {
        return Err(Stop::Malformed("short PPPoE header"));
    };
    match u16::from_be_bytes([p[0], p[1]]) {
        0x0021 | 0x0057 => ip(path, rest),
        // LCP, IPCP, authentication...: PPP control traffic.
        _ => Err(Stop::NotTcp),
    }
}

/// An IP packet: TCP is the end; IP-in-IP, GRE, VXLAN and Geneve go one layer deeper.
pub fn ip<'a>(path: &mut Path, data: &'a [u8]) -> Inner<'a> {
    if !matches!(data.first().map(|b| b >> 4), Some(4) | Some(6)) {
        return Err(Stop::NotTcp);
    }
    // An IP header too short to slice is no packet to count (as before encapsulations).
    let Ok(p) = LaxSlicedPacket::from_ip(data) else { return Err(Stop::NotTcp) };
    let Some(net) = &p.net else { return Err(Stop::NotTcp) };
    let fragmented = match net {
        LaxNetSlice::Ipv4(v4) => v4.is_payload_fragmented(),
        LaxNetSlice::Ipv6(v6) => v6.is_payload_fragmented(),
        LaxNetSlice::Arp(_) => return Err(Stop::NotTcp),
    };
    let Some(payload) = net.ip_payload_ref() else { return Ok(p) };
    if fragmented {
        return Ok(p);
    }
    let inner = payload.payload;
    match payload.ip_number {
        IpNumber::TCP => Ok(p),
        IpNumber::IPV4 | IpNumber::IPV6 => {
            if !path.enter(Layer::IpInIp) {
                return Err(Stop::Undecoded(Undecoded::TooDeep));
            }
            ip(path, inner)
        }
        IpNumber::GRE => gre(path, inner),
        IpNumber::UDP => match &p.transport {
            Some(TransportSlice::Udp(udp)) => udp_tunnel(path, udp.destination_port(), udp.payload()),
            _ => Err(Stop::NotTcp),
        },
        // ICMP, IGMP, ICMPv6, OSPF, PIM, VRRP, CARP: no TCP inside.
        IpNumber(1 | 2 | 58 | 89 | 103 | 112) => Err(Stop::NotTcp),
        IpNumber(n) => Err(Stop::Undecoded(Undecoded::IpProtocol(n))),
    }
}

fn udp_tunnel<'a>(path: &mut Path, port: u16, data: &'a [u8]) -> Inner<'a> {
    match port {
        VXLAN_PORT => {
            if !path.enter(Layer::Vxlan) {
                return Err(Stop::Undecoded(Undecoded::TooDeep));
            }
            match data.get(8..) {
                Some(frame) => ethernet(path, frame),
                None => Err(Stop::Malformed("short VXLAN header")),
            }
        }
        GENEVE_PORT => {
            if !path.enter(Layer::Geneve) {
                return Err(Stop::Undecoded(Undecoded::TooDeep));
            }
            let Some(h) = data.get(..8) else { return Err(Stop::Malformed("short Geneve header")) };
            let options = (h[0] & 0x3f) as usize * 4;
            let proto = u16::from_be_bytes([h[2], h[3]]);
            match data.get(8 + options..) {
                Some(rest) => ether_payload(path, proto, rest),
                None => Err(Stop::Malformed("short Geneve options")),
            }
        }
        _ => Err(Stop::NotTcp),
    }
}

fn gre<'a>(path: &mut Path, data: &'a [u8]) -> Inner<'a> {
    if !path.enter(Layer::Gre) {
        return Err(Stop::Undecoded(Undecoded::TooDeep));
    }
    let Some(h) = data.get(..4) else { return Err(Stop::Malformed("short GRE header")) };
    let flags = u16::from_be_bytes([h[0], h[1]]);
    let proto = u16::from_be_bytes([h[2], h[3]]);
    let version = (flags & 7) as u8;
    if version != 0 {
        return Err(Stop::Undecoded(Undecoded::GreVersion(version)));
    }
    let (checksum, routing, key, seq) =
        (flags & 0x8000 != 0, flags & 0x4000 != 0, flags & 0x2000 != 0, flags & 0x1000 != 0);
    if routing {
        return Err(Stop::Undecoded(Undecoded::GreRouting));
    }
    let len = 4 + 4 * (checksum as usize + key as usize + seq as usize);
    let Some(rest) = data.get(len..) else { return Err(Stop::Malformed("short GRE options")) };
    let erspan = match proto {
        // ERSPAN type II has a sequence number and an 8-byte header; type I has neither.
        0x88be if seq => 8,
        0x88be => 0,
        // ERSPAN type III: 12 bytes, plus an 8-byte platform subheader when O is set.
        0x22eb => match rest.get(11) {
            Some(b) => 12 + if b & 1 == 1 { 8 } else { 0 },
            None => return Err(Stop::Malformed("short ERSPAN header")),
        },
        other => return ether_payload(path, other, rest),
    };
    if !path.enter(Layer::Erspan) {
        return Err(Stop::Undecoded(Undecoded::TooDeep));
    }
    match rest.get(erspan..) {
        Some(frame) => ethernet(path, frame),
        None => Err(Stop::Malformed("short ERSPAN header")),
    }
}

#[cfg(test)]
mod tests;
