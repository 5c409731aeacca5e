//! The `Attach` handler: authenticates, checks the protocol version, and turns
//! each agent's stream into events for the coordinator's single state machine.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use stampede_proto::v1::{self, agent_message};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::{ConnId, Event};

pub(crate) struct AttachService {
    token: Option<String>,
    events: mpsc::Sender<Event>,
    /// The next connection id; streams are handled concurrently, so the
    /// counter is shared and atomic (ids are never reused).
    next_conn: AtomicU64,
}

impl AttachService {
    pub(crate) fn new(token: Option<String>, events: mpsc::Sender<Event>) -> AttachService {
        AttachService { token, events, next_conn: AtomicU64::new(1) }
    }

    fn authenticate<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let Some(expected) = &self.token else { return Ok(()) };
        let presented = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(())
        } else if presented.is_empty() {
            eprintln!("coordinator: refused an agent from {}: no token", peer(req));
            Err(Status::unauthenticated(
                "this coordinator needs a token: start the agent with --token-file FILE holding the coordinator's token",
            ))
        } else {
            eprintln!("coordinator: refused an agent from {}: wrong token", peer(req));
            Err(Status::unauthenticated("wrong token: the agent's --token-file does not match the coordinator's"))
        }
    }
}

fn peer<T>(req: &Request<T>) -> String {
    req.remote_addr().map_or_else(|| "an unknown address".into(), |a| a.to_string())
}

type OutStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<v1::CoordinatorMessage, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl v1::coordinator_server::Coordinator for AttachService {
    type AttachStream = OutStream;

    async fn attach(&self, req: Request<Streaming<v1::AgentMessage>>) -> Result<Response<Self::AttachStream>, Status> {
        self.authenticate(&req)?;
        let addr = req.remote_addr();
        let mut inbound = req.into_inner();
        let first = tokio::time::timeout(std::time::Duration::from_secs(10), inbound.message())
            .await
            .map_err(|_| Status::invalid_argument("no hello within 10 s"))??;
        let hello = match first.and_then(|m| m.msg) {
            Some(agent_message::Msg::Hello(h)) => h,
            _ => return Err(Status::invalid_argument("the first message must be a hello")),
        };
        if hello.protocol_version != stampede_proto::PROTOCOL_VERSION {
            let why = format!(
                "agent {} speaks protocol version {}, this coordinator speaks {}: run the same Stampede version on both",
                hello.name,
                hello.protocol_version,
                stampede_proto::PROTOCOL_VERSION
            );
            eprintln!("coordinator: refused an agent: {why}");
            return Err(Status::failed_precondition(why));
        }
        let conn: ConnId = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(256);
        let (reply, admitted) = oneshot::channel();
        self.events
            .send(Event::Hello { conn, hello, addr, tx, reply })
            .await
            .map_err(|_| Status::unavailable("the coordinator is shutting down"))?;
        admitted.await.map_err(|_| Status::unavailable("the coordinator is shutting down"))??;
        let events = self.events.clone();
        tokio::spawn(async move {
            let error = loop {
                match inbound.message().await {
                    Ok(Some(msg)) => {
                        if events.send(Event::Message { conn, msg }).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => break None,
                    Err(status) => break Some(status.message().to_string()),
                }
            };
            let _ = events.send(Event::Closed { conn, error }).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
