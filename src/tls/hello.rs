//! Handshake messages: ClientHello, ServerHello and EncryptedExtensions bodies in, the few
//! fields decryption needs out (randoms, version, cipher suite, ALPN, SNI).
//!
//! Hand-parsed (RFC 8446 section 4.1, RFC 6066 section 3, RFC 7301): a bounds-checked
//! cursor, `None` on any malformed length, never a panic.

/// A bounds-checked reader over a handshake body.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn random(&mut self) -> Option<[u8; 32]> {
        self.take(32)?.try_into().ok()
    }
}

/// Extension numbers used here.
const EXT_SNI: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// TLS 1.2 and 1.3 on the wire.
pub const TLS12: u16 = 0x0303;
/// TLS 1.3.
pub const TLS13: u16 = 0x0304;

/// The ServerHello random that marks a HelloRetryRequest (RFC 8446 section 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2,
    0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// What a ClientHello says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The client random (the key log's key).
    pub random: [u8; 32],
    /// The server name (SNI), if sent and valid UTF-8.
    pub sni: Option<String>,
    /// Protocols offered by ALPN.
    pub alpn: Vec<String>,
    /// Offers TLS 1.3 (supported_versions lists 0x0304)?
    pub offers_tls13: bool,
}

/// What a ServerHello says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// The server random.
    pub random: [u8; 32],
    /// The negotiated version (supported_versions if present, else legacy_version).
    pub version: u16,
    /// The chosen cipher suite.
    pub suite: u16,
    /// The protocol chosen by ALPN (TLS 1.2; TLS 1.3 sends it in EncryptedExtensions).
    pub alpn: Option<String>,
    /// A HelloRetryRequest (another ClientHello and ServerHello follow)?
    pub retry: bool,
}

/// Walks an extensions block, calling `f(type, body)`.
fn extensions<'a>(c: &mut Cur<'a>, mut f: impl FnMut(u16, &'a [u8]) -> Option<()>) -> Option<()> {
    if c.0.is_empty() {
        return Some(());
    }
    let mut e = Cur(c.vec16()?);
    while !e.0.is_empty() {
        let ty = e.u16()?;
        let body = e.vec16()?;
        f(ty, body)?;
    }
    Some(())
}

fn alpn_list(body: &[u8]) -> Option<Vec<String>> {
    let mut c = Cur(body);
    let mut l = Cur(c.vec16()?);
    let mut out = Vec::new();
    while !l.0.is_empty() {
        let p = l.vec8()?;
        if out.len() < 16 {
            out.push(String::from_utf8_lossy(p).into_owned());
        }
    }
    Some(out)
}

fn sni(body: &[u8]) -> Option<String> {
    let mut c = Cur(body);
    let mut l = Cur(c.vec16()?);
    while !l.0.is_empty() {
        let ty = l.u8()?;
        let name = l.vec16()?;
        if ty == 0 {
            let s = std::str::from_utf8(name).ok()?;
            // A host name: keep it printable (it goes into warnings).
            if s.bytes().all(|b| b.is_ascii_graphic()) && s.len() <= 255 {
                return Some(s.to_ascii_lowercase());
            }
            return None;
        }
    }
    None
}

/// Parses a ClientHello body (after the 4-byte handshake header).
pub fn client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut c = Cur(body);
    c.u16()?;
    let mut ch = ClientHello { random: c.random()?, ..ClientHello::default() };
    c.vec8()?;
    c.vec16()?;
    c.vec8()?;
    extensions(&mut c, |ty, b| {
        match ty {
            EXT_SNI => ch.sni = sni(b),
            EXT_ALPN => ch.alpn = alpn_list(b).unwrap_or_default(),
            EXT_SUPPORTED_VERSIONS => {
                let list = Cur(b).vec8().unwrap_or_default();
                ch.offers_tls13 = list.chunks_exact(2).any(|v| v == [0x03, 0x04]);
            }
            _ => {}
        }
        Some(())
    })?;
    Some(ch)
}

/// Parses a ServerHello body (after the 4-byte handshake header).
pub fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut c = Cur(body);
    let legacy = c.u16()?;
    let random = c.random()?;
    c.vec8()?;
    let suite = c.u16()?;
    c.u8()?;
    let mut sh = ServerHello { random, version: legacy, suite, alpn: None, retry: random == HRR_RANDOM };
    extensions(&mut c, |ty, b| {
        match ty {
            EXT_SUPPORTED_VERSIONS if b.len() == 2 => sh.version = u16::from_be_bytes([b[0], b[1]]),
            EXT_ALPN => sh.alpn = alpn_list(b).and_then(|l| l.into_iter().next()),
            _ => {}
        }
        Some(())
    })?;
    Some(sh)
}

/// The ALPN protocol of a TLS 1.3 EncryptedExtensions body, if any.
pub fn encrypted_extensions_alpn(body: &[u8]) -> Option<String> {
    let mut c = Cur(body);
    let mut alpn = None;
    extensions(&mut c, |ty, b| {
        if ty == EXT_ALPN {
            alpn = alpn_list(b).and_then(|l| l.into_iter().next());
        }
        Some(())
    })?;
    alpn
}
