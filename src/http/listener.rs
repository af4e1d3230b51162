//! The service listener. When the replica starts draining it stops accepting: new
//! connections are refused, which a proxy retries on another replica (nginx's
//! `proxy_next_upstream error`, even for a POST, since nothing was sent), while
//! the connections already open go on being served until the drain ends. Closing
//! the listener later instead would reset the connections waiting in its backlog
//! after the proxy had sent a request on them: a 502 for the client.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct DrainingListener {
    inner: Option<TcpListener>,
    addr: SocketAddr,
    draining: watch::Receiver<bool>,
}

impl DrainingListener {
    pub fn new(listener: TcpListener, draining: watch::Receiver<bool>) -> io::Result<Self> {
        Ok(Self {
            addr: listener.local_addr()?,
            inner: Some(listener),
            draining,
        })
    }
}

impl Listener for DrainingListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        let Self {
            inner, draining, ..
        } = self;
        loop {
            let Some(listener) = inner.as_ref() else {
                return std::future::pending().await;
            };
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(connection) => return connection,
                    Err(err) if is_connection_error(&err) => continue,
                    Err(err) => {
                        // Out of file descriptors and the like: retrying at once would spin.
                        tracing::error!(error = %err, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                changed = draining.changed() => {
                    let now_draining = changed.is_err() || *draining.borrow_and_update();
                    if now_draining {
                        *inner = None;
                        tracing::info!("draining: no new connections; open ones are still served");
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
