#!/usr/bin/env python3
"""Print what the aiortc peers will use (versions, codecs, host candidates) as one JSON line.

Also gathers ICE candidates for a throwaway offer to prove that only 127.0.0.1 is used and that
no STUN server is contacted.
"""

import asyncio

import aiohttp
import aioice
import aiortc
import av
from aiortc.rtcrtpsender import RTCRtpSender

import whipclient
from whipclient import emit, new_peer


async def main():
    pc = new_peer()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    cands = [l for l in pc.localDescription.sdp.splitlines() if l.startswith("a=candidate:")]
    await pc.close()
    emit({
        "aiortc": aiortc.__version__, "aiohttp": aiohttp.__version__, "aioice": aioice.__version__, "av": av.__version__,
        "host_addresses": whipclient.aioice.ice.get_host_addresses(True, True),
        "video_codecs": sorted({c.mimeType for c in RTCRtpSender.getCapabilities("video").codecs}),
        "offer_candidates": cands,
    })
    if not cands or any(" 127.0.0.1 " not in c for c in cands):
        raise SystemExit(f"unexpected candidates: {cands}")


asyncio.run(main())
