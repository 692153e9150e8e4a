//! A TCP proxy between a node and its database that can do to one connection what a network
//! does: freeze it without a word (as a firewall that forgets an idle flow: no FIN, no RST),
//! or cut every connection and refuse new ones for a while (a database restarting).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Link {
    Open,
    Frozen,
    Cut,
}

struct Connection {
    link: watch::Sender<Link>,
    /// The client sent `LISTEN` on it: the node's change listener.
    listens: Arc<AtomicBool>,
}

pub struct Proxy {
    address: SocketAddr,
    connections: Arc<Mutex<Vec<Connection>>>,
    refusing: Arc<AtomicBool>,
}

impl Proxy {
    /// A proxy to `upstream` on a port of its own.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let connections: Arc<Mutex<Vec<Connection>>> = Arc::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let (list, refuse) = (connections.clone(), refusing.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if refuse.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (link, _) = watch::channel(Link::Open);
                let listens = Arc::new(AtomicBool::new(false));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(
                    client_read,
                    server_write,
                    link.subscribe(),
                    Some(listens.clone()),
                ));
                tokio::spawn(pump(server_read, client_write, link.subscribe(), None));
                list.lock().unwrap().push(Connection { link, listens });
            }
        });
        Proxy {
            address,
            connections,
            refusing,
        }
    }

    /// `url` (a PostgreSQL URL) with its host and port replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.split_once('/').unwrap();
        let user = authority
            .rsplit_once('@')
            .map(|(user, _)| format!("{user}@"));
        // In clear text: the proxy reads the protocol to find the listener's connection.
        let tls = if path.contains('?') { '&' } else { '?' };
        format!(
            "{scheme}://{}{}/{path}{tls}sslmode=disable",
            user.unwrap_or_default(),
            self.address
        )
    }

    /// Freezes the connections that carry a `LISTEN`; returns how many.
    pub fn freeze_listeners(&self) -> usize {
        self.set_listeners(Link::Frozen)
    }

    /// Closes the connections that carry a `LISTEN`; returns how many.
    pub fn cut_listeners(&self) -> usize {
        self.set_listeners(Link::Cut)
    }

    fn set_listeners(&self, link: Link) -> usize {
        let connections = self.connections.lock().unwrap();
        let mut n = 0;
        for c in connections.iter() {
            if c.listens.load(Ordering::SeqCst) && *c.link.borrow() == Link::Open {
                c.link.send_replace(link);
                n += 1;
            }
        }
        n
    }

    /// Closes every connection, and closes each new one at once, for `outage`.
    pub async fn cut_all_for(&self, outage: Duration) {
        self.refusing.store(true, Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.link.send_replace(Link::Cut);
        }
        tokio::time::sleep(outage).await;
        self.refusing.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding what it read while the link is frozen, until either side
/// closes or the link is cut.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut link: watch::Receiver<Link>,
    listens: Option<Arc<AtomicBool>>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = link.wait_for(|l| *l == Link::Cut) => return,
        };
        if let Some(listens) = &listens
            && buffer[..n].windows(6).any(|w| w == b"LISTEN")
        {
            listens.store(true, Ordering::SeqCst);
        }
        match link.wait_for(|l| *l != Link::Frozen).await.map(|l| *l) {
            Ok(Link::Open) => {}
            _ => return,
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
