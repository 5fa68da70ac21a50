#!/usr/bin/env python3
"""aiortc WHEP player that sends garbage on its SCTP association, for datachannel.test.mjs.

Usage: dc_garbage.py URL [--timeout SECONDS]

Opens two in-band DataChannels, "chat" and "big". Commands arrive as text messages on "chat" (sent
by the test's publisher and relayed by the server, which also proves both ends are up); the
garbage is sent with aiortc's RTCSctpTransport internals, bypassing every check of the
DataChannel API:
  "dcep"      DCEP (PPID 50) messages that are not valid DATA_CHANNEL_OPEN/ACK messages, each on
              a stream that has no channel: a lone OPEN type byte (truncated), an OPEN whose label
              length runs past the end of the message, an unknown DCEP message type, an ACK for a
              channel never opened, a short nonsense body -> {"event": "dcep-sent", ...}
  "oversize"  a 300 KiB binary message on "big", more than the 256 KiB a=max-message-size the
              server advertises -> {"event": "oversize-sent", ...}
  "ping:X"    answered with "pong:X" on "chat".
Events: open/close/message per channel, done at the end (SIGTERM or --timeout).
"""

import argparse
import asyncio
import os
import struct
import sys

from dc_common import PPID_BINARY, PPID_DCEP, Player, emit, watch

OVERSIZE = 300 * 1024


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    player = Player(args.url, args.timeout, decode=False)
    chat = player.pc.createDataChannel("chat")
    big = player.pc.createDataChannel("big")
    sctp = player.pc.sctp

    async def send_dcep_garbage():
        # Stream ids far from the ones aiortc allocates (0, 2, ... as the DTLS client).
        garbage = [
            (201, b"\x03"),                                                     # OPEN, truncated
            (203, struct.pack("!BBHLHH", 0x03, 0x00, 0, 0, 0xFFFF, 0) + b"ab"),  # label past the end
            (205, b"\x7f\x01\x02\x03"),                                         # unknown DCEP type
            (207, b"\x02"),                                                     # ACK for a channel never opened
            (209, b"\x00" * 3),                                                 # nonsense
        ]
        for stream_id, body in garbage:
            await sctp._send(stream_id, PPID_DCEP, body)
        emit({"event": "dcep-sent", "dcep_streams": [s for s, _ in garbage], "chat_id": chat.id, "big_id": big.id})

    async def send_oversize():
        await sctp._send(big.id, PPID_BINARY, os.urandom(OVERSIZE))
        emit({"event": "oversize-sent", "stream": big.id, "bytes": OVERSIZE, "chat_id": chat.id})

    def on_chat(ch, data):
        if data == "dcep":
            asyncio.ensure_future(send_dcep_garbage())
        elif data == "oversize":
            asyncio.ensure_future(send_oversize())
        elif isinstance(data, str) and data.startswith("ping:"):
            ch.send("pong:" + data[5:])
            emit({"event": "replied", "label": ch.label, "text": "pong:" + data[5:]})

    watch(chat, on_chat)
    watch(big)
    return await player.run()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
