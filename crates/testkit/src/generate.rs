//! A deterministic generator of large, realistic API captures, for benchmarks.
//!
//! Takes a target size and a seed; gives a classic pcap of PowerJob-OpenAPI-shaped traffic:
//! many keep-alive connections interleaved, MSS-sized segments with ACKs, JSON and form
//! request bodies, JSON responses (some chunked, some gzip-compressed), and about one
//! mutation in ten repeated the way the PowerJob 5.1.0 client does (response without the
//! verdict header → `authApp` → the same call again). The same seed gives the same bytes.

use std::io::{self, Write};

use crate::synth::{Conversation, PcapWriter, frame};
use dupcall::capture::linktype;
use dupcall::exchange::Timestamp;

/// Generator settings.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Stop once this many bytes were written.
    pub size: u64,
    /// Keep-alive connections in use at once.
    pub conns: usize,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions { size: 100 << 20, conns: 64, seed: 1 }
    }
}

/// What was generated.
#[derive(Clone, Copy, Debug, Default)]
pub struct GenStats {
    /// Packets written.
    pub packets: u64,
    /// Exchanges written.
    pub exchanges: u64,
    /// Refresh-retry patterns written.
    pub retries: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const MSS: usize = 1448;
const MUTATIONS: [&str; 6] = ["saveJob", "runJob", "disableJob", "enableJob", "stopInstance", "runWorkflow"];
const READS: [&str; 4] = ["fetchJob", "fetchInstanceInfo", "queryJob", "fetchWorkflow"];

struct Conn {
    c: Conversation,
    app: u32,
    token: u32,
    sent: u32,
}

/// Counts bytes passing through.
struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(b)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a capture of about `opts.size` bytes to `out`.
pub fn generate<W: Write>(out: W, opts: &GenOptions) -> io::Result<GenStats> {
    let mut rng = Rng(opts.seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut w = PcapWriter::new(Counting { inner: out, n: 0 }, linktype::ETHERNET, false)?;
    let mut stats = GenStats::default();
    let mut ts: i64 = 1_732_000_000_000_000_000;
    let gz = gzip_bodies();
    let mut conns: Vec<Conn> = Vec::new();
    let mut next_port = 20_000u32;
    let mut new_conn = |rng: &mut Rng,
                        w: &mut PcapWriter<Counting<W>>,
                        ts: &mut i64,
                        stats: &mut GenStats|
     -> io::Result<Conn> {
        next_port += 1;
        let host = rng.below(200) + 10;
        let client = format!("10.1.{}.{}:{}", host / 250, host % 250 + 1, 1024 + next_port % 60_000);
        let mut c = Conversation::new(&client, "10.0.0.9:7700", rng.next() as u32, rng.next() as u32);
        for p in c.handshake() {
            write_packet(w, ts, &p, stats)?;
        }
        Ok(Conn { c, app: (host % 7) as u32 + 1, token: rng.next() as u32, sent: 0 })
    };
    while w_len(&w) < opts.size {
        if conns.len() < opts.conns {
            let c = new_conn(&mut rng, &mut w, &mut ts, &mut stats)?;
            conns.push(c);
            continue;
        }
        let i = rng.below(conns.len() as u64) as usize;
        let conn = &mut conns[i];
        let retry = rng.below(10) == 0;
        let mutation = rng.below(3) != 0;
        let name = if mutation {
            MUTATIONS[rng.below(MUTATIONS.len() as u64) as usize]
        } else {
            READS[rng.below(READS.len() as u64) as usize]
        };
        let job = rng.below(100_000);
        let req = request(conn, name, job, &mut rng);
        let marker = !retry || !mutation;
        let resp = response(&mut rng, &gz, marker, job);
        exchange(&mut w, conn, &req, &resp, &mut ts, &mut stats)?;
        if retry && mutation {
            // The 5.1.0 client: no verdict header, so authApp and the same call again.
            let auth = auth_request(conn);
            conn.token = rng.next() as u32;
            let auth_resp = auth_response(conn);
            exchange(&mut w, conn, &auth, &auth_resp, &mut ts, &mut stats)?;
            let again = request_with_body(conn, name, &req.1);
            let resp = response(&mut rng, &gz, false, job + 1);
            exchange(&mut w, conn, &again, &resp, &mut ts, &mut stats)?;
            stats.retries += 1;
        }
        conn.sent += 1;
        if conn.sent > 200 + rng.below(300) as u32 {
            // Close and replace: FIN both ways.
            let mut c = conns.swap_remove(i);
            let f1 = c.c.fin(true);
            write_packet(&mut w, &mut ts, &f1, &mut stats)?;
            let f2 = c.c.fin(false);
            write_packet(&mut w, &mut ts, &f2, &mut stats)?;
        }
    }
    stats.bytes = w_len(&w);
    w.into_inner().inner.flush()?;
    Ok(stats)
}

fn w_len<W: Write>(w: &PcapWriter<Counting<W>>) -> u64 {
    w.inner_ref().n
}

fn write_packet<W: Write>(
    w: &mut PcapWriter<W>,
    ts: &mut i64,
    ip: &[u8],
    stats: &mut GenStats,
) -> io::Result<()> {
    *ts += 37_000;
    let f = frame(linktype::ETHERNET, ip, &[]);
    stats.packets += 1;
    w.packet(Timestamp(*ts), &f, f.len() as u32)
}

/// Sends `data` from one side in MSS-sized segments, with an ACK from the other side every
/// two segments.
fn send<W: Write>(
    w: &mut PcapWriter<W>,
    conn: &mut Conn,
    from_client: bool,
    data: &[u8],
    ts: &mut i64,
    stats: &mut GenStats,
) -> io::Result<()> {
    for (k, chunk) in data.chunks(MSS).enumerate() {
        let p = conn.c.send(from_client, chunk);
        write_packet(w, ts, &p, stats)?;
        if k % 2 == 1 {
            let ack = conn.c.send(!from_client, b"");
            write_packet(w, ts, &ack, stats)?;
        }
    }
    Ok(())
}

fn exchange<W: Write>(
    w: &mut PcapWriter<W>,
    conn: &mut Conn,
    req: &(Vec<u8>, Vec<u8>),
    resp: &[u8],
    ts: &mut i64,
    stats: &mut GenStats,
) -> io::Result<()> {
    let mut wire = req.0.clone();
    wire.extend_from_slice(&req.1);
    send(w, conn, true, &wire, ts, stats)?;
    send(w, conn, false, resp, ts, stats)?;
    let ack = conn.c.send(true, b"");
    write_packet(w, ts, &ack, stats)?;
    stats.exchanges += 1;
    Ok(())
}

fn headers(conn: &Conn, path: &str, ctype: &str, len: usize) -> Vec<u8> {
    format!(
        "POST /openApi/{path} HTTP/1.1\r\nX-POWERJOB-APP-ID: {}\r\nX-POWERJOB-ACCESS-TOKEN: eyJhbGciOiJIUzI1NiJ9.eyJhcHBJZCI6{:08x}.c2lnbmF0dXJlc2lnbmF0dXJl\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\nHost: 10.0.0.9:7700\r\nConnection: Keep-Alive\r\nAccept-Encoding: gzip\r\nUser-Agent: okhttp/3.14.9\r\n\r\n",
        conn.app, conn.token
    )
    .into_bytes()
}

fn request(conn: &Conn, name: &str, job: u64, rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let body = if name == "saveJob" || name == "queryJob" {
        let params: String = (0..rng.below(40)).map(|i| format!("\"p{i}\":\"value-{i}\",")).collect();
        format!(
            "{{\"appId\":{},\"jobName\":\"job-{job}\",\"jobDescription\":\"generated\",{params}\"timeExpressionType\":\"CRON\",\"timeExpression\":\"0 0/5 * * * ?\",\"executeType\":\"STANDALONE\",\"processorType\":\"BUILT_IN\",\"processorInfo\":\"tech.powerjob.samples.Processor\",\"maxInstanceNum\":1,\"concurrency\":5,\"enable\":true}}",
            conn.app
        )
        .into_bytes()
    } else {
        format!("jobId={job}&appId={}&delay=0&instanceParams=x{}", conn.app, rng.below(1000)).into_bytes()
    };
    request_with_body(conn, name, &body)
}

fn request_with_body(conn: &Conn, name: &str, body: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let ctype = if body.first() == Some(&b'{') {
        "application/json; charset=utf-8"
    } else {
        "application/x-www-form-urlencoded"
    };
    (headers(conn, name, ctype, body.len()), body.to_vec())
}

fn auth_request(conn: &Conn) -> (Vec<u8>, Vec<u8>) {
    let body = b"{\"appName\":\"generated-app\",\"encryptedPassword\":\"5f4dcc3b5aa765d61d8327deb882cf99\",\"encryptType\":\"md5\"}".to_vec();
    (headers(conn, "authApp", "application/json; charset=utf-8", body.len()), body)
}

fn auth_response(conn: &Conn) -> Vec<u8> {
    let body = format!(
        "{{\"success\":true,\"data\":{{\"appId\":{},\"token\":\"eyJhbGciOiJIUzI1NiJ9.eyJhcHBJZCI6{:08x}.c2lnbmF0dXJlc2lnbmF0dXJl\",\"extra\":null}},\"message\":null,\"code\":null}}",
        conn.app, conn.token
    );
    let mut r = format!("HTTP/1.1 200 \r\nContent-Type: application/json\r\nContent-Length: {}\r\nDate: Mon, 25 Nov 2024 10:00:00 GMT\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

/// Precomputed gzip bodies (compressing per exchange would make generation slow).
fn gzip_bodies() -> Vec<Vec<u8>> {
    (0..8)
        .map(|i| {
            let json: String = (0..50 + i * 40)
                .map(|k| format!("{{\"instanceId\":{k},\"status\":\"SUCCEED\",\"result\":\"ok\"}},"))
                .collect();
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(
                format!("{{\"success\":true,\"data\":[{}]}}", json.trim_end_matches(',')).as_bytes(),
            );
            e.finish().unwrap_or_default()
        })
        .collect()
}

fn response(rng: &mut Rng, gz: &[Vec<u8>], marker: bool, id: u64) -> Vec<u8> {
    let marker = if marker { "X-POWERJOB-AUTH-PASSED: true\r\n" } else { "" };
    let base = "HTTP/1.1 200 \r\nVary: Origin\r\nContent-Type: application/json\r\nDate: Mon, 25 Nov 2024 10:00:00 GMT\r\nKeep-Alive: timeout=60\r\nConnection: keep-alive\r\n";
    match rng.below(10) {
        0..=1 => {
            let body = &gz[rng.below(gz.len() as u64) as usize];
            let mut r =
                format!("{base}{marker}Content-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", body.len())
                    .into_bytes();
            r.extend_from_slice(body);
            r
        }
        2..=4 => {
            let body = format!(
                "{{\"success\":true,\"data\":{{\"id\":{id},\"status\":\"RUNNING\",\"items\":[{}]}},\"message\":null}}",
                "1,".repeat(rng.below(300) as usize + 1).trim_end_matches(',')
            );
            let mut r = format!("{base}{marker}Transfer-Encoding: chunked\r\n\r\n").into_bytes();
            for part in body.as_bytes().chunks(512) {
                r.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                r.extend_from_slice(part);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
            r
        }
        _ => {
            let body = format!("{{\"success\":true,\"data\":{id},\"message\":null}}");
            let mut r = format!("{base}{marker}Content-Length: {}\r\n\r\n", body.len()).into_bytes();
            r.extend_from_slice(body.as_bytes());
            r
        }
    }
}
