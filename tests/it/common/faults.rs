//! A fault-injecting HTTP proxy between converge and moto (test support).
//!
//! converge is pointed at the proxy (`--endpoint-url`); the proxy forwards every request to moto
//! unchanged, except where a [`Rule`] fires: it then answers as AWS would when it throttles or
//! fails (each protocol's real error shape), delays the request, resets or hangs the
//! connection, or cuts the response body short. Rules can be replaced while converge runs (a
//! fault "clears"). Every request is identified by service and operation, for every protocol
//! converge speaks:
//! - awsJson (SQS): `X-Amz-Target: AmazonSQS.<Operation>`;
//! - awsQuery (ELB, Auto Scaling, IAM) and EC2's query protocol: `Action=<Operation>` in the form
//!   body; the service from the SigV4 credential scope in `Authorization`;
//! - rpc-v2-cbor (CloudWatch): `POST /service/GraniteServiceVersion20100801/operation/<Op>`;
//! - REST-XML (Route 53): method and path (e.g. `GET /2013-04-01/hostedzone/Z1/rrset`).
//!
//! Services are named as `--rate-limit` names them: sqs, ec2, iam, elb, route53, autoscaling,
//! cloudwatch. The proxy counts what it saw and what it injected; its counts are independent of
//! converge's own metrics.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the proxy does to a request a rule matched.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The service's throttling error in its protocol's shape: `Throttling` (query, REST-XML,
    /// CloudWatch), `RequestLimitExceeded` (EC2, HTTP 503), `RequestThrottled` /
    /// `ThrottlingException` (SQS JSON).
    Throttle,
    /// An HTTP 5xx (500 or 503) with the protocol's error body (`InternalFailure` /
    /// `ServiceUnavailable`).
    ServerError(u16),
    /// Access denied: `AccessDenied` (HTTP 403; EC2: `UnauthorizedOperation`).
    AccessDenied,
    /// Expired credentials: `ExpiredToken` (SQS: `ExpiredTokenException`; HTTP 400).
    ExpiredToken,
    /// Waits this long, then forwards normally (other rules still apply).
    Latency(Duration),
    /// Resets the connection before forwarding (the request never reaches moto).
    Reset,
    /// Never answers: the connection stays open until the client gives up (not forwarded).
    Hang,
    /// Forwards the request, then cuts the response body short and closes the connection.
    Truncate,
    /// Forwards the request (moto applies it), then resets the connection instead of
    /// answering: the client cannot tell whether the call happened.
    LoseResponse,
    /// Forwards a Tagging API `GetResources` and drops from its answer every resource whose
    /// ARN contains this text: the API's eventual consistency (a resource created a moment ago
    /// does not show yet).
    HideFromTagging(String),
}

impl Fault {
    /// The label counts use: `throttle`, `5xx`, `access_denied`, `expired_token`, `latency`,
    /// `reset`, `hang`, `truncate`, `lose_response`.
    pub fn label(&self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::ServerError(_) => "5xx",
            Fault::AccessDenied => "access_denied",
            Fault::ExpiredToken => "expired_token",
            Fault::Latency(_) => "latency",
            Fault::Reset => "reset",
            Fault::Hang => "hang",
            Fault::Truncate => "truncate",
            Fault::LoseResponse => "lose_response",
            Fault::HideFromTagging(_) => "hide",
        }
    }
}

/// One fault rule: which requests (service and/or operation, `None` = any) and how often.
#[derive(Debug, Clone)]
pub struct Rule {
    pub service: Option<String>,
    pub operation: Option<String>,
    /// Only requests signed for this region (the SigV4 credential scope).
    pub region: Option<String>,
    pub probability: f64,
    pub fault: Fault,
    /// Fire at most this many times (`None`: no limit).
    pub limit: Option<u64>,
    fired: u64,
}

impl Rule {
    /// `fault` on every request with probability `probability`.
    pub fn new(fault: Fault, probability: f64) -> Rule {
        Rule {
            service: None,
            operation: None,
            region: None,
            probability,
            fault,
            limit: None,
            fired: 0,
        }
    }

    /// Only requests to `service` (sqs, ec2, iam, elb, route53, autoscaling, cloudwatch).
    pub fn service(mut self, service: &str) -> Rule {
        self.service = Some(service.to_string());
        self
    }

    /// Only requests for `operation` (e.g. `CreateQueue`).
    pub fn operation(mut self, operation: &str) -> Rule {
        self.operation = Some(operation.to_string());
        self
    }

    /// Only requests signed for `region` (e.g. `eu-west-1`): one region's endpoint down.
    pub fn region(mut self, region: &str) -> Rule {
        self.region = Some(region.to_string());
        self
    }

    /// Fires at most `n` times.
    pub fn times(mut self, n: u64) -> Rule {
        self.limit = Some(n);
        self
    }

    fn matches(&self, req: &Identified, region: &str) -> bool {
        self.region.as_deref().is_none_or(|r| r == region)
            && self.service.as_deref().is_none_or(|s| s == req.service)
            && self.operation.as_deref().is_none_or(|o| o == req.operation)
            && self.limit.is_none_or(|l| self.fired < l)
    }
}

/// A request, identified.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Identified {
    pub service: String,
    pub operation: String,
}

#[derive(Default)]
struct Counts {
    /// (service, operation) → requests seen.
    seen: BTreeMap<(String, String), u64>,
    /// (service, fault label) → faults injected.
    injected: BTreeMap<(String, String), u64>,
    /// Requests forwarded to moto, by (service, operation).
    forwarded: BTreeMap<(String, String), u64>,
    /// Distinct session tokens (`X-Amz-Security-Token`) seen: proves credentials were in use.
    session_tokens: std::collections::BTreeSet<String>,
    /// When each request of a service arrived.
    arrivals: BTreeMap<String, Vec<Instant>>,
}

struct Shared {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    counts: Mutex<Counts>,
    rng: Mutex<u64>,
    stop: AtomicBool,
    /// Hung connections are released when this turns true (or the client gives up).
    release_hung: AtomicBool,
}

/// The proxy; stops accepting when dropped.
pub struct FaultProxy {
    pub endpoint: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream` (`http://127.0.0.1:PORT`), with
    /// no rules yet and a fixed random seed (runs are repeatable).
    pub fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_seeded(upstream, 0x5eed_f00d_cafe_d00d)
    }

    pub fn start_seeded(upstream: &str, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().expect("proxy address");
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Vec::new()),
            counts: Mutex::new(Counts::default()),
            rng: Mutex::new(seed | 1),
            stop: AtomicBool::new(false),
            release_hung: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve_connection(s, conn));
            }
        });
        FaultProxy {
            endpoint: format!("http://{addr}"),
            shared,
        }
    }

    /// Replaces every rule (takes effect for the next request).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.shared.rules.lock().unwrap() = rules;
        self.shared.release_hung.store(false, Ordering::SeqCst);
    }

    /// Removes every rule and releases hung connections: the fault clears.
    pub fn clear(&self) {
        self.shared.rules.lock().unwrap().clear();
        self.shared.release_hung.store(true, Ordering::SeqCst);
    }

    /// Requests seen for `service` (all operations), faulted or not.
    pub fn seen(&self, service: &str) -> u64 {
        let c = self.shared.counts.lock().unwrap();
        c.seen
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests seen for one operation of `service`.
    pub fn seen_op(&self, service: &str, operation: &str) -> u64 {
        let c = self.shared.counts.lock().unwrap();
        c.seen
            .get(&(service.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// All requests seen.
    pub fn total(&self) -> u64 {
        self.shared.counts.lock().unwrap().seen.values().sum()
    }

    /// Faults injected with this label (see [`Fault::label`]), all services.
    pub fn injected(&self, label: &str) -> u64 {
        let c = self.shared.counts.lock().unwrap();
        c.injected
            .iter()
            .filter(|((_, l), _)| l == label)
            .map(|(_, n)| n)
            .sum()
    }

    /// Faults injected into `service` with this label.
    pub fn injected_into(&self, service: &str, label: &str) -> u64 {
        let c = self.shared.counts.lock().unwrap();
        c.injected
            .get(&(service.to_string(), label.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Requests of one operation forwarded to moto (so applied there, whatever the client saw).
    pub fn forwarded(&self, service: &str, operation: &str) -> u64 {
        let c = self.shared.counts.lock().unwrap();
        c.forwarded
            .get(&(service.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Mutating requests forwarded to moto, every AWS service but the lease table's (DynamoDB)
    /// and STS: operations that are not `Describe*`, `List*` or `Get*`.
    pub fn forwarded_mutations(&self) -> u64 {
        let c = self.shared.counts.lock().unwrap();
        c.forwarded
            .iter()
            .filter(|((service, op), _)| {
                service != "dynamodb"
                    && service != "sts"
                    && !["Describe", "List", "Get"]
                        .iter()
                        .any(|p| op.starts_with(p))
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// The most requests of `service` that arrived within any `window`.
    pub fn peak(&self, service: &str, window: Duration) -> usize {
        let c = self.shared.counts.lock().unwrap();
        let Some(times) = c.arrivals.get(service) else {
            return 0;
        };
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end].duration_since(times[start]) >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    /// The session tokens requests carried (`X-Amz-Security-Token`).
    pub fn session_tokens(&self) -> Vec<String> {
        let c = self.shared.counts.lock().unwrap();
        c.session_tokens.iter().cloned().collect()
    }

    /// One line: requests seen and faults injected.
    pub fn summary(&self) -> String {
        let c = self.shared.counts.lock().unwrap();
        let seen: u64 = c.seen.values().sum();
        let mut by_label: BTreeMap<&str, u64> = BTreeMap::new();
        for ((_, l), n) in &c.injected {
            *by_label.entry(l.as_str()).or_default() += n;
        }
        format!("{seen} request(s) seen; injected {by_label:?}")
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.release_hung.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

/// An HTTP/1.1 request as read from the client.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn serve_connection(shared: Arc<Shared>, conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut conn = conn;
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            _ => return,
        };
        let id = identify(&req);
        {
            let mut c = shared.counts.lock().unwrap();
            if let Some(t) = req.header("x-amz-security-token") {
                c.session_tokens.insert(t.to_string());
            }
            c.arrivals
                .entry(id.service.clone())
                .or_default()
                .push(Instant::now());
            *c.seen
                .entry((id.service.clone(), id.operation.clone()))
                .or_default() += 1;
        }
        let fault = decide(&shared, &id, &signed_region(&req));
        if let Some(f) = &fault {
            let mut c = shared.counts.lock().unwrap();
            *c.injected
                .entry((id.service.clone(), f.label().to_string()))
                .or_default() += 1;
        }
        match fault {
            Some(Fault::Reset) => {
                reset(&conn);
                return;
            }
            Some(Fault::Hang) => {
                hang(&shared, &mut reader);
                return;
            }
            Some(
                f @ (Fault::Throttle
                | Fault::ServerError(_)
                | Fault::AccessDenied
                | Fault::ExpiredToken),
            ) => {
                let resp = error_response(&id, &f);
                if conn.write_all(&resp).is_err() {
                    return;
                }
                continue;
            }
            _ => {}
        }
        let upstream = match forward(&shared, &req) {
            Ok(r) => r,
            Err(e) => {
                let body = format!("fault proxy: upstream error: {e}");
                let resp = format!(
                    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes());
                return;
            }
        };
        {
            let mut c = shared.counts.lock().unwrap();
            *c.forwarded
                .entry((id.service.clone(), id.operation.clone()))
                .or_default() += 1;
        }
        match fault {
            Some(Fault::LoseResponse) => {
                reset(&conn);
                return;
            }
            Some(Fault::HideFromTagging(text)) => {
                let (head, body) = upstream;
                let body = hide_from_tagging(&body, &text);
                let head = with_content_length(&head, body.len());
                let mut out = head.into_bytes();
                out.extend_from_slice(&body);
                if conn.write_all(&out).is_err() {
                    return;
                }
            }
            Some(Fault::Truncate) => {
                let (head, body) = upstream;
                let mut out = head.into_bytes();
                out.extend_from_slice(&body[..body.len() / 2]);
                let _ = conn.write_all(&out);
                let _ = conn.flush();
                let _ = conn.shutdown(Shutdown::Both);
                return;
            }
            _ => {
                let (head, body) = upstream;
                let mut out = head.into_bytes();
                out.extend_from_slice(&body);
                if conn.write_all(&out).is_err() {
                    return;
                }
            }
        }
    }
}

/// A `GetResources` answer without the resources whose ARN contains `text`.
fn hide_from_tagging(body: &[u8], text: &str) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    if let Some(list) = v
        .get_mut("ResourceTagMappingList")
        .and_then(|l| l.as_array_mut())
    {
        list.retain(|m| {
            !m["ResourceARN"]
                .as_str()
                .is_some_and(|arn| arn.contains(text))
        });
    }
    serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec())
}

/// `head` (status line and headers) with its `Content-Length` set to `len`.
fn with_content_length(head: &str, len: usize) -> String {
    head.split("\r\n")
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {len}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The first matching rule that fires (by its probability); a latency rule sleeps and lets
/// the others be considered too.
fn decide(shared: &Shared, id: &Identified, region: &str) -> Option<Fault> {
    let mut delay = Duration::ZERO;
    let mut chosen = None;
    {
        let mut rules = shared.rules.lock().unwrap();
        let mut rng = shared.rng.lock().unwrap();
        for rule in rules.iter_mut() {
            if !rule.matches(id, region) {
                continue;
            }
            if next_f64(&mut rng) >= rule.probability {
                continue;
            }
            rule.fired += 1;
            if let Fault::Latency(d) = rule.fault {
                delay += d;
                continue;
            }
            chosen = Some(rule.fault.clone());
            break;
        }
    }
    if !delay.is_zero() {
        let mut c = shared.counts.lock().unwrap();
        *c.injected
            .entry((id.service.clone(), "latency".to_string()))
            .or_default() += 1;
        drop(c);
        std::thread::sleep(delay);
    }
    chosen
}

fn next_f64(state: &mut u64) -> f64 {
    // xorshift64*
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
}

fn reset(conn: &TcpStream) {
    // SO_LINGER 0: closing sends RST instead of FIN.
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized `linger` value.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Holds the connection without answering until the client closes it, the fault clears or
/// two minutes pass.
fn hang(shared: &Shared, reader: &mut BufReader<TcpStream>) {
    let _ = reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let mut buf = [0u8; 512];
    while started.elapsed() < Duration::from_secs(120)
        && !shared.release_hung.load(Ordering::SeqCst)
    {
        match reader.get_mut().read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if req
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        req.body = read_chunked(reader)?;
        req.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("transfer-encoding"));
    } else if let Some(n) = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut body = vec![0u8; n];
        reader.read_exact(&mut body)?;
        req.body = body;
    }
    Ok(Some(req))
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if n == 0 {
            loop {
                let mut t = String::new();
                if reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(out);
                }
            }
        }
        let mut chunk = vec![0u8; n];
        reader.read_exact(&mut chunk)?;
        out.extend_from_slice(&chunk);
        let mut crlf = String::new();
        reader.read_line(&mut crlf)?;
    }
}

/// Sends `req` to moto on a fresh connection; returns the response head (re-framed with a
/// `Content-Length`, keep-alive) and body.
fn forward(shared: &Shared, req: &Request) -> std::io::Result<(String, Vec<u8>)> {
    let mut up = TcpStream::connect(&shared.upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if k.eq_ignore_ascii_case("connection") || k.eq_ignore_ascii_case("content-length") {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        req.body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&req.body);
    up.write_all(&bytes)?;
    let mut reader = BufReader::new(up);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        read_chunked(&mut reader)?
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        let mut b = vec![0u8; n];
        reader.read_exact(&mut b)?;
        b
    } else if req.method == "HEAD" {
        Vec::new()
    } else {
        let mut b = Vec::new();
        reader.read_to_end(&mut b)?;
        b
    };
    let mut head = status.trim_end().replace("HTTP/1.0", "HTTP/1.1");
    head.push_str("\r\n");
    for (k, v) in &headers {
        let lk = k.to_ascii_lowercase();
        if matches!(
            lk.as_str(),
            "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    Ok((head, body))
}

/// Service (as `--rate-limit` names it) and operation of a request.
pub fn identify_parts(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Identified {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let path = target.split('?').next().unwrap_or(target);
    // rpc-v2-cbor: /service/<Service>/operation/<Operation>
    if let Some(rest) = path.strip_prefix("/service/") {
        let mut it = rest.split('/');
        let svc = it.next().unwrap_or("");
        let op = if it.next() == Some("operation") {
            it.next().unwrap_or("")
        } else {
            ""
        };
        let service = if svc.contains("GraniteServiceVersion20100801") {
            "cloudwatch".to_string()
        } else {
            svc.to_string()
        };
        return Identified {
            service,
            operation: op.to_string(),
        };
    }
    let signing = header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split(',').next())
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("");
    let service = match signing {
        "elasticloadbalancing" => "elb",
        "monitoring" => "cloudwatch",
        other => other,
    }
    .to_string();
    // awsJson: X-Amz-Target: Prefix.Operation
    if let Some(t) = header("x-amz-target") {
        let op = t.rsplit('.').next().unwrap_or(t).to_string();
        let service = if service.is_empty() {
            if t.starts_with("AmazonSQS") {
                "sqs".to_string()
            } else if t.starts_with("GraniteServiceVersion20100801") {
                "cloudwatch".to_string()
            } else {
                String::new()
            }
        } else {
            service
        };
        return Identified {
            service,
            operation: op,
        };
    }
    // awsQuery / ec2Query: Action= in the form body (or the query string).
    let form = std::str::from_utf8(body).unwrap_or("");
    let query = target.split_once('?').map(|x| x.1).unwrap_or("");
    if let Some(action) = form
        .split('&')
        .chain(query.split('&'))
        .find_map(|kv| kv.strip_prefix("Action="))
    {
        return Identified {
            service,
            operation: action.to_string(),
        };
    }
    // REST-XML (Route 53): method and path.
    if path.starts_with("/2013-04-01/") || service == "route53" {
        return Identified {
            service: "route53".to_string(),
            operation: route53_operation(method, path),
        };
    }
    Identified {
        service,
        operation: format!("{method} {path}"),
    }
}

/// The region a request is signed for (SigV4 credential scope), or "".
fn signed_region(req: &Request) -> String {
    req.header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split(',').next())
        .and_then(|scope| scope.split('/').nth(2))
        .unwrap_or("")
        .to_string()
}

fn identify(req: &Request) -> Identified {
    identify_parts(&req.method, &req.target, &req.headers, &req.body)
}

/// The Route 53 operation for a REST request (the ones converge uses; others by shape).
pub fn route53_operation(method: &str, path: &str) -> String {
    let segs: Vec<&str> = path
        .trim_start_matches("/2013-04-01/")
        .trim_end_matches('/')
        .split('/')
        .collect();
    let op = match (method, segs.as_slice()) {
        ("GET", ["hostedzone"]) => "ListHostedZones",
        ("POST", ["hostedzone"]) => "CreateHostedZone",
        ("GET", ["hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", ["hostedzone", _]) => "GetHostedZone",
        ("DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["change", _]) => "GetChange",
        ("GET", ["tags", _, _]) => "ListTagsForResource",
        ("POST", ["tags", _, _]) => "ChangeTagsForResource",
        ("POST", ["tags", _]) => "ListTagsForResources",
        _ => return format!("{method} /{}", segs.first().unwrap_or(&"")),
    };
    op.to_string()
}

/// The error AWS would send for `fault`, in the protocol `id.service` speaks.
fn error_response(id: &Identified, fault: &Fault) -> Vec<u8> {
    let (status, code, message, sender) = match (fault, id.service.as_str()) {
        (Fault::Throttle, "ec2") => (503, "RequestLimitExceeded", "Request limit exceeded.", true),
        (Fault::Throttle, "sqs") => (400, "RequestThrottled", "Rate exceeded", true),
        (Fault::Throttle, _) => (400, "Throttling", "Rate exceeded", true),
        (Fault::ServerError(503), _) => (503, "ServiceUnavailable", "Service unavailable", false),
        (Fault::ServerError(s), _) => (*s, "InternalFailure", "Internal failure", false),
        (Fault::AccessDenied, "ec2") => (
            403,
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
            true,
        ),
        (Fault::AccessDenied, _) => (
            403,
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/converge is not authorized to perform this action",
            true,
        ),
        (Fault::ExpiredToken, "sqs") => (
            400,
            "ExpiredToken",
            "The security token included in the request is expired",
            true,
        ),
        (Fault::ExpiredToken, _) => (
            400,
            "ExpiredToken",
            "The security token included in the request is expired",
            true,
        ),
        _ => (500, "InternalFailure", "Internal failure", false),
    };
    let kind = if sender { "Sender" } else { "Receiver" };
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let rid = "7a62c49f-347e-4fc4-9331-6e8e7a96aa73";
    let (ctype, extra, body): (&str, String, Vec<u8>) = match id.service.as_str() {
        "sqs" => {
            // awsJson1_0, awsQueryCompatible: the JSON code plus the query code in a header.
            let json_code = match code {
                "RequestThrottled" => "ThrottlingException",
                "ExpiredToken" => "ExpiredTokenException",
                "AccessDenied" => "AccessDeniedException",
                other => other,
            };
            (
                "application/x-amz-json-1.0",
                format!("x-amzn-query-error: {code};{kind}\r\nx-amzn-RequestId: {rid}\r\n"),
                format!(r#"{{"__type":"com.amazonaws.sqs#{json_code}","message":"{message}"}}"#)
                    .into_bytes(),
            )
        }
        "cloudwatch" => (
            // rpc-v2-cbor; CloudWatch is awsQueryCompatible: the query code in a header, as
            // scripts/moto-cbor-shim.py answers.
            "application/cbor",
            format!(
                "smithy-protocol: rpc-v2-cbor\r\nx-amzn-query-error: {code};{kind}\r\nx-amzn-RequestId: {rid}\r\n"
            ),
            cbor_error(&format!("com.amazonaws.cloudwatch#{code}"), message),
        ),
        "ec2" => (
            "text/xml;charset=UTF-8",
            String::new(),
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>"#
            )
            .into_bytes(),
        ),
        "route53" => (
            "text/xml",
            format!("x-amzn-RequestId: {rid}\r\n"),
            format!(
                r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"#
            )
            .into_bytes(),
        ),
        _ => (
            "text/xml",
            format!("x-amzn-RequestId: {rid}\r\n"),
            format!(
                r#"<ErrorResponse xmlns="https://{svc}.amazonaws.com/doc/"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"#,
                svc = id.service
            )
            .into_bytes(),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// A CBOR map `{"__type": type, "message": message}`.
pub fn cbor_error(error_type: &str, message: &str) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, s: &str) {
        let n = s.len();
        if n < 24 {
            out.push(0x60 | n as u8);
        } else if n < 256 {
            out.extend_from_slice(&[0x78, n as u8]);
        } else {
            out.push(0x79);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = vec![0xa2];
    text(&mut out, "__type");
    text(&mut out, error_type);
    text(&mut out, "message");
    text(&mut out, message);
    out
}
