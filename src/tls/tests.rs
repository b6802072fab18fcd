use super::crypto::{self, HashAlg, RecordKeys, expand_label, suite};
use super::hello;
use super::keylog::{KeyLog, Secret, unhex};
use super::session::{Keys, Out, Session, Status, Why};
use super::*;

fn hx(s: &str) -> Vec<u8> {
    unhex(s.replace(' ', "").as_bytes()).expect("hex")
}

/// RFC 8448 section 3 (simple 1-RTT handshake, TLS_AES_128_GCM_SHA256): the traffic
/// secrets and the write keys and IVs expanded from them.
#[test]
fn rfc8448_traffic_keys() {
    let cases = [
        (
            "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38",
            "3fce516009c21727d0f2e4e86ee403bc",
            "5d313eb2671276ee13000b30",
        ),
        (
            "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21",
            "dbfaa693d1762c5b666af5d950258d01",
            "5bd3c71b836e0b76bb73265f",
        ),
        (
            "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643",
            "9f02283b6c9c07efc26bb9f2ac92e356",
            "cf782b88dd83549aadf1e984",
        ),
        (
            "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5",
            "17422dda596ed5d9acd890e3c63f5051",
            "5b78923dee08579033e523d9",
        ),
    ];
    for (secret, key, iv) in cases {
        let s = hx(secret);
        assert_eq!(expand_label(HashAlg::Sha256, &s, b"key", b"", 16).unwrap(), hx(key), "{secret}");
        assert_eq!(expand_label(HashAlg::Sha256, &s, b"iv", b"", 12).unwrap(), hx(iv), "{secret}");
    }
}

/// The TLS 1.2 PRF with SHA-256: the widely used test vector (IETF TLS list, 2009).
#[test]
fn tls12_prf_sha256_vector() {
    let secret = hx("9bbe436ba940f017b17652849a71db35");
    let seed = hx("a0ba9f936cda311827a6f796ffd5198c");
    let out = crypto::prf12(HashAlg::Sha256, &secret, b"test label", &seed, 100).unwrap();
    assert_eq!(
        out,
        hx(
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa0\
            22f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66"
        )
    );
}

#[test]
fn keylog_lines_endings_case_comments_and_bad_lines() {
    let r = "ab".repeat(32);
    let ms = "CD".repeat(48);
    let s32 = "0f".repeat(32);
    let text = format!(
        "# comment\r\nCLIENT_RANDOM {r} {ms}\rSERVER_HANDSHAKE_TRAFFIC_SECRET {} {s32}\n\nnot a line\nCLIENT_RANDOM {r} abc\n\
         EXPORTER_SECRET {r} {s32}\r\nCLIENT_TRAFFIC_SECRET_0 {} {s32}",
        r.to_uppercase(),
        r
    );
    let mut log = KeyLog::new();
    let rep = log.load(text.as_bytes());
    assert_eq!(rep.secrets, 3);
    assert_eq!(rep.bad, 2);
    assert_eq!(rep.ignored, 1);
    // Lines: 1 comment, 2 CLIENT_RANDOM, 3 SERVER_HS, 4 empty, 5 bad, 6 bad, 7 exporter, 8 app.
    assert_eq!(rep.bad_lines, vec![5, 6]);
    let random = [0xab; 32];
    assert_eq!(log.master_secret(&random).unwrap().bytes(), &[0xcd; 48][..]);
    let t = log.tls13(&random).unwrap();
    assert!(t.server_hs.is_some() && t.client_app.is_some() && t.client_hs.is_none());
    // Never the secret in Debug output or a warning.
    let shown = format!("{log:?} {:?} {}", t, rep.describe_bad("key log k").unwrap());
    assert!(!shown.to_lowercase().contains("cdcd") && !shown.contains("0f0f"), "{shown}");
    assert!(shown.contains("line 5, 6"), "{shown}");
}

fn record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

fn ext(ty: u16, body: &[u8]) -> Vec<u8> {
    let mut e = ty.to_be_bytes().to_vec();
    e.extend_from_slice(&(body.len() as u16).to_be_bytes());
    e.extend_from_slice(body);
    e
}

fn client_hello(random: [u8; 32]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&random);
    b.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    let name = b"api.example.com";
    let mut sni = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    let mut exts = ext(0, &sni);
    exts.extend(ext(43, &[2, 3, 4]));
    exts.extend(ext(16, &[0, 9, 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1']));
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend(exts);
    handshake(1, &b)
}

fn server_hello(suite_id: u16, tls13: bool) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0x55; 32]);
    b.push(0);
    b.extend_from_slice(&suite_id.to_be_bytes());
    b.push(0);
    let exts = if tls13 { ext(43, &[3, 4]) } else { Vec::new() };
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend(exts);
    handshake(2, &b)
}

#[test]
fn hellos_parse() {
    let ch = client_hello([7; 32]);
    let ch = hello::client_hello(&ch[4..]).unwrap();
    assert_eq!(ch.random, [7; 32]);
    assert_eq!(ch.sni.as_deref(), Some("api.example.com"));
    assert_eq!(ch.alpn, vec!["http/1.1".to_string()]);
    assert!(ch.offers_tls13);
    let sh = server_hello(0x1302, true);
    let sh = hello::server_hello(&sh[4..]).unwrap();
    assert_eq!((sh.version, sh.suite, sh.retry), (hello::TLS13, 0x1302, false));
    // Truncated bodies are errors, never panics.
    let full = client_hello([7; 32]);
    for n in 0..full.len() - 4 {
        let _ = hello::client_hello(&full[4..4 + n]);
    }
}

/// A TLS 1.3 sender: seals records the way a peer would (test only).
struct Sealer {
    keys: RecordKeys,
}

impl Sealer {
    fn seal(&mut self, inner_type: u8, plain: &[u8]) -> Vec<u8> {
        let mut body = plain.to_vec();
        body.push(inner_type);
        let len = body.len() + crypto::TAG;
        let header = [23, 3, 3, (len >> 8) as u8, len as u8];
        let sealed = self.keys.seal13(&header, &body);
        self.keys.seq += 1;
        let mut r = header.to_vec();
        r.extend(sealed);
        r
    }
}

/// A TLS 1.3 handshake: (key log, client hello flight, server flight, client Finished,
/// client and server application sealers).
type Tls13 = (KeyLog, Vec<u8>, Vec<u8>, Vec<u8>, Sealer, Sealer);

fn tls13_session(suite_id: u16) -> Tls13 {
    let s = suite(suite_id).unwrap();
    let n = s.hash.out_len();
    let random = [9u8; 32];
    let r = "09".repeat(32);
    let text = format!(
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {r} {}\n\
         CLIENT_TRAFFIC_SECRET_0 {r} {}\nSERVER_TRAFFIC_SECRET_0 {r} {}\n",
        "01".repeat(n),
        "02".repeat(n),
        "03".repeat(n),
        "04".repeat(n)
    );
    let mut log = KeyLog::new();
    log.load(text.as_bytes());
    let mk = |b: u8| RecordKeys::tls13(s, &Secret::new(&vec![b; n])).unwrap();
    let mut server_hs = Sealer { keys: mk(2) };
    let mut client_hs = Sealer { keys: mk(1) };
    let mut client = record(22, &client_hello(random));
    client.extend(record(20, &[1]));
    let fin = client_hs.seal(22, &handshake(20, &[0; 32]));
    let mut server = record(22, &server_hello(suite_id, true));
    server.extend(record(20, &[1]));
    let mut ee = handshake(8, &[0, 0]);
    ee.extend(handshake(20, &[0; 32]));
    server.extend(server_hs.seal(22, &ee));
    (log, client, server, fin, Sealer { keys: mk(3) }, Sealer { keys: mk(4) })
}

fn run(sess: &mut Session, log: &KeyLog, side: usize, bytes: &[u8]) -> (Vec<u8>, u64) {
    let empty = KeyLog::new();
    let keys = Keys { run: log, capture: &empty };
    let (mut plain, mut gaps) = (Vec::new(), 0);
    // Byte by byte: records split anywhere must still be read.
    for b in bytes.chunks(7) {
        sess.data(side, b, &keys, &mut |o| match o {
            Out::Plain(p) => plain.extend_from_slice(p),
            Out::Gap(n) => gaps += n,
        });
    }
    (plain, gaps)
}

#[test]
fn tls13_every_suite_decrypts_with_key_update_and_bad_record() {
    for id in [0x1301, 0x1302, 0x1303] {
        let (log, client, server, fin, mut capp, mut sapp) = tls13_session(id);
        let mut sess = Session::default();
        let mut c = fin.clone();
        c.extend(capp.seal(23, b"GET / HTTP/1.1\r\n\r\n"));
        let mut s = server.clone();
        s.extend(sapp.seal(23, b"HTTP/1.1 200 OK\r\n"));
        // A corrupt record: a gap, and the next record still decrypts.
        let mut bad = sapp.seal(23, b"lost bytes");
        let last = bad.len() - 1;
        bad[last] ^= 1;
        s.extend(bad);
        // KeyUpdate, then a record under the next secret.
        s.extend(sapp.seal(22, &handshake(24, &[0])));
        sapp.keys = sapp.keys.updated().unwrap();
        s.extend(sapp.seal(23, b"content-length: 0\r\n\r\n"));
        run(&mut sess, &log, 0, &client);
        let (sp, gaps) = run(&mut sess, &log, 1, &s);
        let (cp, _) = run(&mut sess, &log, 0, &c);
        assert_eq!(sess.status, Status::Decrypting, "suite {id:04x}");
        assert_eq!(cp, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(sp, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", "suite {id:04x}");
        assert_eq!(gaps, b"lost bytes".len() as u64);
        assert_eq!(sess.bad_records, 1);
        assert_eq!(sess.sni.as_deref(), Some("api.example.com"));
    }
}

#[test]
fn tls13_without_keys_or_handshake_or_with_wrong_keys() {
    let (log, client, server, _, _, mut sapp) = tls13_session(0x1301);
    // No keys.
    let mut sess = Session::default();
    run(&mut sess, &KeyLog::new(), 0, &client);
    run(&mut sess, &KeyLog::new(), 1, &server);
    assert_eq!(sess.status, Status::Failed(Why::NoKeys));
    // Mid-stream: application data first.
    let mut sess = Session::default();
    run(&mut sess, &log, 1, &sapp.seal(23, b"x"));
    assert_eq!(sess.status, Status::Failed(Why::MissingHandshake));
    // Wrong keys: the same randoms, other secrets.
    let text = format!("SERVER_HANDSHAKE_TRAFFIC_SECRET {} {}\n", "09".repeat(32), "77".repeat(32));
    let mut wrong = KeyLog::new();
    wrong.load(text.as_bytes());
    let mut sess = Session::default();
    run(&mut sess, &wrong, 0, &client);
    run(&mut sess, &wrong, 1, &server);
    assert!(matches!(sess.status, Status::Failed(_)), "{:?}", sess.status);
    // Truncated handshake: ClientHello only.
    let mut sess = Session::default();
    run(&mut sess, &log, 0, &client[..50]);
    sess.finish();
    assert_eq!(sess.status, Status::Failed(Why::MissingHandshake));
    let mut sess = Session::default();
    run(&mut sess, &log, 0, &client);
    sess.finish();
    assert_eq!(sess.status, Status::Failed(Why::HandshakeIncomplete));
}

#[test]
fn tls13_resyncs_after_a_tcp_gap() {
    let (log, client, server, _, _, mut sapp) = tls13_session(0x1301);
    let mut sess = Session::default();
    run(&mut sess, &log, 0, &client);
    run(&mut sess, &log, 1, &server);
    let lost: Vec<u8> = (0..5).flat_map(|i| sapp.seal(23, format!("lost {i}").as_bytes())).collect();
    let next = sapp.seal(23, b"after the gap");
    let mut gaps = 0;
    sess.gap(1, lost.len() as u64 - 3, &mut |o| {
        if let Out::Gap(n) = o {
            gaps += n
        }
    });
    // The capture resumes 3 bytes before the next record.
    let mut resumed = lost[lost.len() - 3..].to_vec();
    resumed.extend(&next);
    let (p, _) = run(&mut sess, &log, 1, &resumed);
    assert_eq!(p, b"after the gap");
    assert!(gaps > 0);
}

#[test]
fn wrapper_sniffs_tls_and_passes_plaintext_through() {
    assert!(looks_like_tls(&[22, 3, 1, 0, 5]));
    assert!(!looks_like_tls(b"GET / HTTP/1.1"));
    assert!(!looks_like_tls(b"HTTP/1.1 200 OK"));
    assert_eq!(handshake_type(&record(22, &client_hello([1; 32]))), Some(1));
}
