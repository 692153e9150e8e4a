//! API keys: 256 random bits shown to their owner once, stored only as a SHA-256 digest.
//!
//! A slow password hash (argon2) would cost tens of milliseconds on every request; it buys
//! nothing for a uniformly random 256-bit secret, which no one can guess or brute-force from its
//! digest. Lookup is by digest, and the digest the database returns is compared again in
//! constant time so that no comparison in our code depends on the secret's bytes.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The length of a key as shown to its owner: 64 lower-case hex characters.
pub const KEY_LEN: usize = 64;

/// A freshly issued key: the secret to show once, and the digest to store.
pub struct IssuedKey {
    pub secret: String,
    pub hash: KeyHash,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey").finish_non_exhaustive()
    }
}

/// A key's digest, and its first [`PREFIX_LEN`] characters: kept beside the digest so that an
/// operator can name a key to revoke (`roster key revoke`). They are 32 of the key's 256 bits;
/// the other 224 stay out of reach of anyone who reads the database.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash(pub [u8; 32], [u8; PREFIX_LEN]);

/// How many of a key's first characters are kept to name it.
pub const PREFIX_LEN: usize = 8;

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

impl KeyHash {
    pub fn of(secret: &str) -> Self {
        let mut prefix = [0u8; PREFIX_LEN];
        let head = &secret.as_bytes()[..secret.len().min(PREFIX_LEN)];
        prefix[..head.len()].copy_from_slice(head);
        Self(Sha256::digest(secret.as_bytes()).into(), prefix)
    }

    /// A digest read back from the database (its key's first characters are not known).
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(digest, [0u8; PREFIX_LEN])
    }

    /// The key's first characters, as `roster key revoke` and `roster operator list` show them.
    pub fn prefix(&self) -> String {
        String::from_utf8_lossy(&self.1)
            .trim_end_matches('\0')
            .to_owned()
    }

    pub fn ct_eq(&self, other: &[u8]) -> bool {
        other.len() == 32 && bool::from(self.0.as_slice().ct_eq(other))
    }
}

pub fn issue() -> IssuedKey {
    let mut bytes = [0u8; 32];
    // ThreadRng is a CSPRNG seeded from the operating system.
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let hash = KeyHash::of(&secret);
    IssuedKey { secret, hash }
}

/// Where a stored key acts, and whether issuing it vouches for its holder's present address
/// (docs/SECURITY.md: proven and unproven keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyScope {
    /// `Some(team)`: an unproven key, acting in that team alone.
    pub confined_to: Option<uuid::Uuid>,
    pub vouches: bool,
}

impl KeyScope {
    /// Issued by an operator, through an invitation of the team that owns the address's
    /// domain, or by a token Roster mailed: acts wherever its holder is a member.
    pub const PROVEN: KeyScope = KeyScope {
        confined_to: None,
        vouches: true,
    };

    /// Issued by a token that went to an inviter whose team does not own the address.
    pub fn confined(team: uuid::Uuid) -> Self {
        KeyScope {
            confined_to: Some(team),
            vouches: false,
        }
    }

    /// A rotated key: acts where the old one did, and vouches for nothing new.
    pub fn rotated(confined_to: Option<uuid::Uuid>) -> Self {
        KeyScope {
            confined_to,
            vouches: false,
        }
    }
}

/// A credential that cannot be one of our keys is refused without touching the database.
pub fn looks_like_key(secret: &str) -> bool {
    secret.len() == KEY_LEN && secret.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_are_distinct_and_hash_to_their_digest() {
        let a = issue();
        let b = issue();
        assert_ne!(a.secret, b.secret);
        assert!(looks_like_key(&a.secret));
        assert_eq!(KeyHash::of(&a.secret), a.hash);
        assert!(a.hash.ct_eq(&KeyHash::of(&a.secret).0));
        assert!(!a.hash.ct_eq(&b.hash.0));
        assert!(!a.hash.ct_eq(&[0u8; 31]));
    }

    #[test]
    fn a_key_is_named_by_its_first_characters_only() {
        let a = issue();
        assert_eq!(a.hash.prefix(), a.secret[..PREFIX_LEN]);
        assert_eq!(KeyHash::of("abc").prefix(), "abc");
    }
}
