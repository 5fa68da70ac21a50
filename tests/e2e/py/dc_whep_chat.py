#!/usr/bin/env python3
"""aiortc WHEP player with a DataChannel, for datachannel.test.mjs (independent-stack interop).

Usage: dc_whep_chat.py URL [--label chat] [--timeout SECONDS]

Plays the stream (video + audio, frames are decoded and counted) with one in-band DataChannel
created before the offer. Every message received is printed as {"event": "message", ...}; a text
message "ping:X" is answered on the same channel with "pong:X" ({"event": "replied"}); a binary
message is answered with a binary message of the same bytes reversed. Runs until SIGTERM or
--timeout, then DELETEs the session and prints {"event": "done", ...}.
"""

import argparse
import asyncio
import sys

from dc_common import Player, emit, watch


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--label", default="chat")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    player = Player(args.url, args.timeout)
    channel = player.pc.createDataChannel(args.label)
    player.result["replies"] = 0

    def on_message(ch, data):
        if isinstance(data, str) and data.startswith("ping:"):
            ch.send("pong:" + data[5:])
        elif isinstance(data, bytes):
            ch.send(data[::-1])
        else:
            return
        player.result["replies"] += 1
        emit({"event": "replied", "label": ch.label})

    watch(channel, on_message)
    return await player.run()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
