#!/usr/bin/env python3
"""Play a stream with WHEP via aiortc and count decoded video frames.

Usage: whep_play.py URL N [--timeout SECONDS] [--drop-every K] [--srtp-profile any|aes-cm]

Receives video+audio (recvonly), pulls frames with track.recv() until N video frames were decoded,
DELETEs the WHEP session and prints one JSON object with the results, e.g.
(--drop-every K: aiortc's receiver discards one video packet in K, after the first 50, as if
the network lost it; its NACKs must then bring them back as RTX: "dropped", "rtx_received").
{"ok": true, "frames": 60, "width": 640, "height": 480, "codec": "video/VP8", "audio_frames": 120,
 "time_to_first_frame_ms": 412, ...}. Exit 0 on success, 1 on timeout/failure, 2 on a signalling error.
"""

import argparse
import asyncio
import sys
import time

import aiohttp
from aiortc.mediastreams import MediaStreamError
from aiortc import rtcdtlstransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from whipclient import SignalError, delete_session, emit, exchange, negotiated_codec, new_peer, prefer_video_codec, wait_connected


def simulate_loss(every, result):
    """Wraps aiortc's receiver: RTX packets are counted, one media video packet in `every` is
    discarded before aiortc sees it (its NACK generator then asks for it)."""
    original = RTCRtpReceiver._handle_rtp_packet
    seen = [0]

    async def lossy(self, packet, arrival_time_ms):
        codec = self._RTCRtpReceiver__codecs.get(packet.payload_type)
        if codec is not None and self._RTCRtpReceiver__kind == "video":
            if codec.mimeType.lower().endswith("/rtx"):
                result["rtx_received"] += 1
            else:
                seen[0] += 1
                if seen[0] > 50 and seen[0] % every == 0:
                    result["dropped"] += 1
                    return
        await original(self, packet, arrival_time_ms)

    RTCRtpReceiver._handle_rtp_packet = lossy


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("frames", type=int)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--video-codec", default=None, help="restrict the offer to one video codec (VP8/H264)")
    ap.add_argument("--drop-every", type=int, default=0, help="discard one received video packet in K (simulated loss)")
    ap.add_argument("--srtp-profile", choices=["any", "aes-cm"], default="any",
                    help="aes-cm: offer only SRTP_AES128_CM_SHA1_80 in the DTLS handshake")
    args = ap.parse_args()

    t0 = time.monotonic()
    result = {"ok": False, "frames": 0, "audio_frames": 0, "width": None, "height": None,
              "codec": None, "audio_codec": None, "time_to_first_frame_ms": None,
              "dropped": 0, "rtx_received": 0}
    if args.drop_every > 0:
        simulate_loss(args.drop_every, result)
    if args.srtp_profile == "aes-cm":
        # aiortc reads this list when it creates a DTLS transport.
        rtcdtlstransport.SRTP_PROFILES[:] = [rtcdtlstransport.SRTP_AES128_CM_SHA1_80]
    pc = new_peer()
    vt = pc.addTransceiver("video", direction="recvonly")
    if args.video_codec:
        prefer_video_codec(vt, args.video_codec.upper(), "recv")
    pc.addTransceiver("audio", direction="recvonly")

    done = asyncio.Event()
    tasks = []

    async def consume_video(track):
        while not done.is_set():
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if result["frames"] == 0:
                result["time_to_first_frame_ms"] = round((time.monotonic() - t0) * 1000)
            result["frames"] += 1
            result["width"], result["height"] = frame.width, frame.height
            if result["frames"] >= args.frames:
                done.set()

    async def consume_audio(track):
        while not done.is_set():
            try:
                await track.recv()
            except MediaStreamError:
                return
            result["audio_frames"] += 1

    @pc.on("track")
    def on_track(track):
        tasks.append(asyncio.ensure_future(consume_video(track) if track.kind == "video" else consume_audio(track)))

    rc = 1
    location = None
    async with aiohttp.ClientSession() as http:
        try:
            location, answer = await exchange(http, pc, args.url)
            result["location"] = location
            result["codec"] = negotiated_codec(answer, "video")
            result["audio_codec"] = negotiated_codec(answer, "audio")
            result["signal_ms"] = round((time.monotonic() - t0) * 1000)
            remaining = max(1.0, args.timeout - (time.monotonic() - t0))
            result["connect_ms"] = round(await wait_connected(pc, remaining) * 1000)
            try:  # the SRTP profile the DTLS handshake picked (aiortc keeps it private)
                result["srtp_profile"] = pc.getReceivers()[0].transport._ssl.get_selected_srtp_profile().decode()
            except Exception:  # noqa: BLE001
                result["srtp_profile"] = None
            remaining = max(1.0, args.timeout - (time.monotonic() - t0))
            await asyncio.wait_for(done.wait(), remaining)
            result["ok"] = True
            rc = 0
        except SignalError as exc:
            result.update(error="signal", status=exc.status, body=exc.body[:500], message=str(exc))
            rc = 2
        except asyncio.TimeoutError:
            result.update(error="timeout", message=f"only {result['frames']} of {args.frames} video frames in {args.timeout} s")
        except Exception as exc:  # noqa: BLE001
            result.update(error=type(exc).__name__, message=str(exc))
        done.set()
        result["connection_state"] = pc.connectionState
        result["delete_status"] = await delete_session(http, location)
    for t in tasks:
        t.cancel()
    await pc.close()
    result["seconds"] = round(time.monotonic() - t0, 2)
    emit(result)
    return rc


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
