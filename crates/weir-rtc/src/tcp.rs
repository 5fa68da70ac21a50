//! ICE-TCP (RFC 6544) transport: passive TCP candidates on the media port, RFC 4571 framing.
//! Each connection is a small task that turns the byte stream into whole packets for the engine
//! and writes the engine's packets back, framed. Everything ICE/DTLS-level stays in the engine.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::demux::Rfc4571Decoder;

pub enum TcpEvent {
    Opened { peer: SocketAddr, tx: mpsc::Sender<Vec<u8>> },
    Frame { peer: SocketAddr, data: Vec<u8> },
    Closed { peer: SocketAddr },
}

/// Outgoing frames buffered per connection before packets are dropped (a slow TCP peer must not
/// grow memory or stall the engine).
const WRITE_QUEUE: usize = 512;
/// Most bytes a connection may buffer without producing a complete frame: one max-size frame.
const MAX_PARTIAL: usize = 2 + 65_535;

pub async fn accept_loop(listener: TcpListener, events: mpsc::Sender<TcpEvent>, max_conns: usize) {
    let live = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "ICE-TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if live.load(std::sync::atomic::Ordering::Relaxed) >= max_conns {
            debug!(%peer, "ICE-TCP connection refused: too many connections");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let events = events.clone();
        let live = live.clone();
        live.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(async move {
            connection(stream, peer, events).await;
            live.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, events: mpsc::Sender<TcpEvent>) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    if events.send(TcpEvent::Opened { peer, tx }).await.is_err() {
        return;
    }
    let (mut reader, mut writer) = stream.into_split();
    let mut decoder = Rfc4571Decoder::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = match read { Ok(0) | Err(_) => break, Ok(n) => n };
                decoder.push(&buf[..n]);
                while let Some(data) = decoder.next_frame() {
                    if events.send(TcpEvent::Frame { peer, data }).await.is_err() {
                        return;
                    }
                }
                if decoder.buffered() > MAX_PARTIAL {
                    break;
                }
            }
            out = rx.recv() => match out {
                // The engine dropped our sender: it closed the connection.
                None => break,
                Some(frame) => if writer.write_all(&frame).await.is_err() { break },
            }
        }
    }
    let _ = events.send(TcpEvent::Closed { peer }).await;
}
