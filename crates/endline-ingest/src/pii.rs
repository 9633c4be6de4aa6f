//! Personal data: what counts as it beyond `pii: true` questions, and the pseudonyms that
//! replace a personal survey key outside the PII side tables.
//!
//! A survey key flagged `pii: true` (a phone number, a national ID) is replaced in every
//! analysis table, in `ingest.json` and in the rejects by `P` followed by 20 hex digits of
//! HMAC-SHA256(secret, key): the same household gets the same pseudonym in every wave
//! ingested with the same secret, and without the secret the key cannot be recovered by
//! trying candidate keys, as it could from a plain hash. The mapping lives only in the PII
//! side table (`_key_clear` beside the pseudonym).

use std::io::{Read as _, Write as _};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::IngestError;

/// Platform metadata that identify people or devices (by their last `-`/`/` segment):
/// kept only in the PII side tables. A survey adds its own with `pii_metadata:`.
pub const IDENTIFYING_METADATA: &[&str] = &[
    // ODK Central: the instance name (often the respondent's name and village), who
    // submitted, from which device.
    "instanceName",
    "SubmitterID",
    "SubmitterName",
    "DeviceID",
    // ODK/XLSForm metadata questions.
    "deviceid",
    "username",
    "phonenumber",
    "simserial",
    "subscriberid",
    "email",
    "start-geopoint",
    // KoboToolbox.
    "_geolocation",
    "_submitted_by",
    "_notes",
    "_attachments",
    "_validation_status",
];

/// Whether metadata column `column` identifies people or devices, by endline's list or the
/// survey's `pii_metadata:` (matched whole or by the last `-`/`/` segment).
pub fn is_identifying(column: &str, declared: &[String]) -> bool {
    let last = column.rsplit(['-', '/']).next().unwrap_or(column);
    let listed = |name: &str| name == column || name == last;
    IDENTIFYING_METADATA.iter().any(|m| listed(m) || column.ends_with(m)) || declared.iter().any(|m| listed(m))
}

/// Pseudonyms of a personal survey key, keyed by a secret.
#[derive(Clone)]
pub struct Pseudonyms {
    /// The HMAC key block: the secret, hashed if longer than a block, zero-padded.
    block: [u8; 64],
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(secret withheld)")
    }
}

impl Pseudonyms {
    /// Pseudonyms keyed by `secret` (any length; at least 16 bytes is wise).
    pub fn new(secret: &[u8]) -> Self {
        let mut block = [0u8; 64];
        if secret.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(secret));
        } else {
            block[..secret.len()].copy_from_slice(secret);
        }
        Pseudonyms { block }
    }

    /// HMAC-SHA256 of `message` (RFC 2104).
    fn mac(&self, message: &[u8]) -> [u8; 32] {
        let pad = |x: u8| self.block.map(|b| b ^ x);
        let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
        Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
    }

    /// The pseudonym of `key`: `P` and 20 hex digits (80 bits).
    pub fn of(&self, key: &str) -> String {
        let mut s = String::with_capacity(21);
        s.push('P');
        for b in &self.mac(key.as_bytes())[..10] {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
        }
        s
    }
}

/// Reads the pseudonym secret kept in `path`, creating the file with 32 random bytes (as
/// hex, readable by its owner only) when `create` is set and it does not exist.
pub fn secret_file(path: &Path, create: bool) -> Result<Pseudonyms, IngestError> {
    let shown = path.display();
    if create && std::fs::symlink_metadata(path).is_err() {
        let mut random = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut random))
            .map_err(|e| IngestError::Io(format!("cannot make a random secret for {shown}: {e}")))?;
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(path)
            .and_then(|mut f| f.write_all(format!("{hex}\n").as_bytes()))
            .map_err(|e| IngestError::Io(format!("cannot create the secret file {shown}: {e}")))?;
    }
    let text =
        std::fs::read(path).map_err(|e| IngestError::Usage(format!("cannot read the secret file {shown}: {e}")))?;
    let secret = text.trim_ascii();
    if secret.len() < 16 {
        return Err(IngestError::Usage(format!(
            "the secret file {shown} holds {} bytes: a pseudonym secret needs at least 16 (delete it to have endline \
             make a new one, before any wave is ingested with it)",
            secret.len()
        )));
    }
    Ok(Pseudonyms::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// RFC 4231's HMAC-SHA256 test cases 1, 2 and 6 (a key longer than a block).
    #[test]
    fn hmac_matches_rfc_4231() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, expected) in cases {
            assert_eq!(hex(&Pseudonyms::new(key).mac(data)), expected);
        }
    }

    #[test]
    fn pseudonyms_are_stable_and_depend_on_the_secret() {
        let (a, b) = (Pseudonyms::new(b"study secret one"), Pseudonyms::new(b"study secret two"));
        assert_eq!(a.of("13800138000"), a.of("13800138000"));
        assert_ne!(a.of("13800138000"), b.of("13800138000"));
        assert_ne!(a.of("13800138000"), a.of("13800138001"));
        let p = a.of("13800138000");
        assert!(p.len() == 21 && p.starts_with('P') && p[1..].chars().all(|c| c.is_ascii_hexdigit()), "{p}");
        assert!(!format!("{a:?}").contains("study"));
    }

    #[test]
    fn identifying_metadata_by_name_or_last_segment() {
        for c in
            ["meta-instanceName", "meta/instanceName", "SubmitterName", "_geolocation", "_submitted_by", "deviceid"]
        {
            assert!(is_identifying(c, &[]), "{c}");
        }
        for c in ["KEY", "PARENT_KEY", "SubmissionDate", "meta-instanceID", "_uuid", "_index", "start", "end"] {
            assert!(!is_identifying(c, &[]), "{c}");
        }
        assert!(is_identifying("meta-enumerator_phone", &["enumerator_phone".into()]));
    }

    #[test]
    fn a_secret_file_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("endline-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("study.key");
        assert!(secret_file(&path, false).is_err(), "not made unless asked");
        let a = secret_file(&path, true).unwrap_or_else(|e| panic!("{e}"));
        let b = secret_file(&path, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.of("x"), b.of("x"), "the second call reads the first one's secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
        std::fs::write(&path, "short").unwrap_or_else(|e| panic!("{e}"));
        let e = secret_file(&path, true).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("at least 16"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
