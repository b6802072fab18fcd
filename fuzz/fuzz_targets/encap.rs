//! The encapsulation decoder and fragment reassembly on one frame's bytes: the first byte
//! picks the link type, the rest is the frame; decoded, and every fragment fed to one
//! reassembly table (the input is also cut in pieces, each a frame, so fragments meet).
//! Must never panic, and the table must stay within its caps.
#![no_main]

use dupcall::capture::decode::{Decoded, decode_path};
use dupcall::capture::defrag::{Defrag, MAX_DATAGRAMS};
use dupcall::capture::encap::Path;
use dupcall::capture::{Frame, linktype};
use dupcall::diag::Diagnostics;
use dupcall::exchange::Timestamp;
use libfuzzer_sys::fuzz_target;

const LINKS: [u32; 6] = [
    linktype::ETHERNET,
    linktype::RAW,
    linktype::LINUX_SLL,
    linktype::LINUX_SLL2,
    linktype::NULL,
    linktype::NFLOG,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let link = LINKS[pick as usize % LINKS.len()];
    let mut defrag = Defrag::default();
    let mut diag = Diagnostics::default();
    // The whole input as one frame, then cut at every 0xff byte into several frames.
    let frames = std::iter::once(rest).chain(rest.split(|&b| b == 0xff));
    for (i, bytes) in frames.enumerate() {
        let frame = Frame {
            number: i as u64 + 1,
            ts: Timestamp(i as i64),
            linktype: link,
            origlen: bytes.len() as u32,
            data: bytes,
        };
        let mut path = Path::default();
        if let Decoded::Fragment(f) = decode_path(&frame, &mut path) {
            if let Some(whole) = defrag.add(&f, frame.ts, frame.number, 0, &mut diag) {
                let again =
                    Frame { data: &whole, origlen: whole.len() as u32, linktype: linktype::RAW, ..frame };
                let _ = decode_path(&again, &mut path);
            }
        }
    }
    assert!(defrag.stats().datagrams + defrag.stats().dropped <= defrag.stats().fragments);
    let _ = MAX_DATAGRAMS;
    defrag.finish(0, &mut diag);
});
