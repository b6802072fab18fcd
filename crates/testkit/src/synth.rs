//! Synthetic captures: packet descriptions in, pcap / pcapng bytes out.
//!
//! Used by the tests (every link type and TCP edge case, built with etherparse's
//! `PacketBuilder` instead of opaque binary fixtures), by the benchmark generator and by the
//! fault matrix, which rewrites captures. Framing is pcap-parser's serializer; this module
//! only adds link-layer headers and keeps the interface bookkeeping.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use etherparse::PacketBuilder;
use pcap_parser::pcapng::{EnhancedPacketBlock, InterfaceDescriptionBlock, SectionHeaderBlock};
use pcap_parser::{LegacyPcapBlock, Linktype, PcapHeader, ToVec};

use dupcall::capture::decode::TcpFlags;
use dupcall::capture::linktype;
use dupcall::exchange::Timestamp;

fn gen_err(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("pcap serialisation: {e:?}"))
}

/// Writes a classic pcap file (little-endian, µs or ns timestamps).
pub struct PcapWriter<W: Write> {
    out: W,
    nanos: bool,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W, link: u32, nanos: bool) -> io::Result<Self> {
        let mut h = PcapHeader::new();
        h.network = Linktype(link as i32);
        h.snaplen = 262_144;
        h.magic_number = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        out.write_all(&h.to_vec_raw().map_err(gen_err)?)?;
        Ok(PcapWriter { out, nanos })
    }

    /// Writes one packet; `origlen` > `data.len()` marks a snaplen cut.
    pub fn packet(&mut self, ts: Timestamp, data: &[u8], origlen: u32) -> io::Result<()> {
        let secs = ts.0.div_euclid(1_000_000_000) as u32;
        let ns = ts.0.rem_euclid(1_000_000_000) as u32;
        let b = LegacyPcapBlock {
            ts_sec: secs,
            ts_usec: if self.nanos { ns } else { ns / 1000 },
            caplen: data.len() as u32,
            origlen: origlen.max(data.len() as u32),
            data,
        };
        self.out.write_all(&b.to_vec_raw().map_err(gen_err)?)
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The underlying writer, borrowed.
    pub fn inner_ref(&self) -> &W {
        &self.out
    }
}

/// Writes a pcapng file: one section, interfaces added on demand.
pub struct PcapNgWriter<W: Write> {
    out: W,
    /// Units per second of each interface.
    units: Vec<u64>,
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes the section header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut shb = SectionHeaderBlock {
            block_type: 0,
            block_len1: 0,
            bom: 0x1a2b_3c4d,
            major_version: 1,
            minor_version: 0,
            section_len: -1,
            options: vec![],
            block_len2: 0,
        };
        out.write_all(&shb.to_vec().map_err(gen_err)?)?;
        Ok(PcapNgWriter { out, units: Vec::new() })
    }

    /// Describes an interface; `tsresol` is pcapng's `if_tsresol` (6 = µs, 9 = ns).
    /// Returns its id.
    pub fn interface(&mut self, link: u32, tsresol: u8) -> io::Result<u32> {
        let mut idb = InterfaceDescriptionBlock {
            block_type: 0,
            block_len1: 0,
            linktype: Linktype(link as i32),
            reserved: 0,
            snaplen: 262_144,
            options: vec![],
            block_len2: 0,
            if_tsresol: tsresol,
            if_tsoffset: 0,
        };
        self.out.write_all(&idb.to_vec().map_err(gen_err)?)?;
        let units = if tsresol & 0x80 == 0 { 10u64.pow(tsresol as u32) } else { 1 << (tsresol & 0x7f) };
        self.units.push(units);
        Ok(self.units.len() as u32 - 1)
    }

    /// Writes one packet on interface `iface`.
    pub fn packet(&mut self, iface: u32, ts: Timestamp, data: &[u8], origlen: u32) -> io::Result<()> {
        let units = *self.units.get(iface as usize).ok_or_else(|| io::Error::other("unknown interface"))?;
        let raw = (ts.0 as i128 * units as i128 / 1_000_000_000) as u64;
        let mut epb = EnhancedPacketBlock {
            block_type: 0,
            block_len1: 0,
            if_id: iface,
            ts_high: (raw >> 32) as u32,
            ts_low: raw as u32,
            caplen: data.len() as u32,
            origlen: origlen.max(data.len() as u32),
            data,
            options: vec![],
            block_len2: 0,
        };
        self.out.write_all(&epb.to_vec().map_err(gen_err)?)
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One TCP segment to synthesise.
#[derive(Clone, Debug)]
pub struct Segment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (sent when `flags.ack`).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Payload.
    pub payload: &'a [u8],
}

/// Builds the IP packet (IPv4 or IPv6, by address family) carrying `seg`.
pub fn ip_packet(seg: &Segment<'_>) -> Vec<u8> {
    let builder = match (seg.src.ip(), seg.dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (s, d) => PacketBuilder::ipv6(v6(s), v6(d), 64),
    };
    let mut tcp = builder.tcp(seg.src.port(), seg.dst.port(), seg.seq, 65_535);
    if seg.flags.syn {
        tcp = tcp.syn();
    }
    if seg.flags.ack {
        tcp = tcp.ack(seg.ack);
    }
    if seg.flags.fin {
        tcp = tcp.fin();
    }
    if seg.flags.rst {
        tcp = tcp.rst();
    }
    if !seg.payload.is_empty() {
        tcp = tcp.psh();
    }
    let mut out = Vec::with_capacity(seg.payload.len() + 60);
    // Writing into a Vec cannot fail for a well-formed builder.
    let _ = tcp.write(&mut out, seg.payload);
    out
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// Wraps an IP packet in the link-layer header of `link` (with `vlans` 802.1Q tags on
/// Ethernet). Unknown link types get the packet as is.
pub fn frame(link: u32, ip: &[u8], vlans: &[u16]) -> Vec<u8> {
    let v4 = ip.first().is_some_and(|b| b >> 4 == 4);
    let ethertype: u16 = if v4 { 0x0800 } else { 0x86dd };
    let mut f = Vec::with_capacity(ip.len() + 32);
    match link {
        linktype::ETHERNET => {
            f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
            for (i, id) in vlans.iter().enumerate() {
                // Outer tags are 802.1ad (QinQ), the innermost 802.1Q.
                let tpid: u16 = if i + 1 < vlans.len() { 0x88a8 } else { 0x8100 };
                f.extend_from_slice(&tpid.to_be_bytes());
                f.extend_from_slice(&(id & 0x0fff).to_be_bytes());
            }
            f.extend_from_slice(&ethertype.to_be_bytes());
        }
        linktype::NULL => f.extend_from_slice(&(if v4 { 2u32 } else { 30u32 }).to_le_bytes()),
        linktype::LOOP => f.extend_from_slice(&(if v4 { 2u32 } else { 24u32 }).to_be_bytes()),
        linktype::LINUX_SLL => {
            f.extend_from_slice(&[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
            f.extend_from_slice(&ethertype.to_be_bytes());
        }
        linktype::LINUX_SLL2 => {
            f.extend_from_slice(&ethertype.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        }
        linktype::NFLOG => {
            f.extend_from_slice(&[if v4 { 2 } else { 10 }, 0, 0, 0]);
            // A prefix attribute first (type 10, "dupcall\0"), as iptables' NFLOG writes.
            f.extend_from_slice(&12u16.to_le_bytes());
            f.extend_from_slice(&10u16.to_le_bytes());
            f.extend_from_slice(b"dupcall\0");
            f.extend_from_slice(&((ip.len() + 4) as u16).to_le_bytes());
            f.extend_from_slice(&9u16.to_le_bytes());
        }
        _ => {}
    }
    f.extend_from_slice(ip);
    if link == linktype::NFLOG {
        while f.len() % 4 != 0 {
            f.push(0);
        }
    }
    f
}

/// A scripted TCP connection: tracks sequence numbers so tests write `client(b"...")`.
pub struct Conversation {
    /// Client address.
    pub client: SocketAddr,
    /// Server address.
    pub server: SocketAddr,
    /// Next client sequence number.
    pub cseq: u32,
    /// Next server sequence number.
    pub sseq: u32,
}

impl Conversation {
    /// A conversation with the given initial sequence numbers.
    pub fn new(client: &str, server: &str, cisn: u32, sisn: u32) -> Self {
        Conversation {
            client: client.parse().expect("client address"),
            server: server.parse().expect("server address"),
            cseq: cisn,
            sseq: sisn,
        }
    }

    /// The three-way handshake.
    pub fn handshake(&mut self) -> Vec<Vec<u8>> {
        let syn = TcpFlags { syn: true, ..TcpFlags::default() };
        let synack = TcpFlags { syn: true, ack: true, ..TcpFlags::default() };
        let a = ip_packet(&self.seg(true, syn, b""));
        self.cseq = self.cseq.wrapping_add(1);
        let b = ip_packet(&self.seg(false, synack, b""));
        self.sseq = self.sseq.wrapping_add(1);
        let c = ip_packet(&self.seg(true, ack_only(), b""));
        vec![a, b, c]
    }

    /// A data segment from the client (`true`) or server, advancing its sequence.
    pub fn send(&mut self, from_client: bool, payload: &[u8]) -> Vec<u8> {
        let p = ip_packet(&self.seg(from_client, ack_only(), payload));
        self.advance(from_client, payload.len() as u32);
        p
    }

    /// Skips `n` bytes of one direction's sequence space (a segment that was never captured).
    pub fn advance(&mut self, from_client: bool, n: u32) {
        if from_client {
            self.cseq = self.cseq.wrapping_add(n);
        } else {
            self.sseq = self.sseq.wrapping_add(n);
        }
    }

    /// A FIN from one side.
    pub fn fin(&mut self, from_client: bool) -> Vec<u8> {
        let p =
            ip_packet(&self.seg(from_client, TcpFlags { fin: true, ack: true, ..TcpFlags::default() }, b""));
        self.advance(from_client, 1);
        p
    }

    /// A RST from one side.
    pub fn rst(&mut self, from_client: bool) -> Vec<u8> {
        ip_packet(&self.seg(from_client, TcpFlags { rst: true, ..TcpFlags::default() }, b""))
    }

    /// The segment as a description (for custom flags).
    pub fn seg<'a>(&self, from_client: bool, flags: TcpFlags, payload: &'a [u8]) -> Segment<'a> {
        let (src, dst, seq, ack) = if from_client {
            (self.client, self.server, self.cseq, self.sseq)
        } else {
            (self.server, self.client, self.sseq, self.cseq)
        };
        Segment { src, dst, seq, ack, flags, payload }
    }
}

fn ack_only() -> TcpFlags {
    TcpFlags { ack: true, ..TcpFlags::default() }
}
