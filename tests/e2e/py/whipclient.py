"""Minimal WHIP/WHEP client over aiohttp + aiortc, used by the Weir e2e suite.

Two quirks of aiortc handled here:
* aiortc's default configuration uses a public STUN server (stun.l.google.com): the peers are
  always created with ``RTCConfiguration(iceServers=[])``.
* aioice gathers host candidates on every interface *except* loopback. Tests may only send
  traffic to 127.0.0.1, so ``aioice.ice.get_host_addresses`` is replaced to return 127.0.0.1.
No trickle ICE: aiortc finishes gathering inside setLocalDescription(), then the offer is POSTed.
"""

import asyncio
import json
import sys
import time
from urllib.parse import urljoin

import aioice.ice
import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender


def _loopback_only(use_ipv4=True, use_ipv6=True):
    return ["127.0.0.1"]


aioice.ice.get_host_addresses = _loopback_only


class SignalError(Exception):
    def __init__(self, status, body, url):
        super().__init__(f"POST {url}: HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body
        self.url = url


def emit(obj):
    """One JSON object per line on stdout (the Node harness parses these)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def new_peer():
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def prefer_video_codec(transceiver, codec, direction):
    caps = (RTCRtpSender if direction == "send" else RTCRtpReceiver).getCapabilities("video")
    want = f"video/{codec}".lower()
    chosen = [c for c in caps.codecs if c.mimeType.lower() == want]
    if not chosen:
        raise ValueError(f"aiortc has no codec {codec}")
    rtx = [c for c in caps.codecs if c.mimeType.lower() == "video/rtx"]
    transceiver.setCodecPreferences(chosen + rtx)


def negotiated_codec(sdp, kind="video"):
    """First codec of the first m=<kind> section of an SDP (what the answerer chose)."""
    lines = sdp.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"m={kind} "):
            parts = line.split()
            if len(parts) < 4 or parts[1] == "0":
                return None
            pt = parts[3]
            for other in lines[i + 1:]:
                if other.startswith("m="):
                    break
                if other.startswith(f"a=rtpmap:{pt} "):
                    return f"{kind}/{other.split(' ', 1)[1].split('/')[0]}"
            return None
    return None


async def exchange(http, pc, url):
    """Create the offer, POST it (WHIP/WHEP), apply the answer. Returns (absolute Location, answer)."""
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    async with http.post(url, data=offer, headers={"Content-Type": "application/sdp"}) as resp:
        body = await resp.text()
        if resp.status != 201:
            raise SignalError(resp.status, body, url)
        location = resp.headers.get("Location")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    return (urljoin(url, location) if location else None), body


async def delete_session(http, location):
    if not location:
        return None
    try:
        async with http.delete(location) as resp:
            await resp.read()
            return resp.status
    except Exception as exc:  # noqa: BLE001 - report, don't crash on teardown
        return f"error: {exc}"


async def wait_connected(pc, timeout):
    t0 = time.monotonic()
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed"):
            raise RuntimeError(f"peer connection {pc.connectionState}")
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"not connected after {timeout} s (state {pc.connectionState})")
        await asyncio.sleep(0.05)
    return time.monotonic() - t0
