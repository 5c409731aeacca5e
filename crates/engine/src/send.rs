//! Sending one request as k6 does: its redirect chain followed hop by hop
//! (Go's rules for methods, bodies and credentials), the VU's cookies sent
//! and stored on every hop, each hop recorded as a request sample, and the
//! timeout over the whole chain.
//!
//! What a request *is* comes from an [`Outgoing`]: a TOML step
//! ([`crate::vu::StepRequest`]) or a request given at run time
//! ([`crate::body::RequestSpec`], a script's `http.request()`). What is
//! done with the final response (extractors, checks, a script's `Response`)
//! is the caller's. The pieces are split so a batch can drive several trips
//! at once: [`Vu::start`] before the first hop, the network in between, then
//! [`Vu::arrive`], which either hands back the next hop or records the
//! result; [`Vu::send`] is that loop for one request on its own.
//!
//! These futures are part of every VU task, so their size is per-VU memory:
//! requests are built inside them or borrowed, never passed in by value (an
//! async fn stores such an argument twice).

use bytes::Bytes;
use http::{Method, Request, Uri};
use stampede_metrics::{ErrorKind, RequestId, RequestSample};
use tokio::time::Instant;

use crate::cdn;
use crate::client::Exchange;
use crate::vu::Vu;
use crate::worker::Worker;

/// A request as its sender knows it: how to build it (again for each
/// redirect hop) and how its samples are labelled.
pub(crate) trait Outgoing {
    /// The request, or with `hop` the request of a redirect; `None` when a
    /// rendered value is not valid HTTP. Cookies are not its business.
    fn build(&self, vu: &mut Vu, w: &Worker, hop: Option<Redirect>) -> Option<Request<Bytes>>;
    /// The series of a sample of this request with `method` and `status`.
    fn request_id(&self, scenario: u16, method: &Method, status: u16) -> RequestId;
    /// Redirects followed (0: none).
    fn max_redirects(&self) -> u32;
    /// The response body is kept (for checks, extractors, a script).
    fn keeps_body(&self) -> bool;
    /// The final URL is wanted after the response.
    fn keeps_url(&self) -> bool;
    /// Over the whole chain; `None`: the target's `timeout`.
    fn timeout(&self) -> Option<std::time::Duration> {
        None
    }
    /// The error a hop's response counts as, given the client's verdict
    /// (k6's `expectedStatuses` may turn a 404 into a success and a 201
    /// into a failure); the client's by default.
    fn judge(&self, _status: u16, error: Option<ErrorKind>) -> Option<ErrorKind> {
        error
    }
    /// The request name of a hop to `url` when it is not the request's own
    /// (a script's request without a `name` tag: k6 names each hop by its
    /// URL); `None`: the request's.
    fn hop_name(&self, _w: &Worker, _url: &str) -> Option<u32> {
        None
    }
    /// A `Cookie` header the request has is kept, the jar's cookies added
    /// before it (a script's `cookies` param); otherwise the jar's replace it.
    fn merges_cookies(&self) -> bool {
        false
    }
}

/// The next request of a redirect chain.
pub(crate) struct Redirect {
    pub uri: Uri,
    pub method: Method,
    /// Repeat the original body (307/308).
    pub body: bool,
    /// The new host is the first one or a subdomain of it: credentials
    /// (`Authorization`, `Cookie` headers) may follow.
    pub same_domain: bool,
}

/// One request's way through its redirect chain, in buffers reused from
/// request to request.
#[derive(Debug, Default)]
pub(crate) struct Trip {
    /// URL of the hop in flight (without userinfo), when a redirect may
    /// follow or the final URL is wanted; empty otherwise. After the trip:
    /// the final URL.
    pub url: String,
    /// Host of the hop in flight: cookies are scoped by it.
    host: String,
    /// Method of the hop in flight (its sample's).
    method: Method,
    /// Redirects followed so far.
    hops: u32,
}

/// What follows a hop's response.
pub(crate) enum After {
    /// A redirect to follow: send this request (already prepared) next.
    Follow(Request<Bytes>),
    /// The trip's result, recorded.
    Done(Exchange),
    /// A redirect whose request could not be built (recorded by the caller).
    Unbuildable,
}

impl Vu {
    /// Prepares `req` as the first hop of `trip`.
    pub(crate) fn start(&mut self, out: &impl Outgoing, trip: &mut Trip, req: &mut Request<Bytes>) {
        trip.hops = 0;
        self.depart(out, trip, req);
    }

    /// Notes the URL, host and method of the hop about to be sent, and adds
    /// the cookies the jar has for its host (replacing a `Cookie` header the
    /// request has, as before; a batch's requests see the jar as it is when
    /// each one is sent).
    fn depart(&mut self, out: &impl Outgoing, trip: &mut Trip, req: &mut Request<Bytes>) {
        let uri = req.uri();
        trip.host.clear();
        trip.host.push_str(uri.host().unwrap_or(""));
        trip.method.clone_from(req.method());
        trip.url.clear();
        if out.max_redirects() > 0 || out.keeps_url() {
            // The URI's text, piece by piece (cheaper than formatting it).
            if let Some(scheme) = uri.scheme_str() {
                trip.url.push_str(scheme);
                trip.url.push_str("://");
            }
            trip.url.push_str(uri.authority().map_or("", |a| a.as_str()));
            trip.url.push_str(uri.path_and_query().map_or("/", |p| p.as_str()));
        }
        if let Some(cookie) = self.jar.header(&trip.host, &mut self.buf) {
            let own = if out.merges_cookies() { req.headers().get(http::header::COOKIE) } else { None };
            let merged = own.and_then(|own| {
                let mut both = cookie.as_bytes().to_vec();
                both.extend_from_slice(b"; ");
                both.extend_from_slice(own.as_bytes());
                http::HeaderValue::from_bytes(&both).ok()
            });
            req.headers_mut().insert(http::header::COOKIE, merged.unwrap_or(cookie));
        }
    }

    /// After the response (or failure) of the hop in flight: the next hop
    /// when it is a redirect to follow (this hop recorded as a sample of its
    /// own, its cookies stored), else the trip's result, recorded with its
    /// CDN classification and its cookies stored.
    pub(crate) fn arrive(&mut self, w: &Worker, out: &impl Outgoing, trip: &mut Trip, mut exchange: Exchange) -> After {
        let status = exchange.response.as_ref().map_or(0, |p| p.status.as_u16());
        exchange.error = out.judge(status, exchange.error);
        let id_of = |trip: &Trip, scenario: u16| {
            let mut id = out.request_id(scenario, &trip.method, status);
            if let Some(name) = out.hop_name(w, &trip.url) {
                id.name = name;
            }
            id
        };
        if out.max_redirects() > 0 && matches!(status, 301 | 302 | 303 | 307 | 308) {
            let location = exchange.response.as_ref().and_then(|p| p.headers.get(http::header::LOCATION));
            let next = location
                .zip(trip.url.parse::<Uri>().ok())
                .and_then(|(l, base)| crate::redirect::resolve(&base, l.as_bytes()).map(|(next, _)| (base, next)));
            // Without a usable Location this response is the result (Go too
            // returns a 3xx without Location as is).
            if let Some((base, next)) = next {
                if trip.hops == out.max_redirects() {
                    // As k6: the last redirect is the result; counted so it shows.
                    exchange.error = Some(ErrorKind::TooManyRedirects);
                } else {
                    trip.hops += 1;
                    w.record_request(id_of(trip, self.scenario), &sample(&exchange));
                    if let Some(parts) = &exchange.response {
                        self.jar.store(&trip.host, &parts.headers);
                    }
                    // Go's rules (k6's): 301/302/303 turn anything but
                    // GET/HEAD into a GET without a body; 307/308 repeat the
                    // method and the body.
                    let keep = matches!(status, 307 | 308);
                    let method = if keep || trip.method == Method::GET || trip.method == Method::HEAD {
                        trip.method.clone()
                    } else {
                        Method::GET
                    };
                    let same_domain = crate::redirect::same_domain(&base, &next);
                    let hop = Redirect { uri: next, method, body: keep, same_domain };
                    return match out.build(self, w, Some(hop)) {
                        Some(mut req) => {
                            self.depart(out, trip, &mut req);
                            After::Follow(req)
                        }
                        None => After::Unbuildable,
                    };
                }
            }
        }
        w.record_request(id_of(trip, self.scenario), &sample(&exchange));
        if let Some(parts) = &exchange.response {
            self.jar.store(&trip.host, &parts.headers);
        }
        After::Done(exchange)
    }

    /// Sends the request `out` builds on the VU's connections and follows
    /// its redirects: the final exchange, its body in `body` (when kept),
    /// the final URL in `trip.url` (when kept); `None` when the request or a
    /// redirect's could not be built (nothing recorded).
    pub(crate) async fn send(
        &mut self,
        w: &Worker,
        out: &impl Outgoing,
        trip: &mut Trip,
        body: &mut Vec<u8>,
    ) -> Option<Exchange> {
        // Built here rather than passed in: an async fn stores a by-value
        // argument twice in its future (and every VU task carries this one).
        let mut first = out.build(self, w, None)?;
        self.start(out, trip, &mut first);
        let mut req = Some(first);
        // The timeout covers the whole redirect chain, as Go's client
        // timeout (and so k6's) does.
        let timeout = out.timeout().unwrap_or(w.plan.target.timeout);
        let deadline = Instant::now() + timeout;
        loop {
            body.clear();
            let fut = self.conns.exchange(&w.client, &w.resolver, &w.pools, &mut req, out.keeps_body(), body);
            let exchange = match tokio::time::timeout_at(deadline, fut).await {
                Ok(exchange) => exchange,
                Err(_) => Exchange::timed_out(deadline - timeout),
            };
            match self.arrive(w, out, trip, exchange) {
                After::Follow(next) => req = Some(next),
                After::Done(exchange) => return Some(exchange),
                After::Unbuildable => return None,
            }
        }
    }
}

/// The sample of an exchange (a hop's, or a trip's result).
fn sample(exchange: &Exchange) -> RequestSample {
    RequestSample {
        timings: exchange.timings,
        bytes_sent: exchange.bytes_sent,
        bytes_received: exchange.bytes_received,
        body_bytes: exchange.body_bytes,
        error: exchange.error,
        cache: exchange
            .response
            .as_ref()
            .map_or(stampede_metrics::CacheOutcome::Unknown, |p| cdn::classify(&p.headers)),
    }
}
