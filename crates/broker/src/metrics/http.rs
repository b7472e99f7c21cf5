//! The metrics endpoint: a minimal HTTP/1.1 server for `GET /metrics`, on the controller shard's
//! runtime (no thread of its own: a scrape is a few milliseconds of rendering spread over the
//! shards, and a listener on shard 0 costs nothing between scrapes).
//!
//! One request per connection, answered with `Connection: close`:
//! - `GET /metrics` (any query string): 200, Prometheus text format 0.0.4;
//! - another path: 404; another method: 405 with `Allow: GET`;
//! - a request line or header that does not parse: 400; a request head over
//!   [`HTTP_REQUEST_BYTES_MAX`] or with more than [`HTTP_HEADERS_MAX`] header lines: 431;
//! - a head not complete within [`HTTP_READ_TIMEOUT_MS`] (slowloris): closed without an answer;
//!   a response not taken within [`HTTP_WRITE_TIMEOUT_MS`]: closed;
//! - beyond [`HTTP_CONNECTIONS_MAX`] connections at once: closed at once.
//!
//! # Invariants
//! - Every connection ends within `HTTP_READ_TIMEOUT_MS + HTTP_WRITE_TIMEOUT_MS` plus one
//!   scrape; at most `HTTP_CONNECTIONS_MAX` are served at once, each holding at most
//!   `HTTP_REQUEST_BYTES_MAX` of request bytes.
//! - Nothing an HTTP client sends reaches the Kafka side of the broker: the endpoint only reads
//!   counters.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::limits::BrokerLimits;
use crate::runtime::future::{select, Either};
use crate::runtime::net::{TcpListener, TcpStream};
use crate::runtime::time::{sleep, timeout};
use crate::shard::ShardState;

/// Scrape connections served at once: Prometheus keeps one per target; a few more leave room
/// for an operator's curl, and the bound caps what slow or hostile clients can hold.
pub const HTTP_CONNECTIONS_MAX: usize = 8;
/// Largest request head (request line and headers) read: a scraper's is a few hundred bytes.
pub const HTTP_REQUEST_BYTES_MAX: usize = 8 * 1024;
/// Most header lines in a request head.
pub const HTTP_HEADERS_MAX: usize = 64;
/// Longest a client may take to send its request head.
pub const HTTP_READ_TIMEOUT_MS: u64 = 5_000;
/// Longest a client may take to take the response (a 10k-partition scrape is a few MB).
pub const HTTP_WRITE_TIMEOUT_MS: u64 = 10_000;
/// After refusing a request, how long its connection is drained before it is closed (closing
/// with unread request bytes makes the kernel send a reset, which can destroy the answer before
/// the client reads it; nginx's "lingering close" for the same reason).
pub const HTTP_LINGER_MS: u64 = 500;
/// Most bytes drained after a refusal.
pub const HTTP_LINGER_BYTES_MAX: usize = 256 * 1024;
/// Pause after a failed accept (out of descriptors) before the next one.
pub const HTTP_ACCEPT_BACKOFF_MS: u64 = 100;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a request head asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// `GET /metrics`.
    Metrics,
    /// Answer with this status.
    Status(Status),
}

/// The answers other than 200.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 400.
    BadRequest,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 431.
    HeadersTooLarge,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::HeadersTooLarge => "431 Request Header Fields Too Large",
        }
    }
}

/// Parses a request head from the bytes received so far.
pub fn parse_request(buf: &[u8]) -> Parsed {
    let end = find(buf, b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| find(buf, b"\n\n").map(|i| i + 1));
    let Some(end) = end else {
        let lines = buf.iter().filter(|&&b| b == b'\n').count();
        return if buf.len() >= HTTP_REQUEST_BYTES_MAX || lines > HTTP_HEADERS_MAX + 1 {
            Parsed::Status(Status::HeadersTooLarge)
        } else {
            Parsed::Incomplete
        };
    };
    if end > HTTP_REQUEST_BYTES_MAX {
        return Parsed::Status(Status::HeadersTooLarge);
    }
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Parsed::Status(Status::BadRequest);
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Status(Status::BadRequest);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Parsed::Status(Status::BadRequest);
    }
    let mut headers = 0usize;
    for line in lines.filter(|l| !l.is_empty()) {
        headers += 1;
        if headers > HTTP_HEADERS_MAX {
            return Parsed::Status(Status::HeadersTooLarge);
        }
        if !line.contains(':') {
            return Parsed::Status(Status::BadRequest);
        }
    }
    if method != "GET" {
        return Parsed::Status(Status::MethodNotAllowed);
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if path != "/metrics" {
        return Parsed::Status(Status::NotFound);
    }
    Parsed::Metrics
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The response head for a body of `len` bytes.
pub fn response_head(status: &str, content_type: &str, len: usize, allow_get: bool) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         {}Connection: close\r\n\r\n",
        if allow_get { "Allow: GET\r\n" } else { "" }
    )
}

/// Serves the endpoint on `listener` until the broker shuts down.
pub async fn run(state: Rc<ShardState>, listener: TcpListener, limits: Arc<BrokerLimits>) {
    let addr = listener.local_addr();
    tracing::info!("metrics: Prometheus text on http://{addr}/metrics");
    let live = Rc::new(Cell::new(0usize));
    loop {
        let (stream, peer) = match select(listener.accept(), state.shutdown.notified()).await {
            Either::Right(()) => return,
            Either::Left(Ok(accepted)) => accepted,
            Either::Left(Err(e)) => {
                tracing::warn!("metrics endpoint {addr}: accept failed: {e}");
                let pause = sleep(Duration::from_millis(HTTP_ACCEPT_BACKOFF_MS));
                if let Either::Right(()) = select(pause, state.shutdown.notified()).await {
                    return;
                }
                continue;
            }
        };
        if live.get() >= HTTP_CONNECTIONS_MAX {
            tracing::debug!(
                ?peer,
                "metrics endpoint: {HTTP_CONNECTIONS_MAX} connections busy; closing"
            );
            continue; // dropping the stream closes it
        }
        live.set(live.get() + 1);
        let (state, limits, live) = (state.clone(), limits.clone(), live.clone());
        crate::runtime::spawn(async move {
            serve(&state, &limits, stream, peer).await;
            live.set(live.get() - 1);
        });
    }
}

/// One connection: read the head, answer, close.
async fn serve(
    state: &Rc<ShardState>,
    limits: &BrokerLimits,
    stream: TcpStream,
    peer: Option<SocketAddr>,
) {
    let read = timeout(
        Duration::from_millis(HTTP_READ_TIMEOUT_MS),
        read_head(&stream),
    )
    .await;
    let parsed = match read {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return, // closed or failed before a whole head
        Err(_) => {
            tracing::debug!(
                ?peer,
                "metrics endpoint: no request head within {HTTP_READ_TIMEOUT_MS} ms; closing"
            );
            return;
        }
    };
    let refused = parsed != Parsed::Metrics;
    let (head, body) = match parsed {
        Parsed::Metrics => {
            let body = super::scrape::scrape(state, limits).await;
            (
                response_head("200 OK", CONTENT_TYPE, body.len(), false),
                body,
            )
        }
        Parsed::Status(status) => {
            let body = format!("{}\n", status.line());
            let allow = status == Status::MethodNotAllowed;
            let head = response_head(
                status.line(),
                "text/plain; charset=utf-8",
                body.len(),
                allow,
            );
            (head, body)
        }
        Parsed::Incomplete => return,
    };
    let send = async {
        let (res, _) = stream
            .send_all_with_flags(Bytes::from(head), libc::MSG_MORE)
            .await;
        res?;
        let (res, _) = stream.send_all(Bytes::from(body)).await;
        res
    };
    match timeout(Duration::from_millis(HTTP_WRITE_TIMEOUT_MS), send).await {
        Ok(Ok(())) => {
            let _ = stream.shutdown_write();
            if refused {
                let _ = timeout(Duration::from_millis(HTTP_LINGER_MS), drain(&stream)).await;
            }
        }
        Ok(Err(e)) => tracing::debug!(?peer, "metrics endpoint: send failed: {e}"),
        Err(_) => tracing::debug!(
            ?peer,
            "metrics endpoint: response not taken within {HTTP_WRITE_TIMEOUT_MS} ms; closing"
        ),
    }
}

/// Reads and drops what the client still sends, up to [`HTTP_LINGER_BYTES_MAX`] or its end.
async fn drain(stream: &TcpStream) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut drained = 0usize;
    while drained < HTTP_LINGER_BYTES_MAX {
        buf.clear();
        let (res, b) = stream.recv(buf).await;
        buf = b;
        match res {
            Ok(n) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Receives until the head parses (or is refused); `None` when the peer closed first.
async fn read_head(stream: &TcpStream) -> Option<Parsed> {
    let mut buf: Vec<u8> = Vec::with_capacity(HTTP_REQUEST_BYTES_MAX);
    loop {
        let (res, b) = stream.recv(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        match parse_request(&buf) {
            Parsed::Incomplete if buf.len() < HTTP_REQUEST_BYTES_MAX => continue,
            Parsed::Incomplete => return Some(Parsed::Status(Status::HeadersTooLarge)),
            done => return Some(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_scrapers_send_and_refuses_the_rest() {
        let get = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n";
        assert_eq!(parse_request(get), Parsed::Metrics);
        assert_eq!(
            parse_request(b"GET /metrics?x=1 HTTP/1.0\n\n"),
            Parsed::Metrics
        );
        for cut in 0..get.len() - 1 {
            assert_eq!(parse_request(&get[..cut]), Parsed::Incomplete, "{cut}");
        }
        let cases: &[(&[u8], Status)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", Status::NotFound),
            (b"GET /metricsx HTTP/1.1\r\n\r\n", Status::NotFound),
            (b"POST /metrics HTTP/1.1\r\n\r\n", Status::MethodNotAllowed),
            (b"HEAD /metrics HTTP/1.1\r\n\r\n", Status::MethodNotAllowed),
            (b"GET /metrics\r\n\r\n", Status::BadRequest),
            (b"GET /metrics HTTP/2.0\r\n\r\n", Status::BadRequest),
            (b"GET metrics HTTP/1.1\r\n\r\n", Status::BadRequest),
            (b"GET /metrics HTTP/1.1 extra\r\n\r\n", Status::BadRequest),
            (
                b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
                Status::BadRequest,
            ),
            (b"\xff\xfe /metrics HTTP/1.1\r\n\r\n", Status::BadRequest),
            (b"\r\n\r\n", Status::BadRequest),
        ];
        for (req, status) in cases {
            assert_eq!(
                parse_request(req),
                Parsed::Status(*status),
                "{}",
                String::from_utf8_lossy(req)
            );
        }
    }

    #[test]
    fn head_size_and_header_count_are_bounded() {
        let mut many = b"GET /metrics HTTP/1.1\r\n".to_vec();
        for i in 0..=HTTP_HEADERS_MAX {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        let mut complete = many.clone();
        complete.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_request(&complete),
            Parsed::Status(Status::HeadersTooLarge)
        );
        // Too many lines is refused before the head ends, too.
        many.extend_from_slice(b"X-more: y\r\n");
        assert_eq!(
            parse_request(&many),
            Parsed::Status(Status::HeadersTooLarge)
        );
        let huge = [b'a'; HTTP_REQUEST_BYTES_MAX];
        assert_eq!(
            parse_request(&huge),
            Parsed::Status(Status::HeadersTooLarge)
        );
        let mut long_then_end = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        long_then_end.resize(HTTP_REQUEST_BYTES_MAX + 10, b'a');
        long_then_end.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse_request(&long_then_end),
            Parsed::Status(Status::HeadersTooLarge)
        );
        // Exactly at the bound still parses.
        let mut at_bound = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        at_bound.resize(HTTP_REQUEST_BYTES_MAX - 4, b'a');
        at_bound.extend_from_slice(b"\r\n\r\n");
        assert_eq!(at_bound.len(), HTTP_REQUEST_BYTES_MAX);
        assert_eq!(parse_request(&at_bound), Parsed::Metrics);
    }

    #[test]
    fn response_head_says_length_type_and_close() {
        let h = response_head("405 Method Not Allowed", "text/plain", 3, true);
        assert_eq!(
            h,
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\
             Allow: GET\r\nConnection: close\r\n\r\n"
        );
    }
}
