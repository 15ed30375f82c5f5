//! A minimal HTTP/1.0 GET for `converge status`: reading a running controller's `/status` on
//! its metrics address needs no HTTP client library.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a GET did not return a body.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("cannot reach {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("reading from {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} did not answer HTTP")]
    NotHttp { addr: String },
    #[error("{addr}: only plain http:// is read (put a TLS proxy's local address, or the controller's own, in --addr)")]
    Https { addr: String },
    #[error("the token has a line break or control character")]
    BadToken,
}

/// `GET path` on `addr` (`host:port`, with or without `http://`); returns the status code and
/// the body.
pub fn get(
    addr: &str,
    path: &str,
    bearer: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), GetError> {
    if addr.starts_with("https://") {
        return Err(GetError::Https {
            addr: addr.to_string(),
        });
    }
    if bearer.is_some_and(|t| t.chars().any(char::is_control)) {
        return Err(GetError::BadToken);
    }
    let host = addr
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let connect = |source| GetError::Connect {
        addr: host.clone(),
        source,
    };
    let io = |source| GetError::Io {
        addr: host.clone(),
        source,
    };
    let target = host
        .to_socket_addrs()
        .map_err(connect)?
        .next()
        .ok_or_else(|| connect(std::io::Error::other("no address")))?;
    let mut s = TcpStream::connect_timeout(&target, timeout).map_err(connect)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n{auth}\r\n").map_err(io)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(io)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| GetError::NotHttp { addr: host.clone() })?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| GetError::NotHttp { addr: host.clone() })?;
    Ok((code, body.to_string()))
}
