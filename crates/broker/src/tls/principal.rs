//! The mTLS principal: a client certificate's subject written as Kafka's default principal
//! builder writes it (`ssl.principal.mapping.rules=DEFAULT`): Java's
//! `X500Principal.getName()`, the RFC 2253 form, so `User:CN=alice,O=ringlog tests,C=NO`.
//!
//! RFC 2253 as Java writes it:
//! - RDNs in reverse order of the certificate's encoding (the last one first), joined by `,`;
//!   the values of a multi-valued RDN in encoded order, joined by `+`.
//! - Keywords only for CN, C, L, ST, O, OU, STREET, DC and UID; any other type is its dotted
//!   OID (`1.2.840.113549.1.9.1` for emailAddress) with the value as `#` and the lowercase hex of
//!   its whole DER encoding. So is a value whose type is not a string (PrintableString,
//!   T61String, IA5String, GeneralString, BMPString, UTF8String).
//! - In string values each of `, = + < > # ; " \` is escaped with `\`, a NUL is written `\00`,
//!   and leading and trailing spaces (and CRs) are escaped with `\`. The value bytes are read
//!   as UTF-8 whatever the string type (as Java does).
//!
//! The certificate has already been verified by rustls (webpki) when this runs; the DER reader
//! is still bounded and total on any input: it returns an error, never panics.
//!
//! ```text
//!  Certificate  SEQUENCE { tbsCertificate SEQUENCE {
//!     [0] version OPTIONAL, serialNumber INTEGER, signature SEQUENCE, issuer Name,
//!     validity SEQUENCE, subject Name, ... } ... }
//!  Name  SEQUENCE OF RDN;  RDN  SET OF SEQUENCE { type OBJECT IDENTIFIER, value ANY }
//! ```

use std::fmt::Write as _;

use crate::auth::Principal;

/// Most RDNs read from one subject (a real one has fewer than 10).
pub const SUBJECT_RDNS_MAX: usize = 64;
/// Most attribute values in one RDN.
pub const RDN_VALUES_MAX: usize = 16;
/// Most arcs of one OID.
pub const OID_ARCS_MAX: usize = 32;

/// Why a certificate's subject could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerError(pub String);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "certificate subject: {}", self.0)
    }
}

impl std::error::Error for DerError {}

const TAG_INTEGER: u8 = 0x02;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_VERSION: u8 = 0xa0;
/// String types Java writes as text in RFC 2253.
const STRING_TAGS: [u8; 6] = [0x13, 0x14, 0x16, 0x1b, 0x1e, 0x0c];

/// The principal of a TLS connection: `User:<subject DN>` for a client certificate,
/// `User:ANONYMOUS` without one (Kafka's `DefaultKafkaPrincipalBuilder`).
pub fn principal_of(peer_leaf_cert: Option<&[u8]>) -> Result<Principal, DerError> {
    match peer_leaf_cert {
        None => Ok(Principal::user(crate::auth::ANONYMOUS)),
        Some(der) => Ok(Principal::user(&subject_rfc2253(der)?)),
    }
}

/// The subject of a DER certificate in Java's RFC 2253 form.
pub fn subject_rfc2253(cert_der: &[u8]) -> Result<String, DerError> {
    let mut cert = Der::new(cert_der);
    let mut cert = cert.expect(TAG_SEQUENCE, "Certificate")?;
    let mut tbs = cert.expect(TAG_SEQUENCE, "tbsCertificate")?;
    if tbs.peek_tag() == Some(TAG_VERSION) {
        tbs.next()?;
    }
    tbs.expect(TAG_INTEGER, "serialNumber")?;
    tbs.expect(TAG_SEQUENCE, "signature")?;
    tbs.expect(TAG_SEQUENCE, "issuer")?;
    tbs.expect(TAG_SEQUENCE, "validity")?;
    let subject = tbs.expect(TAG_SEQUENCE, "subject")?;
    name_rfc2253(subject)
}

/// A Name (the contents of its SEQUENCE) in RFC 2253 form.
fn name_rfc2253(mut name: Der<'_>) -> Result<String, DerError> {
    let mut rdns = Vec::new();
    while !name.is_empty() {
        if rdns.len() == SUBJECT_RDNS_MAX {
            return Err(DerError(format!("more than {SUBJECT_RDNS_MAX} RDNs")));
        }
        let mut set = name.expect(TAG_SET, "RDN")?;
        let mut values = Vec::new();
        while !set.is_empty() {
            if values.len() == RDN_VALUES_MAX {
                return Err(DerError(format!(
                    "more than {RDN_VALUES_MAX} values in an RDN"
                )));
            }
            let mut atv = set.expect(TAG_SEQUENCE, "AttributeTypeAndValue")?;
            let oid = atv.expect(TAG_OID, "attribute type")?;
            let oid = oid_dotted(oid.rest)?;
            let value = atv.next_tlv()?;
            values.push(attribute_rfc2253(&oid, value));
        }
        rdns.push(values.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

/// Java's RFC 2253 keyword of an attribute type.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// One `type=value` (`value` is the whole TLV).
fn attribute_rfc2253(oid: &str, value: Tlv<'_>) -> String {
    let mut out = String::new();
    let kw = keyword(oid);
    out.push_str(kw.unwrap_or(oid));
    out.push('=');
    if kw.is_none() || !STRING_TAGS.contains(&value.tag) {
        out.push('#');
        for b in value.whole {
            let _ = write!(out, "{b:02x}");
        }
        return out;
    }
    let text = String::from_utf8_lossy(value.contents);
    let mut escaped: Vec<char> = Vec::with_capacity(text.len());
    for c in text.chars() {
        if ",=+<>#;\"\\".contains(c) {
            escaped.push('\\');
            escaped.push(c);
        } else if c == '\0' {
            escaped.extend(['\\', '0', '0']);
        } else {
            escaped.push(c);
        }
    }
    // Leading and trailing spaces (and CRs) of the escaped text get a backslash each.
    let is_ws = |c: char| c == ' ' || c == '\r';
    let lead = escaped.iter().take_while(|c| is_ws(**c)).count();
    let trail_start = escaped.len() - escaped.iter().rev().take_while(|c| is_ws(**c)).count();
    for (i, c) in escaped.iter().enumerate() {
        if i < lead || i >= trail_start.max(lead) {
            out.push('\\');
        }
        out.push(*c);
    }
    out
}

/// An OBJECT IDENTIFIER's contents as dotted decimal.
fn oid_dotted(bytes: &[u8]) -> Result<String, DerError> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &b in bytes {
        if value > (u64::MAX >> 7) {
            return Err(DerError("OID arc too large".into()));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        in_arc = true;
        if b & 0x80 == 0 {
            if arcs.len() == OID_ARCS_MAX {
                return Err(DerError(format!("OID with more than {OID_ARCS_MAX} arcs")));
            }
            arcs.push(value);
            value = 0;
            in_arc = false;
        }
    }
    if in_arc || arcs.is_empty() {
        return Err(DerError("truncated OID".into()));
    }
    let first = arcs[0];
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        let _ = write!(out, ".{arc}");
    }
    Ok(out)
}

/// One TLV: its tag, its contents and the whole encoding.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    contents: &'a [u8],
    whole: &'a [u8],
}

/// A cursor over DER: definite lengths only (as DER requires), single-byte tags.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Der<'a> {
        Der { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn next_tlv(&mut self) -> Result<Tlv<'a>, DerError> {
        let short = || DerError("truncated".into());
        let tag = *self.rest.first().ok_or_else(short)?;
        if tag & 0x1f == 0x1f {
            return Err(DerError(
                "multi-byte tags are not used in certificate names".into(),
            ));
        }
        let first = *self.rest.get(1).ok_or_else(short)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            // 0x80 is BER's indefinite length; more than 4 bytes is no certificate.
            if n == 0 || n > 4 {
                return Err(DerError(format!("unsupported length form 0x{first:02x}")));
            }
            let bytes = self.rest.get(2..2 + n).ok_or_else(short)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + n)
        };
        let end = header.checked_add(len).ok_or_else(short)?;
        let whole = self.rest.get(..end).ok_or_else(short)?;
        self.rest = &self.rest[end..];
        Ok(Tlv {
            tag,
            contents: &whole[header..],
            whole,
        })
    }

    fn next(&mut self) -> Result<Der<'a>, DerError> {
        Ok(Der::new(self.next_tlv()?.contents))
    }

    fn expect(&mut self, tag: u8, what: &str) -> Result<Der<'a>, DerError> {
        let tlv = self.next_tlv()?;
        if tlv.tag != tag {
            return Err(DerError(format!(
                "{what}: tag 0x{:02x}, expected 0x{tag:02x}",
                tlv.tag
            )));
        }
        Ok(Der::new(tlv.contents))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER TLV with a short or long length.
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if contents.len() < 0x80 {
            out.push(contents.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(contents.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(contents);
        out
    }

    fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut c = tlv(TAG_OID, oid);
        c.extend(tlv(tag, value));
        tlv(TAG_SEQUENCE, &c)
    }

    fn name(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut c = Vec::new();
        for rdn in rdns {
            c.extend(tlv(TAG_SET, &rdn.concat()));
        }
        c
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const C: &[u8] = &[0x55, 0x04, 0x06];
    const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
    const UTF8: u8 = 0x0c;
    const PRINTABLE: u8 = 0x13;

    #[test]
    fn rdns_come_out_last_first_with_java_keywords() {
        let n = name(&[
            vec![atv(C, PRINTABLE, b"NO")],
            vec![atv(O, UTF8, b"ringlog tests")],
            vec![atv(CN, UTF8, b"alice")],
        ]);
        assert_eq!(
            name_rfc2253(Der::new(&n)).unwrap(),
            "CN=alice,O=ringlog tests,C=NO"
        );
    }

    #[test]
    fn special_characters_are_escaped_as_java_does() {
        let n = name(&[vec![atv(CN, UTF8, b"a,b=c+d<e>f#g;h\"i\\j")]]);
        assert_eq!(
            name_rfc2253(Der::new(&n)).unwrap(),
            "CN=a\\,b\\=c\\+d\\<e\\>f\\#g\\;h\\\"i\\\\j"
        );
        let n = name(&[vec![atv(CN, UTF8, b"  x y ")]]);
        assert_eq!(name_rfc2253(Der::new(&n)).unwrap(), "CN=\\ \\ x y\\ ");
        let n = name(&[vec![atv(CN, UTF8, b"a\0b")]]);
        assert_eq!(name_rfc2253(Der::new(&n)).unwrap(), "CN=a\\00b");
        let n = name(&[vec![atv(CN, UTF8, "Åse".as_bytes())]]);
        assert_eq!(name_rfc2253(Der::new(&n)).unwrap(), "CN=Åse");
    }

    #[test]
    fn unknown_types_and_non_strings_are_hex() {
        let n = name(&[vec![atv(EMAIL, 0x16, b"a@b")], vec![atv(CN, 0x04, b"\x01")]]);
        assert_eq!(
            name_rfc2253(Der::new(&n)).unwrap(),
            "CN=#040101,1.2.840.113549.1.9.1=#1603614062"
        );
    }

    #[test]
    fn multi_valued_rdns_join_with_plus() {
        let n = name(&[vec![atv(CN, UTF8, b"a"), atv(O, UTF8, b"b")]]);
        assert_eq!(name_rfc2253(Der::new(&n)).unwrap(), "CN=a+O=b");
        assert_eq!(name_rfc2253(Der::new(&[])).unwrap(), "");
    }

    #[test]
    fn the_client_certificate_gives_kafkas_principal() {
        let pki = super::super::test_certs::TestPki::new();
        let der = pki.client_cert_der();
        assert_eq!(
            subject_rfc2253(&der).unwrap(),
            super::super::test_certs::CLIENT_DN
        );
        let p = principal_of(Some(&der)).unwrap();
        assert_eq!(p.to_string(), "User:CN=alice,O=ringlog tests,C=NO");
        assert_eq!(principal_of(None).unwrap().to_string(), "User:ANONYMOUS");
        // Every truncation of a real certificate is an error, never a panic.
        for end in 0..der.len() {
            let _ = subject_rfc2253(&der[..end]);
        }
    }

    #[test]
    fn bounds_are_enforced() {
        let many: Vec<Vec<Vec<u8>>> = (0..=SUBJECT_RDNS_MAX)
            .map(|_| vec![atv(CN, UTF8, b"x")])
            .collect();
        let n = name(&many);
        assert!(name_rfc2253(Der::new(&n)).unwrap_err().0.contains("RDNs"));
        let at_max: Vec<Vec<Vec<u8>>> = (0..SUBJECT_RDNS_MAX)
            .map(|_| vec![atv(CN, UTF8, b"x")])
            .collect();
        assert!(name_rfc2253(Der::new(&name(&at_max))).is_ok());
        let wide = name(&[(0..=RDN_VALUES_MAX).map(|_| atv(CN, UTF8, b"x")).collect()]);
        assert!(name_rfc2253(Der::new(&wide)).is_err());
        let long_oid = vec![0x81u8; 12];
        assert!(
            oid_dotted(&long_oid).is_err(),
            "unterminated / oversized arc"
        );
        let arcs = vec![0x01u8; OID_ARCS_MAX + 1];
        assert!(oid_dotted(&arcs).unwrap_err().0.contains("arcs"));
        assert_eq!(oid_dotted(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
        assert!(
            Der::new(&[0x30, 0x80]).next_tlv().is_err(),
            "indefinite length"
        );
        assert!(Der::new(&[0x30, 0x85, 1, 1, 1, 1, 1]).next_tlv().is_err());
        assert!(Der::new(&[0x1f, 0x01, 0x00]).next_tlv().is_err());
    }
}
