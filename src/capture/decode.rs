//! Packet decoding: a [`Frame`] in, a [`TcpSegment`] (or why not) out.
//!
//! Takes the captured bytes and the interface's link type; strips the link layer
//! (Ethernet, Linux SLL and SLL2, BSD NULL/LOOP, raw IP, NFLOG) and the encapsulations
//! under it ([`encap`](crate::capture::encap): VLAN tags, MPLS, PPPoE, GRE/ERSPAN, VXLAN,
//! Geneve, IP-in-IP), and hands the innermost IP packet to etherparse's lax slicer (IPv4,
//! IPv6 with extension headers, TCP).
//! Gives a segment that borrows its payload from the frame, plus how many payload bytes the
//! snapshot length cut off (they become a gap in reassembly). Pure: no state, no allocation.

use std::net::{IpAddr, SocketAddr};

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::capture::defrag::Fragment;
use crate::capture::encap::{self, Path, Stop, Undecoded};
use crate::capture::{Frame, linktype};

/// TCP flags we act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// ACK (the acknowledgment number is valid).
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// One TCP segment, payload borrowed from the frame.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte (or of the SYN/FIN).
    pub seq: u32,
    /// Acknowledgment number (valid when `flags.ack`).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// The captured payload.
    pub payload: &'a [u8],
    /// Payload bytes sent but not captured (cut by the snapshot length).
    pub missing: u32,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// Something else (UDP, ARP, ICMP...): ignored.
    Other,
    /// An IP fragment, for [`Defrag`](crate::capture::defrag::Defrag).
    Fragment(Fragment<'a>),
    /// A link type we do not decode.
    UnsupportedLink(u32),
    /// An encapsulation or protocol under the link layer that is not decoded.
    Undecoded(Undecoded),
    /// Headers that could not be decoded (too short, bad values).
    Malformed(&'static str),
}

/// Decodes one frame.
pub fn decode<'a>(frame: &Frame<'a>) -> Decoded<'a> {
    decode_path(frame, &mut Path::default())
}

/// Decodes one frame, recording in `path` the encapsulations it went through.
pub fn decode_path<'a>(frame: &Frame<'a>, path: &mut Path) -> Decoded<'a> {
    let data = frame.data;
    let inner = match frame.linktype {
        linktype::ETHERNET => encap::ethernet(path, data),
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 | linktype::IPV4 | linktype::IPV6 => {
            encap::ip(path, data)
        }
        linktype::NULL | linktype::LOOP => match data.get(4..) {
            Some(rest) => encap::ip(path, rest),
            None => return Decoded::Malformed("short loopback header"),
        },
        linktype::LINUX_SLL => match (data.get(14..16), data.get(16..)) {
            (Some(p), Some(rest)) => encap::ether_payload(path, u16::from_be_bytes([p[0], p[1]]), rest),
            _ => return Decoded::Malformed("short SLL header"),
        },
        linktype::LINUX_SLL2 => match (data.get(0..2), data.get(20..)) {
            (Some(p), Some(rest)) => encap::ether_payload(path, u16::from_be_bytes([p[0], p[1]]), rest),
            _ => return Decoded::Malformed("short SLL2 header"),
        },
        linktype::NFLOG => match nflog_payload(data) {
            Some(rest) => encap::ip(path, rest),
            None => return Decoded::Other,
        },
        other => return Decoded::UnsupportedLink(other),
    };
    match inner {
        Ok(sliced) => tcp_of(&sliced, data, frame.origlen),
        Err(Stop::NotTcp) => Decoded::Other,
        Err(Stop::Undecoded(u)) => Decoded::Undecoded(u),
        Err(Stop::Malformed(why)) => Decoded::Malformed(why),
    }
}

/// The IP packet inside an NFLOG record (TLV attribute NFULA_PAYLOAD = 9).
fn nflog_payload(data: &[u8]) -> Option<&[u8]> {
    let mut rest = data.get(4..)?; // family, version, resource id
    while rest.len() >= 4 {
        // TLV lengths are in host byte order; captures are almost always little-endian.
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_le_bytes([rest[2], rest[3]]) & 0x7fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == 9 {
            return rest.get(4..len);
        }
        let padded = (len + 3) & !3;
        rest = rest.get(padded.min(rest.len())..)?;
    }
    None
}

/// The fragment a fragmented IP packet carries.
fn fragment_of<'a>(net: &LaxNetSlice<'a>, src: IpAddr, dst: IpAddr) -> Option<Fragment<'a>> {
    match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            Some(Fragment {
                src,
                dst,
                id: h.identification() as u32,
                proto: v4.payload().ip_number.0,
                offset: h.fragments_offset().byte_offset() as usize,
                more: h.more_fragments(),
                payload: v4.payload().payload,
            })
        }
        LaxNetSlice::Ipv6(v6) => {
            let frag = v6.extensions().clone().into_iter().find_map(|e| match e {
                etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f),
                _ => None,
            })?;
            Some(Fragment {
                src,
                dst,
                id: frag.identification(),
                proto: v6.payload().ip_number.0,
                offset: frag.fragment_offset().byte_offset() as usize,
                more: frag.more_fragments(),
                payload: v6.payload().payload,
            })
        }
        LaxNetSlice::Arp(_) => None,
    }
}

fn tcp_of<'a>(p: &LaxSlicedPacket<'a>, frame: &'a [u8], origlen: u32) -> Decoded<'a> {
    let Some(net) = &p.net else {
        return Decoded::Other;
    };
    let (src, dst, ip_start, declared_end, fragmented) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let start = h.slice().as_ptr() as usize;
            let end = start + h.total_len() as usize;
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                start,
                end,
                v4.is_payload_fragmented(),
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let start = h.slice().as_ptr() as usize;
            let end = start + 40 + h.payload_length() as usize;
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                start,
                end,
                v6.is_payload_fragmented(),
            )
        }
        LaxNetSlice::Arp(_) => return Decoded::Other,
    };
    if fragmented {
        return match fragment_of(net, src, dst) {
            Some(f) => Decoded::Fragment(f),
            None => Decoded::Malformed("IP fragment header unreadable"),
        };
    }
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        if net.ip_payload_ref().is_some_and(|p| p.ip_number == etherparse::IpNumber::TCP) {
            return Decoded::Malformed("TCP header cut short or invalid");
        }
        return Decoded::Other;
    };
    let payload = tcp.payload();
    let frame_end = frame.as_ptr() as usize + frame.len();
    // Bytes the IP header says were sent beyond what was captured. When the IP length is
    // unusable (0 with TSO) fall back to the frame's wire length.
    let mut missing = declared_end.saturating_sub(frame_end);
    if declared_end < ip_start + 20 {
        missing = (origlen as usize).saturating_sub(frame.len());
    }
    Decoded::Tcp(TcpSegment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags { syn: tcp.syn(), ack: tcp.ack(), fin: tcp.fin(), rst: tcp.rst() },
        payload,
        missing: missing.min(u32::MAX as usize) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Timestamp;
    use etherparse::PacketBuilder;

    fn tcp_v4(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(40000, 80, 1000, 512).ack(77).psh();
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn frame(linktype: u32, data: &[u8]) -> Frame<'_> {
        Frame { number: 1, ts: Timestamp(0), linktype, origlen: data.len() as u32, data }
    }

    fn expect_tcp<'a>(d: Decoded<'a>) -> TcpSegment<'a> {
        match d {
            Decoded::Tcp(s) => s,
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    #[test]
    fn raw_ipv4() {
        let pkt = tcp_v4(b"GET / HTTP/1.1\r\n\r\n");
        let s = expect_tcp(decode(&frame(linktype::RAW, &pkt)));
        assert_eq!(s.src, "10.0.0.1:40000".parse().unwrap());
        assert_eq!(s.dst, "10.0.0.2:80".parse().unwrap());
        assert_eq!(s.seq, 1000);
        assert_eq!(s.ack, 77);
        assert!(s.flags.ack && !s.flags.syn);
        assert_eq!(s.payload, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(s.missing, 0);
    }

    #[test]
    fn every_link_type() {
        let ip = tcp_v4(b"hello");
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0, 5, 0x88, 0xa8, 0, 6, 0x81, 0x00, 0, 7, 0x08, 0x00]);
        eth.extend_from_slice(&ip);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ip);
        let mut nflog = vec![2, 0, 0, 0];
        nflog.extend_from_slice(&8u16.to_le_bytes()); // a 4-byte attribute before the payload
        nflog.extend_from_slice(&1u16.to_le_bytes());
        nflog.extend_from_slice(&[0, 0, 0, 0]);
        nflog.extend_from_slice(&((ip.len() + 4) as u16).to_le_bytes());
        nflog.extend_from_slice(&9u16.to_le_bytes());
        nflog.extend_from_slice(&ip);
        for (lt, data) in [
            (linktype::ETHERNET, &eth),
            (linktype::NULL, &null),
            (linktype::LOOP, &null),
            (linktype::LINUX_SLL, &sll),
            (linktype::LINUX_SLL2, &sll2),
            (linktype::NFLOG, &nflog),
            (linktype::IPV4, &ip),
        ] {
            let s = expect_tcp(decode(&frame(lt, data)));
            assert_eq!(s.payload, b"hello", "link type {lt}");
        }
        assert!(matches!(decode(&frame(147, &ip)), Decoded::UnsupportedLink(147)));
    }

    #[test]
    fn ipv6_with_extension_header() {
        let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4);
        let mut pkt = Vec::new();
        b.write(&mut pkt, b"x").unwrap();
        // Insert a hop-by-hop header: next header TCP (6), length 0 (8 bytes).
        pkt[6] = 0; // next header = hop-by-hop
        let payload_len = u16::from_be_bytes([pkt[4], pkt[5]]) + 8;
        pkt[4..6].copy_from_slice(&payload_len.to_be_bytes());
        pkt.splice(40..40, [6u8, 0, 0, 0, 0, 0, 0, 0]);
        let s = expect_tcp(decode(&frame(linktype::RAW, &pkt)));
        assert_eq!(s.payload, b"x");
        assert!(s.src.is_ipv6());
    }

    #[test]
    fn snaplen_cut_reports_missing_bytes() {
        let pkt = tcp_v4(&[b'a'; 100]);
        let cut = &pkt[..pkt.len() - 60];
        let mut f = frame(linktype::RAW, cut);
        f.origlen = pkt.len() as u32;
        let s = expect_tcp(decode(&f));
        assert_eq!(s.payload.len(), 40);
        assert_eq!(s.missing, 60);
    }

    #[test]
    fn junk_is_not_tcp() {
        assert!(matches!(decode(&frame(linktype::RAW, b"")), Decoded::Other));
        assert!(matches!(decode(&frame(linktype::ETHERNET, b"abc")), Decoded::Malformed(_)));
        let pkt = tcp_v4(b"x");
        assert!(matches!(decode(&frame(linktype::RAW, &pkt[..30])), Decoded::Malformed(_)));
    }
}
