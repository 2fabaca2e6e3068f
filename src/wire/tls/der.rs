//! Just enough DER to explain a refused certificate in words: the size of an RSA key, the
//! name of a signature algorithm, and whether a file is DER or PEM. rustls reports these
//! cases as `BadSignature` or a dump of OID bytes; an administrator needs "1024-bit RSA key"
//! and "sha1WithRSAEncryption". Only reading, never trusting: every function answers `None`
//! on input it does not understand.

/// One DER element: its tag and its contents; the rest of the input follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;

/// rsaEncryption, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The bit length of the certificate's RSA public key; `None` for other key types.
pub fn rsa_key_bits(cert_der: &[u8]) -> Option<usize> {
    let (SEQUENCE, cert, _) = element(cert_der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == VERSION {
        rest = after;
    }
    // serial, signature, issuer, validity, subject
    for _ in 0..5 {
        rest = element(rest)?.2;
    }
    let (SEQUENCE, spki, _) = element(rest)? else {
        return None;
    };
    let (SEQUENCE, algorithm, after) = element(spki)? else {
        return None;
    };
    let (OID, oid, _) = element(algorithm)? else {
        return None;
    };
    if oid != RSA_ENCRYPTION {
        return None;
    }
    let (BIT_STRING, key, _) = element(after)? else {
        return None;
    };
    let (SEQUENCE, rsa, _) = element(key.get(1..)?)? else {
        return None;
    };
    let (INTEGER, modulus, _) = element(rsa)? else {
        return None;
    };
    let significant = modulus.iter().position(|b| *b != 0)?;
    let modulus = &modulus[significant..];
    Some(modulus.len() * 8 - modulus[0].leading_zeros() as usize)
}

/// The signature algorithm the certificate is signed with, by name.
pub fn signature_algorithm(cert_der: &[u8]) -> Option<String> {
    let (SEQUENCE, cert, _) = element(cert_der)? else {
        return None;
    };
    let (_, _, rest) = element(cert)?;
    let (SEQUENCE, algorithm, _) = element(rest)? else {
        return None;
    };
    algorithm_name(algorithm)
}

/// Names an AlgorithmIdentifier's contents (the OID and its parameters, as rustls reports
/// them): the usual name for the algorithms certificates are refused for, else the dotted OID.
pub fn algorithm_name(algorithm_identifier: &[u8]) -> Option<String> {
    let (OID, oid, _) = element(algorithm_identifier)? else {
        return None;
    };
    const PKCS1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];
    const DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04];
    let named = match oid {
        [p @ .., 0x02] if p == PKCS1 => "md2WithRSAEncryption",
        [p @ .., 0x04] if p == PKCS1 => "md5WithRSAEncryption",
        [p @ .., 0x05] if p == PKCS1 => "sha1WithRSAEncryption (SHA-1)",
        [p @ .., 0x0b] if p == PKCS1 => "sha256WithRSAEncryption",
        [p @ .., 0x0e] if p == PKCS1 => "sha224WithRSAEncryption",
        [p @ .., 0x01] if p == ECDSA => "ecdsa-with-SHA1 (SHA-1)",
        [p @ .., 0x03, 0x01] if p == ECDSA => "ecdsa-with-SHA224",
        [p @ .., 0x03] if p == DSA => "dsa-with-sha1 (SHA-1)",
        _ => return Some(dotted(oid)),
    };
    Some(named.to_string())
}

fn dotted(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut value = 0u64;
    for (i, b) in oid.iter().enumerate() {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = if i == 0 { (value / 40).min(2) } else { 2 };
                parts.push(first);
                parts.push(value - first * 40);
            } else {
                parts.push(value);
            }
            value = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether `data` looks like one DER certificate (a SEQUENCE spanning the whole file) rather
/// than PEM text.
pub fn is_der_certificate(data: &[u8]) -> bool {
    matches!(element(data), Some((SEQUENCE, _, rest)) if rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        rcgen::CertificateParams::new(vec!["ipo.example".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec()
    }

    #[test]
    fn names_signature_algorithms() {
        let ec = cert_with(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert_eq!(
            signature_algorithm(&ec).as_deref(),
            Some("1.2.840.10045.4.3.2")
        );
        assert_eq!(rsa_key_bits(&ec), None);
        let sha1_rsa = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ];
        assert_eq!(
            algorithm_name(&sha1_rsa).as_deref(),
            Some("sha1WithRSAEncryption (SHA-1)")
        );
        let sha1_ec = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
        assert_eq!(
            algorithm_name(&sha1_ec).as_deref(),
            Some("ecdsa-with-SHA1 (SHA-1)")
        );
        assert_eq!(algorithm_name(b"junk"), None);
    }

    #[test]
    fn tells_der_from_pem() {
        let der = cert_with(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(is_der_certificate(&der));
        assert!(!is_der_certificate(b"-----BEGIN CERTIFICATE-----\n"));
        assert!(!is_der_certificate(&der[..der.len() - 1]));
    }

    #[test]
    fn reads_rsa_key_sizes_from_real_certificates() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        for (file, bits) in [("rsa1024-sha256.der", 1024), ("sha1-signed.der", 2048)] {
            let der = std::fs::read(dir.join(file)).unwrap();
            assert_eq!(rsa_key_bits(&der), Some(bits), "{file}");
        }
        let sha1 = std::fs::read(dir.join("sha1-signed.der")).unwrap();
        assert_eq!(
            signature_algorithm(&sha1).as_deref(),
            Some("sha1WithRSAEncryption (SHA-1)")
        );
    }

    #[test]
    fn garbage_is_not_understood() {
        for junk in [&b""[..], b"\x30", b"\x30\x85\x00", b"\x30\x03\x02\x01"] {
            assert_eq!(rsa_key_bits(junk), None);
            assert_eq!(signature_algorithm(junk), None);
        }
    }
}
