//! The MQTT link: one task owns rumqttc's `EventLoop`, polls it and
//! dispatches what comes out; nothing slow runs inside that loop
//! (`shared/STYLE.md`, daemon rule 4). Everything else talks to it through
//! [`MqttLink`], a cloneable handle over rumqttc's bounded request channel.
//!
//! Behaviour:
//! - QoS 1 everywhere, clean session. On every (re)connect the task
//!   resubscribes to all state topics and publishes the retained birth
//!   message `online` on the status topic (`hubd/status`); the broker
//!   publishes the retained last will `offline` if the link dies, and a
//!   graceful shutdown publishes `offline` itself.
//! - Connects are bounded by `connect_timeout`; failed connects back off
//!   exponentially up to `backoff_max`.
//! - Tracked publishes: [`MqttLink::try_publish`] takes an outbox row id.
//!   rumqttc assigns packet ids inside the event loop and reports them as
//!   `Outgoing::Publish(pkid)` in request order, so the handle records row ids
//!   in a FIFO (under a std mutex that is never held across `.await`) in the
//!   same critical section as the `try_publish`, and the task maps the next
//!   `Outgoing::Publish` to the FIFO's head. A PUBACK for that pkid becomes
//!   [`LinkEvent::PubAck`]. When the connection drops, every tracked publish
//!   without a PUBACK is reported in [`LinkEvent::Disconnected`] (clean
//!   session: rumqttc drops them), and the outbox republishes them itself.
//! - Incoming messages go out as [`LinkEvent::Message`] over a bounded
//!   channel (back-pressure on the broker, never an unbounded queue).
//! - Subscriptions: every filter is validated on its own before it is kept
//!   ([`valid_filter`]); a malformed one is refused (logged, and reported by
//!   [`MqttLink::subscribe`]) and never sent. rumqttc refuses a whole
//!   SUBSCRIBE when one of its filters is malformed, and a broker may drop
//!   the connection over one, so a bad filter must never travel with the
//!   others. The valid ones go out in SUBSCRIBEs of up to 64 filters; the
//!   broker answers each filter with its own SUBACK return code, so a filter
//!   it refuses (an ACL, say) does not affect the rest either.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, LastWill, MqttOptions, Outgoing, QoS, Request,
    SubscribeFilter,
};
use thiserror::Error;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

/// Outbox row id carried by a tracked publish.
pub type RowId = i64;

/// How to reach the broker and how to behave on it.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub keep_alive: Duration,
    /// Bound on TCP connect + CONNACK.
    pub connect_timeout: Duration,
    /// First reconnect delay; doubles per failure up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// QoS 1 publishes in flight without PUBACK (rumqttc `inflight`).
    pub inflight: u16,
    /// Capacity of rumqttc's request channel.
    pub request_capacity: usize,
    /// Largest incoming packet accepted; larger ones drop the connection.
    pub max_incoming_packet: usize,
    /// Birth / last-will topic (`hubd/status`), retained `online`/`offline`.
    pub status_topic: String,
    /// TLS transport (`crate::mqtt_tls`); plain TCP when `None`.
    pub tls: Option<crate::mqtt_tls::TlsTransport>,
}

impl MqttSettings {
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        MqttSettings {
            host: host.into(),
            port,
            client_id: client_id.into(),
            username: None,
            password: None,
            keep_alive: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            inflight: 512,
            request_capacity: 4096,
            max_incoming_packet: 2 * 1024 * 1024,
            status_topic: "hubd/status".into(),
            tls: None,
        }
    }
}

/// What the link reports to its consumer (the outbox task).
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// CONNACK received; subscriptions and birth message requested.
    Connected,
    /// The connection dropped. `unacked` are tracked publishes that never got
    /// a PUBACK: the broker may or may not have them.
    Disconnected { unacked: Vec<RowId> },
    /// The broker acknowledged the publish of this outbox row.
    PubAck { row: RowId },
    /// A message on a subscribed topic.
    Message { topic: String, payload: Bytes },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PublishError {
    #[error("MQTT link is not connected")]
    Disconnected,
    #[error("MQTT request queue is full")]
    Full,
    #[error("MQTT link task has stopped")]
    Closed,
    #[error("`{0}` is not a valid MQTT topic to publish to")]
    BadTopic(String),
}

#[derive(Debug, Default)]
struct Shared {
    connected: bool,
    /// Row ids (None = untracked publish) in the order their requests entered
    /// rumqttc's channel and were not yet given a packet id.
    fifo: VecDeque<Option<RowId>>,
    /// Every subscription filter, resubscribed on each connect.
    topics: Vec<String>,
    /// Copies of incoming messages for other subsystems (automations' MQTT
    /// triggers), by filter; a full tap loses the message, not the link.
    taps: Vec<Tap>,
}

/// A subscriber to incoming messages beside the outbox: its filters and
/// where copies go.
#[derive(Debug)]
struct Tap {
    id: u64,
    filters: Vec<String>,
    tx: mpsc::Sender<(String, Bytes)>,
}

/// Cloneable handle to the MQTT link task.
#[derive(Clone)]
pub struct MqttLink {
    client: AsyncClient,
    shared: Arc<Mutex<Shared>>,
    /// Notified on PUBACK and on connect: room may have opened.
    space: Arc<Notify>,
    connected_rx: watch::Receiver<bool>,
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A poisoned lock only means another thread panicked while holding it; the
    // data (a FIFO of ids) is still consistent enough to continue.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn valid_publish_topic(t: &str) -> bool {
    !t.is_empty() && !t.contains(['+', '#', '\0']) && t.len() <= 65535
}

/// A well-formed MQTT subscription filter: non-empty, no NUL, `+` only as a
/// whole level, `#` only as the whole last level (MQTT 3.1.1 4.7).
pub fn valid_filter(f: &str) -> bool {
    !f.contains('\0') && f.len() <= 65535 && rumqttc::valid_filter(f)
}

/// The well-formed filters of `topics`; each malformed one is logged and
/// returned in the second list.
fn split_filters(topics: impl IntoIterator<Item = String>) -> (Vec<String>, Vec<String>) {
    let (good, bad): (Vec<String>, Vec<String>) = topics.into_iter().partition(|t| valid_filter(t));
    for b in &bad {
        tracing::warn!(filter = %b.escape_debug(), "refusing a malformed MQTT subscription filter; the others are kept");
    }
    (good, bad)
}

/// Queue SUBSCRIBEs for `filters` (all valid), 64 per packet.
fn queue_subscriptions(client: &AsyncClient, filters: &[String]) -> Result<(), rumqttc::ClientError> {
    for chunk in filters.chunks(64) {
        client.try_subscribe_many(chunk.iter().map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce)))?;
    }
    Ok(())
}

impl MqttLink {
    /// Publish QoS 1 without waiting. `row` ties the PUBACK to an outbox row.
    pub fn try_publish(
        &self,
        row: Option<RowId>,
        topic: &str,
        payload: impl Into<Vec<u8>>,
        retain: bool,
    ) -> Result<(), PublishError> {
        if !valid_publish_topic(topic) {
            return Err(PublishError::BadTopic(topic.to_string()));
        }
        let mut sh = lock(&self.shared);
        if !sh.connected {
            return Err(PublishError::Disconnected);
        }
        match self.client.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
            Ok(()) => {
                sh.fifo.push_back(row);
                Ok(())
            }
            Err(rumqttc::ClientError::TryRequest(_)) if !self.client_closed() => Err(PublishError::Full),
            Err(_) => Err(PublishError::Closed),
        }
    }

    /// A message that is not an outbox row (automation notifications, timer
    /// events): published now, or, while the link is down or full, by a
    /// background task that waits for it (up to 50 s) rather than hold up
    /// the caller. `what` names the message in the warning if it is dropped.
    pub fn publish_soon(&self, topic: String, payload: Vec<u8>, retain: bool, what: &'static str) {
        match self.try_publish(None, &topic, payload.clone(), retain) {
            Ok(()) => {}
            Err(PublishError::Disconnected | PublishError::Full) => {
                let link = self.clone();
                tokio::spawn(async move {
                    for _ in 0..50 {
                        if link.wait_connected(Duration::from_secs(1)).await {
                            link.wait_space().await;
                            if link.try_publish(None, &topic, payload.clone(), retain).is_ok() {
                                return;
                            }
                        }
                    }
                    tracing::warn!(topic, what, "message not published: the MQTT link stayed down");
                });
            }
            Err(e) => tracing::warn!(topic, what, error = %e, "message not published"),
        }
    }

    fn client_closed(&self) -> bool {
        self.connected_rx.has_changed().is_err()
    }

    /// Wait until a PUBACK or a (re)connect may have made room.
    pub async fn wait_space(&self) {
        self.space.notified().await
    }

    pub fn is_connected(&self) -> bool {
        *self.connected_rx.borrow()
    }

    /// A receiver that follows the connection state.
    pub fn connected_watch(&self) -> watch::Receiver<bool> {
        self.connected_rx.clone()
    }

    /// Wait until connected, or `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut rx = self.connected_rx.clone();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c)).await.map(|r| r.is_ok()).unwrap_or(false)
    }

    /// Add subscriptions (kept for every reconnect). Malformed filters are
    /// refused one by one ([`PublishError::BadTopic`] names the first) and
    /// the well-formed ones are subscribed all the same.
    pub fn subscribe(&self, topics: &[String]) -> Result<(), PublishError> {
        let (good, bad) = split_filters(topics.iter().cloned());
        let mut sh = lock(&self.shared);
        let mut new: Vec<String> = Vec::new();
        for t in good {
            if !sh.topics.contains(&t) && !new.contains(&t) {
                new.push(t);
            }
        }
        sh.topics.extend(new.iter().cloned());
        if sh.connected && !new.is_empty() {
            queue_subscriptions(&self.client, &new).map_err(|_| PublishError::Full)?;
        }
        match bad.into_iter().next() {
            Some(b) => Err(PublishError::BadTopic(b)),
            None => Ok(()),
        }
    }
}

impl MqttLink {
    /// Subscribe to `filters` and receive a copy of every message on them
    /// (`id` names the tap; calling again with the same id replaces its
    /// filters, as a reload does). The channel is bounded: when the receiver
    /// falls behind, messages for it are dropped and logged.
    pub fn tap(&self, id: u64, filters: Vec<String>, tx: mpsc::Sender<(String, Bytes)>) -> Result<(), PublishError> {
        {
            let mut sh = lock(&self.shared);
            sh.taps.retain(|t| t.id != id);
            sh.taps.push(Tap { id, filters: filters.clone(), tx });
        }
        self.subscribe(&filters)
    }

    fn copy_to_taps(&self, topic: &str, payload: &Bytes) {
        let sh = lock(&self.shared);
        for t in &sh.taps {
            if t.filters.iter().any(|f| rumqttc::matches(topic, f))
                && let Err(mpsc::error::TrySendError::Full(_)) = t.tx.try_send((topic.to_string(), payload.clone()))
            {
                tracing::warn!(topic, "a subscriber of MQTT messages is behind; message dropped for it");
            }
        }
    }
}

/// Start the link task. Returns the handle and the task; the task ends when
/// `shutdown` turns true (after publishing `offline` and disconnecting,
/// bounded by one second) or when `events`' receiver is dropped.
pub fn spawn(
    settings: MqttSettings,
    topics: Vec<String>,
    events: mpsc::Sender<LinkEvent>,
    shutdown: watch::Receiver<bool>,
) -> (MqttLink, JoinHandle<()>) {
    let mut opts = MqttOptions::new(settings.client_id.clone(), settings.host.clone(), settings.port);
    opts.set_keep_alive(settings.keep_alive.max(Duration::from_secs(1)));
    opts.set_clean_session(true);
    opts.set_inflight(settings.inflight.max(1));
    opts.set_max_packet_size(settings.max_incoming_packet, settings.max_incoming_packet);
    opts.set_last_will(LastWill::new(&settings.status_topic, "offline", QoS::AtLeastOnce, true));
    match (&settings.username, &settings.password) {
        (Some(u), Some(p)) => {
            opts.set_credentials(u.clone(), p.clone());
        }
        (Some(u), None) => {
            opts.set_credentials(u.clone(), "");
        }
        _ => {}
    }
    if let Some(t) = &settings.tls {
        opts.set_transport(t.transport());
    }
    let (client, mut eventloop) = AsyncClient::new(opts, settings.request_capacity.max(16));
    let mut net = rumqttc::NetworkOptions::new();
    net.set_connection_timeout(settings.connect_timeout.as_secs().max(1));
    net.set_tcp_nodelay(true);
    eventloop.set_network_options(net);

    let (topics, _) = split_filters(topics);
    let shared = Arc::new(Mutex::new(Shared { topics, ..Default::default() }));
    let space = Arc::new(Notify::new());
    let (connected_tx, connected_rx) = watch::channel(false);
    let link = MqttLink { client, shared, space, connected_rx };
    let task = LinkTask { link: link.clone(), settings, events, pkids: HashMap::new(), collided: None, connected_tx };
    let handle = tokio::spawn(task.run(eventloop, shutdown));
    (link, handle)
}

struct LinkTask {
    link: MqttLink,
    settings: MqttSettings,
    events: mpsc::Sender<LinkEvent>,
    /// Packet id -> row of publishes awaiting PUBACK.
    pkids: HashMap<u16, Option<RowId>>,
    /// A publish rumqttc parked on a packet-id collision.
    collided: Option<(u16, Option<RowId>)>,
    connected_tx: watch::Sender<bool>,
}

enum Flow {
    Continue,
    Stop,
}

impl LinkTask {
    async fn run(mut self, mut eventloop: EventLoop, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = self.settings.backoff_min;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let polled = tokio::select! {
                _ = shutdown.changed() => break,
                ev = eventloop.poll() => ev,
            };
            match polled {
                Ok(ev) => {
                    if matches!(ev, Event::Incoming(Incoming::ConnAck(_))) {
                        backoff = self.settings.backoff_min;
                    }
                    if let Flow::Stop = self.dispatch(ev).await {
                        return;
                    }
                }
                Err(err) => {
                    if let Flow::Stop = self.on_error(&mut eventloop, &err).await {
                        return;
                    }
                    tracing::warn!(error = %err, host = %self.settings.host, port = self.settings.port,
                        retry_in_ms = backoff.as_millis() as u64, "MQTT connection error");
                    tokio::select! {
                        _ = shutdown.changed() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(self.settings.backoff_max);
                }
            }
        }
        self.graceful_disconnect(&mut eventloop).await;
    }

    async fn dispatch(&mut self, ev: Event) -> Flow {
        match ev {
            Event::Incoming(Incoming::ConnAck(ack)) => {
                tracing::info!(host = %self.settings.host, port = self.settings.port, code = ?ack.code, "MQTT connected");
                self.on_connected();
                if self.events.send(LinkEvent::Connected).await.is_err() {
                    return Flow::Stop;
                }
            }
            Event::Incoming(Incoming::Publish(p)) => {
                self.link.copy_to_taps(&p.topic, &p.payload);
                let msg = LinkEvent::Message { topic: p.topic, payload: p.payload };
                if self.events.send(msg).await.is_err() {
                    return Flow::Stop;
                }
            }
            Event::Incoming(Incoming::PubAck(ack)) => {
                let row = self.pkids.remove(&ack.pkid);
                self.link.space.notify_waiters();
                if let Some(Some(row)) = row
                    && self.events.send(LinkEvent::PubAck { row }).await.is_err()
                {
                    return Flow::Stop;
                }
            }
            Event::Incoming(Incoming::SubAck(ack)) => {
                let failed =
                    ack.return_codes.iter().filter(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)).count();
                if failed > 0 {
                    tracing::warn!(failed, "broker refused some MQTT subscriptions");
                }
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                let row = match self.collided {
                    Some((p, row)) if p == pkid => {
                        self.collided = None;
                        row
                    }
                    _ => lock(&self.link.shared).fifo.pop_front().flatten(),
                };
                if pkid != 0 {
                    self.pkids.insert(pkid, row);
                }
            }
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => {
                let row = lock(&self.link.shared).fifo.pop_front().flatten();
                self.collided = Some((pkid, row));
            }
            _ => {}
        }
        Flow::Continue
    }

    fn on_connected(&mut self) {
        self.pkids.clear();
        self.collided = None;
        let mut sh = lock(&self.link.shared);
        if let Err(e) = queue_subscriptions(&self.link.client, &sh.topics) {
            tracing::warn!(error = %e, "could not queue MQTT subscriptions");
        }
        match self.link.client.try_publish(&self.settings.status_topic, QoS::AtLeastOnce, true, "online") {
            Ok(()) => sh.fifo.push_back(None),
            Err(e) => tracing::warn!(error = %e, "could not queue the birth message"),
        }
        sh.connected = true;
        drop(sh);
        let _ = self.connected_tx.send(true);
        self.link.space.notify_waiters();
    }

    async fn on_error(&mut self, eventloop: &mut EventLoop, err: &ConnectionError) -> Flow {
        let mut unacked: Vec<RowId> = Vec::new();
        {
            let mut sh = lock(&self.link.shared);
            let was_connected = sh.connected;
            sh.connected = false;
            if was_connected {
                // rumqttc's `clean()` moved the requests still in its channel to
                // `pending` (packet id 0: never assigned) next to the in-flight
                // ones. With a clean session they are all dropped at the next
                // CONNACK, so the FIFO heads that belong to them are lost too.
                let drained =
                    eventloop.pending.iter().filter(|r| matches!(r, Request::Publish(p) if p.pkid == 0)).count();
                for _ in 0..drained {
                    if let Some(Some(row)) = sh.fifo.pop_front() {
                        unacked.push(row);
                    }
                }
            }
            eventloop.pending.clear();
            eventloop.state.collision = None;
        }
        unacked.extend(self.pkids.drain().filter_map(|(_, r)| r));
        if let Some((_, Some(row))) = self.collided.take() {
            unacked.push(row);
        }
        let _ = self.connected_tx.send(false);
        let _ = err;
        if self.events.send(LinkEvent::Disconnected { unacked }).await.is_err() {
            return Flow::Stop;
        }
        Flow::Continue
    }

    async fn graceful_disconnect(&mut self, eventloop: &mut EventLoop) {
        let connected = {
            let mut sh = lock(&self.link.shared);
            let c = sh.connected;
            sh.connected = false;
            c
        };
        let _ = self.connected_tx.send(false);
        if !connected {
            return;
        }
        let _ = self.link.client.try_publish(&self.settings.status_topic, QoS::AtLeastOnce, true, "offline");
        let _ = self.link.client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        tracing::info!("MQTT link closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Against a real (embedded rumqttd) broker: 300 tracked publishes with
    /// an in-flight window of 8, so packet ids are reused ~40 times; every
    /// PUBACK must come back as exactly its own row. Subscribed messages are
    /// delivered as `Message` events.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pubacks_map_to_their_rows_and_messages_arrive() {
        let broker = crate::broker::start(0).unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        let (_stop, stop_rx) = watch::channel(false);
        let mut s = MqttSettings::new("127.0.0.1", broker.addr.port(), "hubd-mqtt-test");
        s.inflight = 8;
        let (link, _task) = spawn(s, vec!["echo/#".into()], tx, stop_rx);
        assert!(link.wait_connected(Duration::from_secs(5)).await);
        const N: i64 = 300;
        let mut next = 0;
        let mut acked = BTreeSet::new();
        let mut echoed = false;
        let mut echo_sent = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while acked.len() < N as usize || !echoed {
            while next < N {
                match link.try_publish(Some(next), "test/rows", format!("row {next}"), false) {
                    Ok(()) => next += 1,
                    Err(PublishError::Full) => break,
                    Err(e) => panic!("publish: {e}"),
                }
            }
            if !echo_sent && acked.len() == N as usize {
                link.try_publish(None, "echo/a", "hello", false).unwrap();
                echo_sent = true;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await.expect("timed out").unwrap() {
                LinkEvent::PubAck { row } => assert!(acked.insert(row), "row {row} acked twice"),
                LinkEvent::Message { topic, payload } if topic == "echo/a" => {
                    assert_eq!(&payload[..], b"hello");
                    echoed = true;
                }
                _ => {}
            }
        }
        assert_eq!(acked, (0..N).collect::<BTreeSet<_>>());
        assert!(
            link.try_publish(Some(1), "bad/+/topic", "x", false) == Err(PublishError::BadTopic("bad/+/topic".into()))
        );
    }

    /// A malformed filter among good ones: the good ones are subscribed and
    /// deliver; the bad one is refused alone (issue 17, item 4: one
    /// `stat/#/RESULT` used to make rumqttc drop the whole SUBSCRIBE).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_malformed_filter_does_not_take_the_others_down() {
        let broker = crate::broker::start(0).unwrap();
        let (tx, mut rx) = mpsc::channel(64);
        let (_stop, stop_rx) = watch::channel(false);
        let s = MqttSettings::new("127.0.0.1", broker.addr.port(), "hubd-mqtt-filters");
        let topics = vec!["good/a".to_string(), "stat/#/RESULT".to_string(), "good/b".to_string(), "x\0y".into()];
        let (link, _task) = spawn(s, topics, tx, stop_rx);
        assert!(link.wait_connected(Duration::from_secs(5)).await);
        // Added later, in one call with a bad one.
        let added = link.subscribe(&["good/c".to_string(), "a/b#".to_string()]);
        assert_eq!(added, Err(PublishError::BadTopic("a/b#".into())));
        let want = ["good/a", "good/b", "good/c"];
        let mut got = BTreeSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while got.len() < want.len() {
            // Publish until each subscription has delivered (SUBACKs race the first publishes).
            for t in want {
                if !got.contains(t) {
                    let _ = link.try_publish(None, t, "on", false);
                }
            }
            match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                Ok(Some(LinkEvent::Message { topic, .. })) => {
                    got.insert(topic);
                }
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => panic!("link stopped"),
            }
            assert!(tokio::time::Instant::now() < deadline, "only {got:?} delivered");
        }
        assert!(link.is_connected(), "the link stayed up");
    }

    #[test]
    fn filter_validation() {
        for ok in ["a/b", "a/+/c", "a/#", "#", "+", "zigbee2mqtt/Hall Lamp"] {
            assert!(valid_filter(ok), "{ok}");
        }
        for bad in ["", "a/#/c", "a/b#", "a+/b", "x\0y", "stat/#/RESULT"] {
            assert!(!valid_filter(bad), "{bad:?}");
        }
    }

    #[test]
    fn publish_topic_validation() {
        assert!(valid_publish_topic("zigbee2mqtt/kitchen/set"));
        assert!(!valid_publish_topic(""));
        assert!(!valid_publish_topic("a/+/b"));
        assert!(!valid_publish_topic("a/#"));
    }
}
