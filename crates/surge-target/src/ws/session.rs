//! One WebSocket session: a single task that waits on four things at once (the client's next
//! frame, the connection's outbox of delivered messages, its data centre's drop signal, and the next
//! frame crossing its network distance, [`super::link`]), so a held idle connection costs one task,
//! one socket and tungstenite's 4 KiB read buffer.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message, Utf8Bytes};

use super::MAX_FRAME_BYTES;
use super::dc::{Held, Outcome, WsDc};
use super::link::{Distance, Link};
use super::protocol::{ClientFrame, ServerFrame};
use crate::backend::{Backend, ConnRng};
use crate::codes::{discovery_hash, pack_number, unpack_number};
use crate::timer::Timer;

/// How long a closing session waits for the client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Salt of the delivery-time draws, so they differ from the connection's handshake draws.
const DELIVERY_SALT: u64 = 0x6465_6c69_7665_7279;

type Ws = WebSocketStream<TokioIo<Upgraded>>;

/// What the session does after a client frame.
enum Step {
    Continue,
    Reply(String),
    Close(CloseCode, &'static str),
    End,
    /// A frame has crossed the connection's distance (either way).
    Due,
}

/// The per-session context of frame handling.
struct Session {
    backend: Arc<Backend>,
    dc: usize,
    from: String,
    rng: ConnRng,
}

fn config() -> WebSocketConfig {
    // tungstenite's defaults allocate a 128 KiB read buffer per connection (measured: 134 KiB of
    // RSS per idle connection, bench/ws-lib.sh); 4 KiB keeps an idle one near 6 KiB.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .max_message_size(Some(MAX_FRAME_BYTES))
}

/// Runs the session of `account` on an upgraded connection until either side closes; its frames
/// cross `distance` each way.
pub(crate) async fn run(
    backend: Arc<Backend>,
    io: Upgraded,
    account: u64,
    held: Held,
    seed: u64,
    distance: Distance,
) {
    let dc = held.dc();
    let mut ws =
        WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, Some(config())).await;
    let mut conn = backend.hub.connect(account);
    backend.ws[dc].count(Outcome::Delivered, conn.from_mailbox);
    let mut drops = backend.ws[dc].drops();
    drops.borrow_and_update();
    // A handshake admitted just before a restart began must not outlive it.
    if backend.ws[dc].down_for(backend.now_ms()).is_some() {
        drops.mark_changed();
    }
    let session = Session {
        from: unpack_number(backend.numbers.get(account)),
        rng: ConnRng::new(seed ^ DELIVERY_SALT, conn.id),
        backend: Arc::clone(&backend),
        dc,
    };
    let mut link = Link::new(distance);
    let close = loop {
        let due = link.next_due();
        let step = tokio::select! {
            biased;
            _ = drops.changed() => Step::Close(CloseCode::Away, "going away"),
            () = wait_until(&backend.timer, due), if due.is_some() => Step::Due,
            out = conn.outbox.recv(), if link.room_out() => match out {
                Some(text) if link.is_direct() => send(&mut ws, text).await,
                Some(text) => {
                    link.send(text, &session.rng);
                    Step::Continue
                }
                None => Step::End,
            },
            frame = ws.next(), if link.room_in() => match frame {
                Some(Ok(Message::Text(text))) if !link.is_direct() => {
                    link.receive(text, &session.rng);
                    Step::Continue
                }
                frame => session.on_frame(frame),
            },
        };
        let step = match step {
            Step::Due => session.arrived(&mut link, &mut ws).await,
            Step::Reply(text) if !link.is_direct() => {
                link.send(text.into(), &session.rng);
                Step::Continue
            }
            step => step,
        };
        match step {
            Step::Continue | Step::Due => {}
            Step::Reply(text) => {
                if let Step::End = send(&mut ws, text.into()).await {
                    break None;
                }
            }
            Step::Close(code, reason) => break Some((code, reason)),
            Step::End => break None,
        }
        // Pongs to ping control frames are queued by tungstenite; write them now.
        if ws.flush().await.is_err() {
            break None;
        }
    };
    backend.hub.disconnect(account, conn.id);
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let closing = async {
            if ws.close(Some(frame)).await.is_ok() {
                while let Some(Ok(_)) = ws.next().await {}
            }
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, closing).await;
    }
    drop(held);
}

/// Sleeps until `due` on the backend's timer (precise, like the API's network time).
async fn wait_until(timer: &Timer, due: Option<tokio::time::Instant>) {
    if let Some(due) = due {
        let left = due.saturating_duration_since(tokio::time::Instant::now());
        timer.sleep(left).await;
    }
}

async fn send(ws: &mut Ws, text: Utf8Bytes) -> Step {
    match ws.send(Message::Text(text)).await {
        Ok(()) => Step::Continue,
        Err(_) => Step::End,
    }
}

impl Session {
    /// Handles the client frames that have crossed in (their replies start crossing out), then
    /// writes the frames that have crossed out.
    async fn arrived(&self, link: &mut Link, ws: &mut Ws) -> Step {
        while let Some(text) = link.arrived_in() {
            match self.on_text(text.as_str()) {
                Step::Reply(reply) => link.send(reply.into(), &self.rng),
                Step::Continue | Step::Due => {}
                end => return end,
            }
        }
        while let Some(text) = link.arrived_out() {
            if let Step::End = send(ws, text).await {
                return Step::End;
            }
        }
        Step::Continue
    }

    fn on_frame(&self, frame: Option<Result<Message, Error>>) -> Step {
        match frame {
            Some(Ok(Message::Text(text))) => self.on_text(text.as_str()),
            Some(Ok(Message::Binary(_))) => Step::Close(CloseCode::Policy, "text frames only"),
            Some(Ok(Message::Close(_))) | None => Step::End,
            Some(Ok(_)) => Step::Continue,
            Some(Err(Error::Capacity(_))) => Step::Close(CloseCode::Size, "frame too big"),
            Some(Err(Error::Utf8(_))) => Step::Close(CloseCode::Invalid, "invalid utf-8"),
            Some(Err(Error::Protocol(_))) => Step::Close(CloseCode::Protocol, "protocol error"),
            Some(Err(_)) => Step::End,
        }
    }

    fn on_text(&self, text: &str) -> Step {
        match ClientFrame::parse(text) {
            None => Step::Close(CloseCode::Policy, "malformed frame"),
            Some(ClientFrame::Ping) => Step::Reply(ServerFrame::Pong.render()),
            Some(ClientFrame::Send { id, to, body }) => {
                let backend = &self.backend;
                let ws = &backend.ws[self.dc];
                let recipient =
                    pack_number(&to).and_then(|_| backend.accounts.id_of(discovery_hash(&to)));
                let Some(recipient) = recipient else {
                    ws.count(Outcome::UnknownRecipient, 1);
                    let code = "unknown_recipient";
                    return Step::Reply(ServerFrame::Error { id: &id, code }.render());
                };
                let from = &self.from;
                let message = ServerFrame::Message {
                    id: &id,
                    from,
                    body,
                }
                .render();
                let z = self.rng.next_normal();
                if !WsDc::enqueue(backend, self.dc, z, recipient, message.into()) {
                    ws.count(Outcome::Dropped, 1);
                    return Step::Close(CloseCode::Again, "delivery queue full");
                }
                ws.count(Outcome::Routed, 1);
                Step::Reply(ServerFrame::Ack { id: &id }.render())
            }
        }
    }
}
