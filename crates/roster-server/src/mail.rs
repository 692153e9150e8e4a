//! Invitation emails (`--smtp-url`). When Roster mails an invitation's token itself, the inviter
//! never sees it, so whoever accepts it has shown they read that mailbox: the key it issues is
//! proven (docs/SECURITY.md). Without a mail server the token is handed to the inviter, and the
//! key it issues acts in the inviting team alone unless that team owns the email's domain.

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How long sending one email may take before the invitation is given up.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold the relay's password: never shown.
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// What an invitation email says.
pub struct Invitation<'a> {
    pub to: &'a str,
    pub team: &'a str,
    pub inviter: Option<&'a str>,
    pub token: &'a str,
    /// The absolute URL of `POST /api/invitations/accept/`.
    pub accept_url: &'a str,
}

impl Mailer {
    /// A mailer for `url` (`smtp://host:port` plain, `smtp://...?tls=required` STARTTLS,
    /// `smtps://host` TLS, with `user:password@` if the relay asks), sending as `from`.
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        refuse_plain_text_password(url)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("--smtp-url: {e}"))?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let from = from
            .parse()
            .map_err(|e| format!("--smtp-from {from:?}: {e}"))?;
        Ok(Mailer { transport, from })
    }

    pub async fn send_invitation(&self, invitation: &Invitation<'_>) -> Result<(), String> {
        let to: Mailbox = invitation
            .to
            .parse()
            .map_err(|e| format!("cannot mail {}: {e}", invitation.to))?;
        let by = invitation
            .inviter
            .map(|who| format!(" by {who}"))
            .unwrap_or_default();
        // Short lines, the token alone on one: mail encodings wrap long lines.
        let body = format!(
            "You have been invited{by} to join the team {team} on Roster.\n\n\
             Your invitation token, valid for 14 days:\n\n    {token}\n\n\
             To accept, send it to Roster, with your name:\n\n    POST {url}\n    \
             {{\"accept_token\": \"<the token>\", \"name\": \"<your name>\"}}\n\n\
             The answer holds your API key, shown once. If you have a key already,\n\
             sign in and accept from GET /api/invitations/me/ instead.\n\n\
             If you did not expect this, ignore this email.\n",
            team = invitation.team,
            url = invitation.accept_url,
            token = invitation.token,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("Your invitation to {} on Roster", invitation.team))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("cannot build the invitation email: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("the mail server refused the invitation email: {e}"))
    }
}

/// A relay's password is sent only over TLS: `smtps://`, or `smtp://` with `?tls=required`
/// (STARTTLS that cannot be stripped), or to a relay on this host. `?tls=opportunistic` is not
/// enough, since whoever sits on the path can answer that there is no STARTTLS.
fn refuse_plain_text_password(url: &str) -> Result<(), String> {
    let Ok(parsed) = url::Url::parse(url) else {
        // lettre says what is wrong with it, without the URL.
        return Ok(());
    };
    // Read as lettre reads it: the first `tls` parameter, exactly.
    let tls = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v);
    let tls_required = parsed.scheme() == "smtps" || tls.as_deref() == Some("required");
    // `smtp:` is no scheme the URL standard knows, so an address comes as an opaque host.
    let local = match parsed.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    // lettre sends credentials whenever the URL has a password, with or without a user name.
    if parsed.password().is_none() || tls_required || local {
        return Ok(());
    }
    Err(
        "--smtp-url would send its password without TLS: use smtps://, or smtp:// with \
         ?tls=required (STARTTLS), or a relay on this host"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_goes_only_over_tls_or_to_this_host() {
        for ok in [
            "smtp://relay.example.com:25",
            "smtps://user:pw@relay.example.com",
            "smtp://user:pw@relay.example.com:587?tls=required",
            "smtp://user:pw@127.0.0.1:2525",
            "smtp://user:pw@localhost",
            "smtp://user:pw@[::1]:25",
            "smtp://user@10.0.0.5:25",
        ] {
            assert!(super::refuse_plain_text_password(ok).is_ok(), "{ok}");
        }
        for refused in [
            "smtp://user:pw@relay.example.com",
            "smtp://user:pw@relay.example.com:587?tls=opportunistic",
            "smtp://user:pw@relay.example.com:587?tls=opportunistic&tls=required",
            "smtp://:pw@relay.example.com",
        ] {
            let why = super::refuse_plain_text_password(refused).expect_err(refused);
            assert!(!why.contains("pw"), "never echoes the password: {why}");
        }
    }
}
