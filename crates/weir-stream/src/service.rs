//! How an adapter outside the stream owner's thread (RTMP, HLS, relays) publishes a stream or
//! subscribes to one. The media engine implements [`StreamService`]; adapters depend on this
//! trait only, never on the engine or on another adapter.

use std::time::Duration;

use weir_core::{BoxFuture, StreamKey};

use crate::port::{SinkPort, SourcePort, DEFAULT_PORT_CAPACITY};
use crate::{HubError, TrackDesc};

#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub key: StreamKey,
    /// Shown in the directory as the source's protocol: `rtmp`, `testsrc`, ...
    pub protocol: &'static str,
    /// Shown in the directory as the source's session id; one is generated when `None`.
    pub id: Option<String>,
    pub tracks: Vec<TrackDesc>,
    /// Units the source port's ring holds (see [`DEFAULT_PORT_CAPACITY`]).
    pub capacity: usize,
}

impl PublishRequest {
    pub fn new(key: StreamKey, protocol: &'static str, tracks: Vec<TrackDesc>) -> Self {
        PublishRequest { key, protocol, id: None, tracks, capacity: DEFAULT_PORT_CAPACITY }
    }
}

#[derive(Debug, Clone)]
pub struct SubscribeRequest {
    pub key: StreamKey,
    pub protocol: &'static str,
    pub id: Option<String>,
    /// How long to wait for a source that is not there yet (`general.maxStreamWaitMS`).
    pub max_wait: Duration,
    /// Events the sink port's ring holds; a sink that falls this far behind loses units and
    /// resynchronises at the next keyframe.
    pub capacity: usize,
}

impl SubscribeRequest {
    pub fn new(key: StreamKey, protocol: &'static str) -> Self {
        SubscribeRequest { key, protocol, id: None, max_wait: Duration::ZERO, capacity: DEFAULT_PORT_CAPACITY }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("server busy: {0}")]
    Overloaded(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the stream owner offers adapters on other threads.
pub trait StreamService: Send + Sync + 'static {
    /// Becomes the source of a stream. Dropping the port releases the source (the stream's
    /// grace period applies, as for any source that leaves).
    fn publish(&self, req: PublishRequest) -> BoxFuture<'_, Result<(SourcePort, PublishedStream), StreamError>>;
    /// Becomes a sink of a stream (after waiting up to `max_wait` for a source). Dropping the
    /// port leaves the stream.
    fn subscribe(&self, req: SubscribeRequest) -> BoxFuture<'_, Result<SinkPort, StreamError>>;
}

/// What a publisher learns when it takes a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedStream {
    /// The source id shown in the directory.
    pub id: String,
    /// A previous source left within the grace period and this one takes over its sinks.
    pub resumed: bool,
}
