//! Email domains: normalisation (lower case, IDNA to ASCII) and the public mail providers that
//! no team may claim as its own.

/// Mail providers whose addresses belong to the public, not to one organization.
const PUBLIC_PROVIDERS: &[&str] = &[
    "126.com",
    "163.com",
    "aim.com",
    "aol.com",
    "fastmail.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hey.com",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.fr",
    "icloud.com",
    "live.com",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "outlook.com",
    "pm.me",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "rocketmail.com",
    "t-online.de",
    "tutanota.com",
    "web.de",
    "yahoo.co.jp",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.fr",
    "yandex.com",
    "yandex.ru",
    "ymail.com",
    "zoho.com",
];

/// The longest domain name DNS allows.
pub const MAX_DOMAIN_LEN: usize = 253;

/// The ASCII (IDNA) lower-case form of a domain name, or why it is not one.
pub fn normalize(domain: &str) -> Result<String, &'static str> {
    const INVALID: &str = "Enter a valid domain name, like example.com.";
    let domain = domain.trim().trim_end_matches('.');
    if domain.is_empty() || domain.len() > 4 * MAX_DOMAIN_LEN {
        return Err(INVALID);
    }
    let ascii = idna::domain_to_ascii_strict(domain).map_err(|_| INVALID)?;
    let labels_ok = ascii.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    // No top-level domain is all digits (RFC 3696 2), so that an IPv4 address (`127.0.0.1`)
    // is no domain a team can own.
    let numeric_top = ascii
        .rsplit('.')
        .next()
        .is_some_and(|top| top.bytes().all(|b| b.is_ascii_digit()));
    if !labels_ok || numeric_top || !ascii.contains('.') || ascii.len() > MAX_DOMAIN_LEN {
        return Err(INVALID);
    }
    Ok(ascii)
}

pub fn is_public_provider(normalized: &str) -> bool {
    PUBLIC_PROVIDERS.contains(&normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_trailing_dots_and_idna() {
        assert_eq!(normalize(" Example.COM. ").as_deref(), Ok("example.com"));
        assert_eq!(normalize("Bücher.de").as_deref(), Ok("xn--bcher-kva.de"));
        assert_eq!(
            normalize("xn--bcher-kva.de").as_deref(),
            Ok("xn--bcher-kva.de")
        );
        // A Cyrillic 'а' makes another domain than the Latin one it imitates.
        assert_eq!(
            normalize("\u{430}pple.com").as_deref(),
            Ok("xn--pple-43d.com")
        );
    }

    #[test]
    fn refuses_what_is_not_a_domain() {
        for bad in [
            "",
            "localhost",
            "a..b",
            "-a.com",
            "a-.com",
            "a b.com",
            "a/b.com",
            "a@b.com",
            "a_b.com",
            "127.0.0.1",
            "10.1.2.3.",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
        assert!(normalize(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn knows_public_providers() {
        assert!(is_public_provider("gmail.com"));
        assert!(!is_public_provider("acme.com"));
    }
}
