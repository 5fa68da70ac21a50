//! Counters per hook: calls, refusals, failures, latency (total and max ms), read by
//! `/api/v1/server` and `/metrics` (which also gets the latency histogram recorded here).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::{HookAnswer, HookError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    OnPublish,
    OnPlay,
    OnStreamNotFound,
    OnStreamNoneReader,
    OnStreamChanged,
    OnFlowReport,
}

impl HookKind {
    pub const ALL: [HookKind; 6] = [
        HookKind::OnPublish,
        HookKind::OnPlay,
        HookKind::OnStreamNotFound,
        HookKind::OnStreamNoneReader,
        HookKind::OnStreamChanged,
        HookKind::OnFlowReport,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HookKind::OnPublish => "on_publish",
            HookKind::OnPlay => "on_play",
            HookKind::OnStreamNotFound => "on_stream_not_found",
            HookKind::OnStreamNoneReader => "on_stream_none_reader",
            HookKind::OnStreamChanged => "on_stream_changed",
            HookKind::OnFlowReport => "on_flow_report",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

#[derive(Default)]
struct One {
    calls: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    total_ms: AtomicU64,
    max_ms: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Stats {
    per: [One; 6],
}

impl Stats {
    pub(crate) fn record(&self, kind: HookKind, res: &Result<HookAnswer, HookError>, took: Duration) {
        let o = &self.per[kind.index()];
        let ms = took.as_millis() as u64;
        o.calls.fetch_add(1, Ordering::Relaxed);
        o.total_ms.fetch_add(ms, Ordering::Relaxed);
        o.max_ms.fetch_max(ms, Ordering::Relaxed);
        // `/metrics` latency histogram (a no-op until the binary installs the recorder).
        metrics::histogram!("weir_hook_duration_seconds", "hook" => kind.name()).record(took.as_secs_f64());
        match res {
            Ok(_) => {}
            Err(HookError::Refused { .. }) => {
                o.refused.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                o.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn json(&self) -> Value {
        let mut m = Map::new();
        for k in HookKind::ALL {
            let o = &self.per[k.index()];
            m.insert(
                k.name().into(),
                json!({
                    "calls": o.calls.load(Ordering::Relaxed),
                    "refused": o.refused.load(Ordering::Relaxed),
                    "failed": o.failed.load(Ordering::Relaxed),
                    "total_ms": o.total_ms.load(Ordering::Relaxed),
                    "max_ms": o.max_ms.load(Ordering::Relaxed),
                }),
            );
        }
        Value::Object(m)
    }
}
