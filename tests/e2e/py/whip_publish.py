#!/usr/bin/env python3
"""Publish a synthetic moving test pattern (video) and a 400 Hz tone (audio) with WHIP, via aiortc.

Usage: whip_publish.py URL [--codec VP8|H264] [--duration SECONDS] [--width W] [--height H]

Prints JSON lines on stdout: {"event":"published",...}, {"event":"connected",...}, and at the end
{"event":"done",...}. Runs until --duration elapses (default: forever) or SIGTERM/SIGINT, then
DELETEs the WHIP session (Location) and exits 0. Exit 2 on a signalling error, 1 on other errors.
"""

import argparse
import asyncio
import fractions
import math
import signal
import struct
import sys
import time

import aiohttp
import av
from aiortc import MediaStreamTrack, VideoStreamTrack

from whipclient import SignalError, delete_session, emit, exchange, negotiated_codec, new_peer, prefer_video_codec, wait_connected


class PatternTrack(VideoStreamTrack):
    """A moving pattern: horizontally scrolling vertical gradient plus a bar moving down."""

    def __init__(self, width=320, height=240):
        super().__init__()
        self.width, self.height = width, height
        self.base = bytes((x * 219 // width) + 16 for x in range(width))
        self.count = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        w, h, n = self.width, self.height, self.count
        self.count += 1
        frame = av.VideoFrame(w, h, "yuv420p")
        shift = (n * 4) % w
        row = self.base[shift:] + self.base[:shift]
        bar_top = (n * 2) % h
        luma = bytearray()
        ls = frame.planes[0].line_size
        pad = b"\x10" * (ls - w)
        for y in range(h):
            luma += (b"\xeb" * w if bar_top <= y < bar_top + 16 else row) + pad
        frame.planes[0].update(bytes(luma))
        for i, value in ((1, 90 + (n % 60)), (2, 160)):
            plane = frame.planes[i]
            plane.update(bytes([value]) * (plane.line_size * (h // 2)))
        frame.pts = pts
        frame.time_base = time_base
        return frame


class ToneTrack(MediaStreamTrack):
    """20 ms frames of a 400 Hz sine at 48 kHz, mono s16, paced in real time."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self.rate = 48000
        self.samples = 960
        # 400 Hz has a period of exactly 120 samples, so one 960-sample frame repeats cleanly.
        self.pcm = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 400 * i / self.rate))) for i in range(self.samples)
        )
        self._start = None
        self._timestamp = 0

    async def recv(self):
        if self._start is None:
            self._start = time.time()
            self._timestamp = 0
        else:
            self._timestamp += self.samples
            wait = self._start + self._timestamp / self.rate - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
        frame.planes[0].update(self.pcm)
        frame.sample_rate = self.rate
        frame.pts = self._timestamp
        frame.time_base = fractions.Fraction(1, self.rate)
        return frame


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--codec", default="VP8", choices=["VP8", "H264", "vp8", "h264"])
    ap.add_argument("--duration", type=float, default=0, help="seconds to publish (0 = until SIGTERM)")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--connect-timeout", type=float, default=15)
    args = ap.parse_args()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    pc = new_peer()
    video = PatternTrack(args.width, args.height)
    audio = ToneTrack()
    vt = pc.addTransceiver(video, direction="sendonly")
    prefer_video_codec(vt, args.codec.upper(), "send")
    pc.addTransceiver(audio, direction="sendonly")

    t0 = time.monotonic()
    location = None
    rc = 0
    async with aiohttp.ClientSession() as http:
        try:
            location, answer = await exchange(http, pc, args.url)
            emit({"event": "published", "location": location, "codec": negotiated_codec(answer),
                  "signal_ms": round((time.monotonic() - t0) * 1000)})
            connect_s = await wait_connected(pc, args.connect_timeout)
            emit({"event": "connected", "connect_ms": round(connect_s * 1000)})
            if args.duration > 0:
                try:
                    await asyncio.wait_for(stop.wait(), args.duration)
                except asyncio.TimeoutError:
                    pass
            else:
                await stop.wait()
        except SignalError as exc:
            emit({"event": "error", "kind": "signal", "status": exc.status, "body": exc.body[:500], "message": str(exc)})
            rc = 2
        except Exception as exc:  # noqa: BLE001
            emit({"event": "error", "kind": type(exc).__name__, "message": str(exc)})
            rc = 1
        deleted = await delete_session(http, location)
    await pc.close()
    emit({"event": "done", "ok": rc == 0, "frames_generated": video.count, "delete_status": deleted,
          "seconds": round(time.monotonic() - t0, 2)})
    return rc


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
