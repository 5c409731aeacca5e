//! A VU's batch (k6's `http.batch`): requests sent together, each measured
//! as its own request under its own name, over at most `batch_per_host`
//! connections at once per origin; the batch ends when the last one is done.
//!
//! Still one task per VU: the VU keeps several exchanges in flight, each
//! owning the connection of its *lane* (one lane per connection) until its
//! response is in, and between them does what needs the VU itself: redirect
//! hops, cookies and samples (`send`'s pieces), then the caller's work on
//! each final response. Requests start in order as lanes free up: the first
//! waiting request whose origin has a free lane, or fewer than `per_host`
//! lanes, goes next (a redirect hop goes first). Lanes exist only during a
//! batch, so a VU that never batches pays nothing for them; their
//! connections join the VU's idle ones afterwards (a browser keeps its
//! connections too), ready for the next batch.

use std::collections::VecDeque;
use std::future::Future;
use std::task::Poll;

use bytes::Bytes;
use http::Request;
use http::uri::{Authority, Scheme, Uri};
use stampede_scenario::{Batch, Flow, ForEach, ItemKind};
use tokio::time::Instant;

use crate::client::{Conn, Exchange, exchange_on};
use crate::send::{After, Outgoing, Trip};
use crate::vu::{StepRequest, Vu};
use crate::worker::Worker;

/// One request of a batch.
struct Job {
    /// The hop to send next (none while one is in flight or once done).
    req: Option<Request<Bytes>>,
    trip: Trip,
    /// When its first hop left, and its deadline (the timeout covers the
    /// whole chain); `None` until then.
    clock: Option<(Instant, Instant)>,
}

/// One connection of a batch, and the request it carries.
struct Lane {
    origin: Origin,
    /// Absent while an exchange holds it, or before the first connect.
    conn: Option<Conn>,
    /// The body of the lane's current response (when its request keeps it).
    body: Vec<u8>,
    /// The job in flight on the lane.
    job: Option<usize>,
}

/// What a connection is for: scheme and authority.
#[derive(PartialEq)]
struct Origin {
    https: bool,
    authority: Option<Authority>,
}

impl Origin {
    fn of(uri: &Uri) -> Origin {
        Origin { https: uri.scheme() == Some(&Scheme::HTTPS), authority: uri.authority().cloned() }
    }
}

/// An exchange that came back, with what its lane lent it.
struct Landed {
    conn: Option<Conn>,
    body: Vec<u8>,
    exchange: Exchange,
}

impl Vu {
    /// A flow's batch: the requests whose `only_if` holds, each once or once
    /// per element of its `for_each` (or of the batch's `for_each`: all of
    /// them per element), sent together in the batch's group; each final
    /// response's extractors and checks run as it arrives. False when there
    /// was nothing to send (then, like a skipped step, no group and no think
    /// time).
    pub(crate) async fn batch(&mut self, w: &Worker, flow: &Flow, batch: &Batch, for_each: Option<&ForEach>) -> bool {
        let requests: Vec<_> = batch
            .items
            .iter()
            .filter(|item| item.only_if.as_ref().is_none_or(|c| c.holds(self.vars())))
            .filter_map(|item| match item.kind {
                ItemKind::Request(i) => Some((flow.steps.get(i)?, item.for_each.as_ref())),
                ItemKind::Batch(_) => None,
            })
            .collect();
        let mut jobs: Vec<(usize, String)> = Vec::new();
        match for_each {
            Some(each) => {
                for element in each.items(self.vars()) {
                    jobs.extend((0..requests.len()).map(|r| (r, element.clone())));
                }
            }
            None => {
                for (r, (_, each)) in requests.iter().enumerate() {
                    match each {
                        Some(each) => jobs.extend(each.items(self.vars()).into_iter().map(|e| (r, e))),
                        None => jobs.push((r, String::new())),
                    }
                }
            }
        }
        if jobs.is_empty() {
            return false;
        }
        let outs: Vec<StepRequest<'_>> =
            jobs.iter().map(|(r, item)| StepRequest { step: requests[*r].0, item }).collect();
        self.groups.enter(w, self.scenario, batch.group);
        self.send_batch(w, &outs, batch.per_host, u32::MAX, |vu, k, exchange, body, url| match exchange {
            Some(exchange) => vu.finish_step(w, &outs[k], exchange, body, url),
            None => vu.record_unbuildable(w, outs[k].step),
        })
        .await;
        true
    }

    /// Sends the requests of `outs` together, at most `per_host` at once per
    /// origin, each with its redirects, cookies and samples as [`Vu::send`]
    /// does. `done` hears each request's end as it comes: its index, its
    /// final exchange (`None`: a request that could not be built, not
    /// recorded), its body (when kept) and its final URL (when kept).
    pub(crate) async fn send_batch<O: Outgoing>(
        &mut self,
        w: &Worker,
        outs: &[O],
        per_host: u32,
        total: u32,
        mut done: impl FnMut(&mut Vu, usize, Option<Exchange>, &[u8], &str),
    ) {
        let timeout = w.plan.target.timeout;
        let mut jobs = Vec::with_capacity(outs.len());
        let mut waiting = VecDeque::with_capacity(outs.len());
        for (k, out) in outs.iter().enumerate() {
            let req = out.build(self, w, None);
            match req {
                Some(_) => waiting.push_back(k),
                None => done(self, k, None, &[], ""),
            }
            jobs.push(Job { req, trip: Trip::default(), clock: None });
        }
        let mut lanes: Vec<Lane> = Vec::new();
        // In flight, by lane.
        let mut flights = Vec::new();
        loop {
            let mut n = 0;
            let mut in_flight = flights.iter().filter(|f: &&Option<_>| f.is_some()).count();
            while n < waiting.len() && in_flight < total as usize {
                let k = waiting[n];
                let Some(uri) = jobs[k].req.as_ref().map(Request::uri) else {
                    waiting.remove(n);
                    continue;
                };
                let origin = Origin::of(uri);
                let lane = match lanes.iter().position(|l| l.job.is_none() && l.origin == origin) {
                    Some(free) => free,
                    None if lanes.iter().filter(|l| l.origin == origin).count() < per_host as usize => {
                        lanes.push(Lane { conn: self.conns.take(uri), origin, body: Vec::new(), job: None });
                        flights.push(None);
                        lanes.len() - 1
                    }
                    None => {
                        n += 1;
                        continue;
                    }
                };
                waiting.remove(n);
                let job = &mut jobs[k];
                let Some(mut req) = job.req.take() else { continue };
                let (started, deadline) = match job.clock {
                    Some(clock) => clock,
                    None => {
                        self.start(&outs[k], &mut job.trip, &mut req);
                        let now = Instant::now();
                        *job.clock.insert((now, now + outs[k].timeout().unwrap_or(timeout)))
                    }
                };
                let lane_state = &mut lanes[lane];
                lane_state.job = Some(k);
                let (conn, body) = (lane_state.conn.take(), std::mem::take(&mut lane_state.body));
                flights[lane] = Some(Box::pin(fly(w, conn, req, outs[k].keeps_body(), body, started, deadline)));
                in_flight += 1;
            }
            if flights.iter().all(Option::is_none) {
                break;
            }
            let (lane, landed) = std::future::poll_fn(|cx| {
                for (i, flight) in flights.iter_mut().enumerate() {
                    if let Some(fut) = flight
                        && let Poll::Ready(landed) = fut.as_mut().poll(cx)
                    {
                        *flight = None;
                        return Poll::Ready((i, landed));
                    }
                }
                Poll::Pending
            })
            .await;
            let lane = &mut lanes[lane];
            lane.conn = landed.conn;
            lane.body = landed.body;
            let Some(k) = lane.job.take() else { continue };
            match self.arrive(w, &outs[k], &mut jobs[k].trip, landed.exchange) {
                After::Follow(next) => {
                    jobs[k].req = Some(next);
                    waiting.push_front(k);
                }
                After::Done(exchange) => done(self, k, Some(exchange), &lane.body, &jobs[k].trip.url),
                After::Unbuildable => done(self, k, None, &[], ""),
            }
        }
        for lane in lanes {
            if let Some(conn) = lane.conn {
                self.conns.put(conn);
            }
        }
    }
}

/// One exchange on a lane's connection (opened if it has none), bounded by
/// the request's deadline.
async fn fly(
    w: &Worker,
    mut conn: Option<Conn>,
    req: Request<Bytes>,
    keep_body: bool,
    mut body: Vec<u8>,
    started: Instant,
    deadline: Instant,
) -> Landed {
    let mut req = Some(req);
    let fut = exchange_on(&mut conn, &w.client, &w.resolver, &w.pools, &mut req, keep_body, &mut body);
    let exchange = match tokio::time::timeout_at(deadline, fut).await {
        Ok(exchange) => exchange,
        Err(_) => {
            // The connection may be mid-response: not reused.
            conn = None;
            Exchange::timed_out(started)
        }
    };
    Landed { conn, body, exchange }
}
