"""Shared pieces of the aiortc DataChannel peers (dc_*.py) of datachannel.test.mjs.

Every peer is a WHEP player (video + audio recvonly plus DataChannels created before the offer),
prints one JSON object per line (``{"event": ...}``) and runs until SIGTERM or its --timeout, then
DELETEs its session and prints ``{"event": "done", ...}``.
"""

import asyncio
import hashlib
import signal
import time
from urllib.parse import unquote, urlparse

import aiohttp
import aioice.ice
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from whipclient import SignalError, delete_session, emit, exchange, new_peer, wait_connected

# aioice sends RFC 7675 consent checks every 5 s (+-20 %); the harness runs the server with
# timeoutSec=4, which would end these long-lived peers' sessions. Chromium checks about every 2.5 s.
aioice.ice.CONSENT_INTERVAL = 1

PPID_DCEP = 50
PPID_STRING = 51
PPID_BINARY = 53
PPID_STRING_EMPTY = 56
PPID_BINARY_EMPTY = 57


def session_id(location):
    """The session id of a WHIP/WHEP Location ``/session/{id}/{token}``."""
    if not location:
        return None
    parts = urlparse(location).path.split("/")
    return unquote(parts[2]) if len(parts) >= 4 and parts[1] == "session" else None


def describe(data):
    if isinstance(data, str):
        return {"kind": "text", "text": data if len(data) <= 200 else data[:200] + "…", "len": len(data)}
    return {"kind": "binary", "len": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def watch(channel, on_message=None):
    """Emit open/close/message events of a channel; call on_message(channel, data) too."""

    @channel.on("open")
    def _open():
        emit({"event": "open", "label": channel.label, "channel_id": channel.id})

    @channel.on("close")
    def _close():
        emit({"event": "close", "label": channel.label, "channel_id": channel.id})

    @channel.on("message")
    def _message(data):
        emit({"event": "message", "label": channel.label, **describe(data)})
        if on_message:
            on_message(channel, data)


def stop_decoding(pc):
    """Received RTP is dropped before the jitter buffer: no decoding cost, no frame queue."""

    async def _drop(*_args, **_kwargs):
        return None

    for t in pc.getTransceivers():
        if isinstance(t.receiver, RTCRtpReceiver):
            t.receiver._handle_rtp_packet = _drop


class Player:
    """A WHEP player with DataChannels; counts decoded video frames unless decode=False."""

    def __init__(self, url, timeout, decode=True):
        self.url = url
        self.timeout = timeout
        self.decode = decode
        self.pc = new_peer()
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.frames = 0
        self.location = None
        self.t0 = time.monotonic()
        self.stop = asyncio.Event()
        self.tasks = []
        self.result = {}

        @self.pc.on("track")
        def on_track(track):
            self.tasks.append(asyncio.ensure_future(self._consume(track)))

        @self.pc.on("connectionstatechange")
        def on_state():
            emit({"event": "connection", "state": self.pc.connectionState})

    async def _consume(self, track):
        while not self.stop.is_set():
            try:
                await track.recv()
            except MediaStreamError:
                return
            if track.kind == "video":
                self.frames += 1
                if self.frames in (1, 30):
                    emit({"event": "frames", "n": self.frames})

    async def run(self, after_connect=None):
        """Signal, connect, call after_connect(), then wait for SIGTERM/timeout. Returns the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        if not self.decode:
            stop_decoding(self.pc)
        rc = 0
        async with aiohttp.ClientSession() as http:
            try:
                self.location, answer = await exchange(http, self.pc, self.url)
                app = [l for l in answer.splitlines() if l.startswith(("m=application", "a=max-message-size", "a=sctp-port"))]
                emit({"event": "signaled", "location": self.location, "id": session_id(self.location), "answer_application": app})
                await wait_connected(self.pc, max(1.0, self.timeout - (time.monotonic() - self.t0)))
                emit({"event": "connected", "ms": round((time.monotonic() - self.t0) * 1000)})
                if after_connect:
                    await after_connect()
                try:
                    await asyncio.wait_for(self.stop.wait(), max(1.0, self.timeout - (time.monotonic() - self.t0)))
                except asyncio.TimeoutError:
                    emit({"event": "timeout", "seconds": self.timeout})
            except SignalError as exc:
                emit({"event": "error", "error": "signal", "status": exc.status, "body": exc.body[:500]})
                rc = 2
            except Exception as exc:  # noqa: BLE001
                emit({"event": "error", "error": type(exc).__name__, "message": str(exc)})
                rc = 1
            self.stop.set()
            state = self.pc.connectionState
            delete_status = await delete_session(http, self.location)
        for t in self.tasks:
            t.cancel()
        await self.pc.close()
        emit({"event": "done", "frames": self.frames, "connection_state": state, "delete_status": delete_status,
              "seconds": round(time.monotonic() - self.t0, 2), **self.result})
        return rc
