//! Invitations that Roster mails itself (`--smtp-url`, issue 17 point 1b): the inviter never
//! sees the token, so the key it issues is proven; an email that cannot be sent keeps nothing.
//! Against a small SMTP sink on this machine.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Origin;
use roster_core::{Clock, Role, SystemClock};
use roster_server::mail::Mailer;
use roster_server::state::HttpConfig;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// An SMTP server that keeps every message's text, or (while `refuse` holds) refuses every
/// recipient.
async fn sink(refuse: Arc<AtomicBool>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let messages = kept.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let messages = messages.clone();
            let refuse = refuse.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.to_ascii_uppercase();
                    let answer: &[u8] = if verb.starts_with("EHLO") || verb.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if verb.starts_with("RCPT") && refuse {
                        b"550 no such mailbox\r\n"
                    } else if verb.starts_with("DATA") {
                        write.write_all(b"354 go on\r\n").await.unwrap();
                        let mut text = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            text.push_str(&l);
                            text.push('\n');
                        }
                        messages.lock().unwrap().push(text);
                        b"250 kept\r\n"
                    } else if verb.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, kept)
}

/// The token an invitation email holds, alone on its line.
fn mailed_token(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("the token in the email")
        .to_owned()
}

async fn mailing_app(port: u16) -> TestApp {
    let config = HttpConfig {
        public_url: Some("https://roster.example".into()),
        ..HttpConfig::default()
    };
    let mailer = Mailer::new(
        &format!("smtp://127.0.0.1:{port}"),
        "Roster <roster@roster.example>",
    )
    .unwrap();
    TestApp::with_mailer(config, mailer).await
}

#[tokio::test]
async fn a_mailed_token_is_never_shown_and_gives_a_proven_key() {
    let (port, messages) = sink(Arc::default()).await;
    let app = mailing_app(port).await;
    let (org, admin) = app.team("Acme").await;
    let res = app
        .post(&format!("/api/organizations/{org}/invitations/"))
        .key(&admin)
        .json(&json!({"email": "vip@bigcorp.test", "role": 1}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert!(
        res.json().get("accept_token").is_none(),
        "the inviter never sees it"
    );
    let text = messages.lock().unwrap().pop().expect("one email");
    assert!(text.contains("To: vip@bigcorp.test"), "{text}");
    assert!(
        text.contains("https://roster.example/api/invitations/accept/"),
        "{text}"
    );
    let token = mailed_token(&text);
    let accepted = app.accept(&json!({"accept_token": token})).await;
    assert_eq!(accepted.status, StatusCode::CREATED);
    assert_eq!(accepted.json()["proven"], true);
    // A proven key acts wherever its holder is a member, not only in the inviting team.
    let key = accepted.json()["token"].as_str().unwrap().to_owned();
    let person = accepted.json()["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (other, _) = app.team("Other").await;
    app.store
        .add_member(
            other,
            person,
            Some(Role::Member),
            SystemClock.now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/api/organizations/{other}/"))
            .key(&key)
            .send()
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_invitation_whose_email_is_refused_is_not_kept() {
    let refuse = Arc::new(AtomicBool::new(true));
    let (port, messages) = sink(refuse.clone()).await;
    let app = mailing_app(port).await;
    let (org, admin) = app.team("Acme").await;
    let invite = || {
        app.post(&format!("/api/organizations/{org}/invitations/"))
            .key(&admin)
            .json(&json!({"email": "nobody@bigcorp.test", "role": 1}))
            .send()
    };
    let pending = || async {
        app.get(&format!("/api/organizations/{org}/invitations/"))
            .key(&admin)
            .send()
            .await
            .json()
    };
    let res = invite().await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        res.detail()
    );
    assert!(res.detail().contains("could not be sent"));
    assert_eq!(pending().await, json!([]));

    // Sent again while mail fails: the invitation already mailed stays, its token still
    // opens it, and the history holds only the change that was made.
    refuse.store(false, Ordering::SeqCst);
    let first = invite().await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.detail());
    let first = first.json();
    refuse.store(true, Ordering::SeqCst);
    assert_eq!(invite().await.status, StatusCode::SERVICE_UNAVAILABLE);
    let kept = pending().await;
    assert_eq!(kept.as_array().unwrap().len(), 1, "{kept}");
    assert_eq!(kept[0]["id"], first["id"]);
    let all = app
        .get(&format!("/api/audit/organizations/{org}/"))
        .key(&admin)
        .send()
        .await
        .json();
    let actions: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action_type"].as_str())
        .filter(|a| a.starts_with("invitation."))
        .collect();
    assert_eq!(actions, ["invitation.created"], "{all}");
    let text = messages.lock().unwrap().pop().expect("one email");
    let token = mailed_token(&text);
    let accepted = app.accept(&json!({"accept_token": token})).await;
    assert_eq!(
        accepted.status,
        StatusCode::CREATED,
        "{}",
        accepted.detail()
    );
}
