//! Redirects, host mapping, source addresses, form and multipart bodies,
//! each against a real loopback server that records what it saw.

mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use stampede_engine::RunOptions;
use stampede_metrics::Snapshot;
use stampede_scenario::Overrides;
use support::{plan, run};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    host: String,
    content_type: String,
    cookie: String,
    body: Vec<u8>,
    peer: SocketAddr,
}

type Log = Arc<Mutex<Vec<Seen>>>;
type Handler = fn(&Seen) -> Response<Full<Bytes>>;

/// An HTTP/1.1 server on 127.0.0.1 answering with `handler`; with
/// `close`, every response closes its connection.
async fn serve(handler: Handler, close: bool) -> (SocketAddr, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let l = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let l = l.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| answer(l.clone(), peer, req, handler));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(!close)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, log)
}

async fn answer(
    log: Log,
    peer: SocketAddr,
    req: Request<Incoming>,
    h: Handler,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header =
        |n: http::header::HeaderName| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut seen = Seen {
        method: req.method().to_string(),
        path: req.uri().path_and_query().map_or("/".into(), |p| p.to_string()),
        host: header(http::header::HOST),
        content_type: header(http::header::CONTENT_TYPE),
        cookie: header(http::header::COOKIE),
        body: Vec::new(),
        peer,
    };
    seen.body = req.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    let resp = h(&seen);
    log.lock().unwrap().push(seen);
    Ok(resp)
}

fn redirect(status: u16, to: &str) -> Response<Full<Bytes>> {
    Response::builder().status(status).header("location", to).body(Full::new(Bytes::new())).unwrap()
}

fn ok() -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from_static(b"ok")))
}

/// POST /a → 303 /b (sets a cookie) → 303 c (relative) → 200.
fn chain(s: &Seen) -> Response<Full<Bytes>> {
    match s.path.as_str() {
        "/a" => {
            let mut r = redirect(303, "/b");
            r.headers_mut().insert("set-cookie", "hop=1; Path=/".parse().unwrap());
            r
        }
        "/b" => redirect(303, "c"),
        _ => ok(),
    }
}

/// Samples by (method, status).
fn samples(s: &Snapshot) -> BTreeMap<(String, u16), u64> {
    let mut m = BTreeMap::new();
    for (k, v) in &s.requests {
        *m.entry((k.method.as_str().to_owned(), k.status)).or_default() += v.count();
    }
    m
}

fn one_iteration(target: &str, step: &str) -> String {
    format!(
        r#"
[target]
{target}
[[flows.f.steps]]
name = "checkout"
{step}
[scenarios.s]
executor = "shared-iterations"
vus = 1
iterations = 1
flow = "f"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_303_chain_of_three_hops_is_three_samples_followed_with_get() {
    let (addr, log) = serve(chain, false).await;
    let toml = one_iteration(
        &format!("base_url = \"http://{addr}\""),
        "method = \"POST\"\nurl = \"/a\"\nbody = \"qty=1\"\nchecks = [{ status = 200 }]\nextract = [{ var = \"x\", regex = \"(ok)\" }]",
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(20)).await;
    let seen = log.lock().unwrap().clone();
    let hops: Vec<(&str, &str, usize)> =
        seen.iter().map(|s| (s.method.as_str(), s.path.as_str(), s.body.len())).collect();
    assert_eq!(hops, [("POST", "/a", 5), ("GET", "/b", 0), ("GET", "/c", 0)], "303 turns POST into GET without a body");
    assert_eq!(seen[1].content_type, "", "no Content-Type without a body");
    assert_eq!(seen[1].cookie, "hop=1", "the cookie of hop 1 is sent on hop 2");
    assert_eq!(
        samples(&s),
        BTreeMap::from([(("POST".into(), 303), 1), (("GET".into(), 303), 1), (("GET".into(), 200), 1)]),
        "each hop is a sample of the step's name"
    );
    assert_eq!(s.request_names(), vec![Arc::<str>::from("checkout")]);
    assert_eq!(s.total_failed(), 0);
    let checks: u64 = s.checks.values().map(|c| c.passes).sum();
    assert_eq!(checks, 1, "the check saw the final 200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_redirects_zero_stops_at_the_303_and_307_keeps_the_body() {
    let (addr, log) = serve(chain, false).await;
    let toml = one_iteration(
        &format!("base_url = \"http://{addr}\""),
        "method = \"POST\"\nurl = \"/a\"\nmax_redirects = 0\nchecks = [{ status = 303 }]",
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(20)).await;
    assert_eq!(log.lock().unwrap().len(), 1, "the Location was not fetched");
    assert_eq!(samples(&s), BTreeMap::from([(("POST".into(), 303), 1)]));
    assert_eq!(s.total_failed(), 0);

    // One redirect allowed, two in the chain: the second 303 is the result, counted.
    let (addr, _) = serve(chain, false).await;
    let toml =
        one_iteration(&format!("base_url = \"http://{addr}\"\nmax_redirects = 1"), "method = \"POST\"\nurl = \"/a\"");
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(20)).await;
    assert_eq!(samples(&s), BTreeMap::from([(("POST".into(), 303), 1), (("GET".into(), 303), 1)]));
    assert_eq!(s.all_requests().errors[stampede_metrics::ErrorKind::TooManyRedirects.index()], 1);

    fn keep(s: &Seen) -> Response<Full<Bytes>> {
        if s.path == "/old" { redirect(307, "/new") } else { ok() }
    }
    let (addr, log) = serve(keep, false).await;
    let toml =
        one_iteration(&format!("base_url = \"http://{addr}\""), "method = \"PUT\"\nurl = \"/old\"\njson = { a = 1 }");
    run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(20)).await;
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen[1].method, "PUT");
    assert_eq!(seen[1].body, br#"{"a":1}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_mapping_reaches_loopback_with_the_mapped_name_in_host_and_cookies() {
    fn cookie(s: &Seen) -> Response<Full<Bytes>> {
        let mut r = ok();
        if s.path == "/login" {
            r.headers_mut().insert("set-cookie", "sid=7".parse().unwrap());
        }
        r
    }
    let (addr, log) = serve(cookie, false).await;
    let toml = format!(
        r#"
[target]
base_url = "http://shop.example.com:{port}"
hosts = {{ "*.example.com" = "127.0.0.1" }}
[[flows.f.steps]]
url = "/login"
[[flows.f.steps]]
url = "http://api.example.com:{port}/x"
[[flows.f.steps]]
url = "/again"
[scenarios.s]
executor = "shared-iterations"
vus = 1
iterations = 1
flow = "f"
"#,
        port = addr.port()
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(20)).await;
    assert_eq!(s.total_failed(), 0);
    let seen = log.lock().unwrap().clone();
    let got: Vec<(&str, &str)> = seen.iter().map(|s| (s.host.as_str(), s.cookie.as_str())).collect();
    let h = |n: &str| format!("{n}:{}", addr.port());
    assert_eq!(
        got,
        [
            (h("shop.example.com").as_str(), ""),
            (h("api.example.com").as_str(), ""),
            (h("shop.example.com").as_str(), "sid=7")
        ],
        "Host keeps the name; cookies stay with the name they were set for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_mapping_over_tls_sends_the_mapped_name_as_sni_and_verifies_it() {
    let ca = rcgen::generate_simple_self_signed(vec!["shop.example.com".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("stampede-hosts-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ca.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ca.cert.der().clone()], key)
        .unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let snis: Arc<Mutex<Vec<String>>> = Arc::default();
    let hosts: Arc<Mutex<Vec<String>>> = Arc::default();
    let (sn, hs) = (snis.clone(), hosts.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, sn, hs) = (acceptor.clone(), sn.clone(), hs.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                sn.lock().unwrap().push(tls.get_ref().1.server_name().unwrap_or_default().to_owned());
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let host = req.headers().get("host").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    hs.lock().unwrap().push(host);
                    async { Ok::<_, Infallible>(ok()) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), svc).await;
            });
        }
    });
    let toml = one_iteration(
        &format!(
            "base_url = \"https://shop.example.com\"\nhosts = {{ \"shop.example.com\" = \"{addr}\" }}\ntls_ca = \"{}\"",
            ca_path.display()
        ),
        "url = \"/\"",
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(20)).await;
    assert_eq!(s.total_failed(), 0, "the certificate verified against the mapped name");
    assert_eq!(*snis.lock().unwrap(), ["shop.example.com"]);
    assert_eq!(*hosts.lock().unwrap(), ["shop.example.com"]);

    // The same target without the CA: a counted TLS error, so verification did run.
    let toml = one_iteration(
        &format!("base_url = \"https://shop.example.com\"\nhosts = {{ \"shop.example.com\" = \"{addr}\" }}"),
        "url = \"/\"",
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(20)).await;
    assert_eq!(s.all_requests().errors[stampede_metrics::ErrorKind::Tls.index()], 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_source_addresses_each_carry_a_quarter_of_the_connections() {
    let (addr, log) = serve(|_| ok(), true).await;
    let toml = format!(
        r#"
[target]
base_url = "http://{addr}"
local_ips = ["127.0.0.2", "127.0.0.3-127.0.0.5"]
[[flows.f.steps]]
url = "/"
[scenarios.s]
executor = "shared-iterations"
vus = 2
iterations = 80
flow = "f"
"#
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(30)).await;
    assert_eq!(s.total_failed(), 0);
    // The server closes every connection after its response: one request, one connection.
    let mut per_peer: BTreeMap<String, usize> = BTreeMap::new();
    for seen in log.lock().unwrap().iter() {
        *per_peer.entry(seen.peer.ip().to_string()).or_default() += 1;
    }
    assert_eq!(
        per_peer,
        BTreeMap::from([
            ("127.0.0.2".into(), 20),
            ("127.0.0.3".into(), 20),
            ("127.0.0.4".into(), 20),
            ("127.0.0.5".into(), 20)
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_arrives_byte_for_byte_and_a_form_login_decodes() {
    let dir = std::env::temp_dir().join(format!("stampede-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let photo: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    std::fs::write(dir.join("photo.jpg"), &photo).unwrap();
    let (addr, log) = serve(|_| ok(), false).await;
    let toml = format!(
        r#"
[target]
base_url = "http://{addr}"
[[flows.f.steps]]
method = "POST"
url = "/login"
form = {{ user = "ann o'neil", password = "p@ss w&rd=ü", vu = "{{{{ vu }}}}" }}
[[flows.f.steps]]
method = "POST"
url = "/upload"
multipart = [
  {{ name = "note", value = "hello {{{{ vu }}}}" }},
  {{ name = "file", file = "{}", filename = "p.jpg", content_type = "image/jpeg" }},
]
[scenarios.s]
executor = "shared-iterations"
vus = 1
iterations = 1
flow = "f"
"#,
        dir.join("photo.jpg").display()
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(20)).await;
    assert_eq!(s.total_failed(), 0);
    let seen = log.lock().unwrap().clone();

    let login = &seen[0];
    assert_eq!(login.content_type, "application/x-www-form-urlencoded");
    let fields: BTreeMap<String, String> = std::str::from_utf8(&login.body)
        .unwrap()
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8().unwrap().into_owned()
            };
            (dec(k), dec(v))
        })
        .collect();
    assert_eq!(
        fields,
        BTreeMap::from([
            ("password".into(), "p@ss w&rd=ü".into()),
            ("user".into(), "ann o'neil".into()),
            ("vu".into(), "1".into())
        ])
    );

    let up = &seen[1];
    let boundary = up.content_type.strip_prefix("multipart/form-data; boundary=").expect("multipart Content-Type");
    let parts = split_multipart(&up.body, boundary.as_bytes());
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].0, "Content-Disposition: form-data; name=\"note\"");
    assert_eq!(parts[0].1, b"hello 1");
    assert_eq!(
        parts[1].0,
        "Content-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\nContent-Type: image/jpeg"
    );
    assert!(parts[1].1 == photo, "the file's 70000 bytes arrived unchanged");
    let _ = std::fs::remove_dir_all(&dir);
}

/// (headers, content) of each part of a multipart/form-data body.
fn split_multipart(body: &[u8], boundary: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let mut parts = Vec::new();
    let mut rest = body;
    let find = |h: &[u8], n: &[u8]| h.windows(n.len()).position(|w| w == n);
    let start = find(rest, &delim).unwrap();
    rest = &rest[start + delim.len()..];
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n").unwrap();
        let mut next = b"\r\n".to_vec();
        next.extend_from_slice(&delim);
        let end = find(rest, &next).unwrap();
        let part = &rest[..end];
        let split = find(part, b"\r\n\r\n").unwrap();
        parts.push((String::from_utf8(part[..split].to_vec()).unwrap(), part[split + 4..].to_vec()));
        rest = &rest[end + next.len()..];
    }
    parts
}
