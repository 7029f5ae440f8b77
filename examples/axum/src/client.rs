//! A minimal HTTP/1.1 client on hyper's connection API: what the service uses to call
//! its upstream, and what the self-test uses to call the service.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper::StatusCode;
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// A response whose head has arrived; its body is read on demand. Dropping it (or the
/// future that would have produced it) closes the connection: that is how a client
/// disconnects.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    body: Incoming,
    _connection: Connection,
}

/// The task that drives one connection; aborted (the socket closed) when dropped.
#[derive(Debug)]
struct Connection(JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends `GET path` to `addr` on a new connection.
pub(crate) async fn send(addr: SocketAddr, path: &str) -> Result<Response, Error> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    let connection = Connection(tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "connection ended");
        }
    }));
    let request = hyper::Request::get(path).header(hyper::header::HOST, addr.to_string()).body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    Ok(Response { status: response.status(), body: response.into_body(), _connection: connection })
}

/// `GET path`: the status and the whole body as text.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> Result<(StatusCode, String), Error> {
    let response = send(addr, path).await?;
    let status = response.status;
    let body = response.body.collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

impl Response {
    /// The next piece of the body, `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        while let Some(frame) = self.body.frame().await {
            if let Ok(data) = frame?.into_data() {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }
}

/// A server-sent event stream: the `data` of each event in turn.
#[derive(Debug)]
pub(crate) struct EventStream {
    response: Response,
    buffer: String,
}

impl EventStream {
    pub(crate) async fn open(addr: SocketAddr, path: &str) -> Result<Self, Error> {
        let response = send(addr, path).await?;
        if response.status != StatusCode::OK {
            return Err(format!("{path}: {}", response.status).into());
        }
        Ok(Self { response, buffer: String::new() })
    }

    /// The data of the next event (keep-alive comments are skipped).
    pub(crate) async fn next_data(&mut self) -> Result<String, Error> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data: Vec<&str> = event.lines().filter_map(|line| line.strip_prefix("data:")).collect();
                if !data.is_empty() {
                    return Ok(data.iter().map(|d| d.trim_start()).collect::<Vec<_>>().join("\n"));
                }
                continue;
            }
            let chunk = self.response.chunk().await?.ok_or("the event stream ended")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}
