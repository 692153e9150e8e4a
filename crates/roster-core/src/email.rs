//! Email addresses: validation and the case-folded form under which they are unique and sorted.

/// The longest address we accept (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// The comparison key of an email: emails are stored as given but compared case-insensitively.
pub fn normalize(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks the shape of an address: one `@`, a non-empty local part, a domain of dot-separated
/// labels, no spaces or control characters. Deliverability is not our business.
pub fn validate(email: &str) -> Result<(), &'static str> {
    const INVALID: &str = "Enter a valid email address.";
    if email.len() > MAX_EMAIL_LEN {
        return Err("Ensure this field has no more than 254 characters.");
    }
    let (local, domain) = email.rsplit_once('@').ok_or(INVALID)?;
    if local.is_empty() || local.len() > 64 || domain.is_empty() {
        return Err(INVALID);
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) || local.contains('@') {
        return Err(INVALID);
    }
    // The local part is a dot-atom (RFC 5322), as Django's validator takes it, letters of any
    // script included: no `<`, `>`, quotes, brackets, commas or empty atoms.
    let atom = |a: &str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
    };
    if !local.split('.').all(atom) {
        return Err(INVALID);
    }
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    if !labels_ok || !domain.contains('.') {
        return Err(INVALID);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_local_parts_that_are_not_dot_atoms() {
        for bad in [
            "<script>@acme.test",
            "a,b@acme.test",
            "\"quoted\"@acme.test",
            ".ann@acme.test",
            "ann.@acme.test",
            "a..b@acme.test",
            "a(b)@acme.test",
        ] {
            assert_eq!(validate(bad), Err("Enter a valid email address."), "{bad}");
        }
        assert_eq!(validate("o'brien+x@acme.test"), Ok(()));
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@example.com",
            "First.Last+tag@sub.example.co.uk",
            "ü@bücher.de",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@-x.com",
            "a@x..com",
            "a@ex_ample.com",
            "a\0@example.com",
            "a@b@example.com",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        assert!(validate(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn normalizes_case() {
        assert_eq!(normalize(" Ann@Example.COM "), "ann@example.com");
    }
}
