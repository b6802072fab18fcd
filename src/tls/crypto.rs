//! TLS key schedules and record protection: secrets in, record decryptors out.
//!
//! Takes a cipher suite and the key-log secrets of a connection; gives per-direction
//! [`RecordKeys`] that open AEAD records in place. TLS 1.3 (RFC 8446 section 7):
//! `HKDF-Expand-Label(secret, "key"/"iv")`, nonce = iv XOR sequence number, KeyUpdate with
//! "traffic upd". TLS 1.2 (RFC 5246 section 6.3, RFC 5288, RFC 7905): the key block is
//! `PRF(master_secret, "key expansion", server_random + client_random)` with the suite's
//! hash; AES-GCM takes a 4-byte salt plus the record's explicit 8-byte nonce, ChaCha20-Poly1305
//! a 12-byte IV XOR the sequence number. Cryptography is RustCrypto's (`aes-gcm`,
//! `chacha20poly1305`, `hkdf`, `hmac`, `sha2`); only the framing around it is here.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

use crate::tls::keylog::Secret;

/// The hash of a suite's key schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

impl HashAlg {
    /// Output length in bytes.
    pub fn out_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }
}

/// The record cipher of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AeadAlg {
    /// AES-128-GCM.
    Aes128Gcm,
    /// AES-256-GCM.
    Aes256Gcm,
    /// ChaCha20-Poly1305.
    Chacha20Poly1305,
}

impl AeadAlg {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm => 16,
            _ => 32,
        }
    }

    /// The name used in warnings.
    pub fn name(self) -> &'static str {
        match self {
            AeadAlg::Aes128Gcm => "AES-128-GCM",
            AeadAlg::Aes256Gcm => "AES-256-GCM",
            AeadAlg::Chacha20Poly1305 => "CHACHA20-POLY1305",
        }
    }
}

/// A cipher suite this tool decrypts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    /// The IANA number.
    pub id: u16,
    /// A TLS 1.3 suite?
    pub tls13: bool,
    /// The record cipher.
    pub aead: AeadAlg,
    /// The key-schedule hash.
    pub hash: HashAlg,
}

/// The suite with IANA number `id`, if it is one decrypted here: the TLS 1.3 suites and
/// the TLS 1.2 AEAD suites (the key exchange does not matter once the master secret is known).
pub fn suite(id: u16) -> Option<Suite> {
    use AeadAlg::*;
    use HashAlg::*;
    let (tls13, aead, hash) = match id {
        0x1301 => (true, Aes128Gcm, Sha256),
        0x1302 => (true, Aes256Gcm, Sha384),
        0x1303 => (true, Chacha20Poly1305, Sha256),
        // (EC)DHE-ECDSA/RSA, DHE-RSA and RSA with AES-GCM.
        0xC02B | 0xC02F | 0x009E | 0x009C => (false, Aes128Gcm, Sha256),
        0xC02C | 0xC030 | 0x009F | 0x009D => (false, Aes256Gcm, Sha384),
        // ECDHE-RSA, ECDHE-ECDSA, DHE-RSA with ChaCha20-Poly1305.
        0xCCA8..=0xCCAA => (false, Chacha20Poly1305, Sha256),
        _ => return None,
    };
    Some(Suite { id, tls13, aead, hash })
}

/// `HKDF-Expand-Label(secret, label, context, len)` (RFC 8446 section 7.1).
pub fn expand_label(
    hash: HashAlg,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let mut out = vec![0u8; len];
    let info: [&[u8]; 6] = [
        &(len as u16).to_be_bytes(),
        &[(6 + label.len()) as u8],
        b"tls13 ",
        label,
        &[context.len() as u8],
        context,
    ];
    match hash {
        HashAlg::Sha256 => Hkdf::<Sha256>::from_prk(secret).ok()?.expand_multi_info(&info, &mut out).ok()?,
        HashAlg::Sha384 => Hkdf::<Sha384>::from_prk(secret).ok()?.expand_multi_info(&info, &mut out).ok()?,
    }
    Some(out)
}

fn p_hash<M: Mac + KeyInit + Clone>(secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) -> Option<()> {
    let base = <M as KeyInit>::new_from_slice(secret).ok()?;
    let mut a = {
        let mut m = base.clone();
        m.update(label);
        m.update(seed);
        m.finalize().into_bytes()
    };
    for block in out.chunks_mut(a.len()) {
        let mut m = base.clone();
        m.update(&a);
        m.update(label);
        m.update(seed);
        let b = m.finalize().into_bytes();
        block.copy_from_slice(&b[..block.len()]);
        let mut m = base.clone();
        m.update(&a);
        a = m.finalize().into_bytes();
    }
    Some(())
}

/// The TLS 1.2 PRF (RFC 5246 section 5) with the suite's hash.
pub fn prf12(hash: HashAlg, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; len];
    match hash {
        HashAlg::Sha256 => p_hash::<Hmac<Sha256>>(secret, label, seed, &mut out)?,
        HashAlg::Sha384 => p_hash::<Hmac<Sha384>>(secret, label, seed, &mut out)?,
    }
    Some(out)
}

enum Cipher {
    A128(Box<Aes128Gcm>),
    A256(Box<Aes256Gcm>),
    Chacha(Box<ChaCha20Poly1305>),
}

impl Cipher {
    fn new(aead: AeadAlg, key: &[u8]) -> Option<Cipher> {
        Some(match aead {
            AeadAlg::Aes128Gcm => Cipher::A128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            AeadAlg::Aes256Gcm => Cipher::A256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            AeadAlg::Chacha20Poly1305 => {
                Cipher::Chacha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
            }
        })
    }

    #[cfg(test)]
    fn seal(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        let nonce = nonce.into();
        let tag = match self {
            Cipher::A128(c) => c.encrypt_inout_detached(&nonce, aad, buf.into()),
            Cipher::A256(c) => c.encrypt_inout_detached(&nonce, aad, buf.into()),
            Cipher::Chacha(c) => c.encrypt_inout_detached(&nonce, aad, buf.into()),
        };
        tag.expect("sealing a small record").into()
    }

    fn open(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8], tag: [u8; 16]) -> bool {
        let (nonce, tag) = (nonce.into(), tag.into());
        match self {
            Cipher::A128(c) => c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag).is_ok(),
            Cipher::A256(c) => c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag).is_ok(),
            Cipher::Chacha(c) => c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag).is_ok(),
        }
    }
}

/// How records are framed around the AEAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// TLS 1.3: AAD = record header, inner content type at the end of the plaintext.
    Tls13,
    /// TLS 1.2 AES-GCM: 8-byte explicit nonce first, AAD = seq + type + version + length.
    Tls12Explicit,
    /// TLS 1.2 ChaCha20-Poly1305: IV XOR seq, same AAD.
    Tls12Xor,
}

/// One direction's record keys and sequence number.
pub struct RecordKeys {
    cipher: Cipher,
    iv: [u8; 12],
    framing: Framing,
    /// The next record's sequence number.
    pub seq: u64,
    /// TLS 1.3: the traffic secret (for KeyUpdate).
    secret: Option<Secret>,
    suite: Suite,
}

/// Bytes of AEAD tag.
pub const TAG: usize = 16;

impl RecordKeys {
    /// TLS 1.3 keys from a traffic secret.
    pub fn tls13(suite: Suite, secret: &Secret) -> Option<RecordKeys> {
        let s = secret.bytes();
        if s.len() != suite.hash.out_len() {
            return None;
        }
        let key = expand_label(suite.hash, s, b"key", b"", suite.aead.key_len())?;
        let iv: [u8; 12] = expand_label(suite.hash, s, b"iv", b"", 12)?.try_into().ok()?;
        Some(RecordKeys {
            cipher: Cipher::new(suite.aead, &key)?,
            iv,
            framing: Framing::Tls13,
            seq: 0,
            secret: Some(secret.clone()),
            suite,
        })
    }

    /// TLS 1.2 keys for both directions (client's, server's) from the master secret.
    pub fn tls12(
        suite: Suite,
        master: &Secret,
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Option<(RecordKeys, RecordKeys)> {
        let (klen, ivlen) = match suite.aead {
            AeadAlg::Chacha20Poly1305 => (32, 12),
            a => (a.key_len(), 4),
        };
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(server_random);
        seed[32..].copy_from_slice(client_random);
        let block = prf12(suite.hash, master.bytes(), b"key expansion", &seed, 2 * klen + 2 * ivlen)?;
        let (ck, rest) = block.split_at(klen);
        let (sk, rest) = rest.split_at(klen);
        let (civ, siv) = rest.split_at(ivlen);
        let framing = if ivlen == 4 { Framing::Tls12Explicit } else { Framing::Tls12Xor };
        let make = |key: &[u8], ivb: &[u8]| {
            let mut iv = [0u8; 12];
            iv[..ivb.len()].copy_from_slice(ivb);
            Some(RecordKeys {
                cipher: Cipher::new(suite.aead, key)?,
                iv,
                framing,
                seq: 0,
                secret: None,
                suite,
            })
        };
        Some((make(ck, civ)?, make(sk, siv)?))
    }

    /// TLS 1.3 KeyUpdate: the next traffic secret's keys, sequence reset to 0.
    pub fn updated(&self) -> Option<RecordKeys> {
        let s = self.secret.as_ref()?;
        let next = expand_label(self.suite.hash, s.bytes(), b"traffic upd", b"", self.suite.hash.out_len())?;
        RecordKeys::tls13(self.suite, &Secret::new(&next))
    }

    /// Seals a TLS 1.3 record body (inner plaintext with its type byte) at `self.seq` (tests).
    #[cfg(test)]
    pub fn seal13(&self, header: &[u8; 5], inner: &[u8]) -> Vec<u8> {
        let mut buf = inner.to_vec();
        let tag = self.cipher.seal(self.xor_nonce(self.seq), header, &mut buf);
        buf.extend_from_slice(&tag);
        buf
    }

    fn xor_nonce(&self, seq: u64) -> [u8; 12] {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
            *b ^= s;
        }
        n
    }

    /// Opens the record `header` (5 bytes) + `body` with sequence number `seq`, in place.
    /// Returns the plaintext's range in `body` and its content type (TLS 1.3: the inner
    /// type, padding removed), or `None` when it does not authenticate.
    pub fn open_at(
        &self,
        seq: u64,
        header: &[u8; 5],
        body: &mut [u8],
    ) -> Option<(std::ops::Range<usize>, u8)> {
        let explicit = if self.framing == Framing::Tls12Explicit { 8 } else { 0 };
        if body.len() < explicit + TAG {
            return None;
        }
        let split = body.len() - TAG;
        let tag: [u8; 16] = body[split..].try_into().ok()?;
        let nonce = match self.framing {
            Framing::Tls12Explicit => {
                let mut n = self.iv;
                n[4..].copy_from_slice(&body[..8]);
                n
            }
            _ => self.xor_nonce(seq),
        };
        let (ok, start) = if self.framing == Framing::Tls13 {
            (self.cipher.open(nonce, header, &mut body[..split], tag), 0)
        } else {
            let plain_len = (split - explicit) as u16;
            let mut aad = [0u8; 13];
            aad[..8].copy_from_slice(&seq.to_be_bytes());
            aad[8..11].copy_from_slice(&header[..3]);
            aad[11..].copy_from_slice(&plain_len.to_be_bytes());
            (self.cipher.open(nonce, &aad, &mut body[explicit..split], tag), explicit)
        };
        if !ok {
            return None;
        }
        if self.framing != Framing::Tls13 {
            return Some((start..split, header[0]));
        }
        // TLSInnerPlaintext: content, type, zero padding.
        let end = body[..split].iter().rposition(|&b| b != 0)?;
        Some((0..end, body[end]))
    }
}
