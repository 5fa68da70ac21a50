#!/usr/bin/env python3
"""aiortc WHEP player whose DataChannel application never reads, for datachannel.test.mjs.

Usage: dc_slow_player.py URL [--label chat] [--unreliable] [--timeout SECONDS]

A real slow reader at the SCTP level: the DataChannel is opened normally (DCEP OPEN/ACK are
processed), but every user message (PPID 51/53/56/57) the association delivers is held instead of
being handed to the application, and its bytes stay counted against aiortc's receive window. The
advertised receive window (a_rwnd in SACKs, 1 MiB initially) therefore falls to 0 and stays
there, and new DATA chunks beyond it are dropped unacknowledged (--accept-probes: kept, as plain
aiortc would): the server's SCTP sender cannot deliver more, and its per-channel queue must absorb
(and bound) whatever the publisher keeps sending. Received RTP is dropped undecoded (cheap).

Prints {"event": "status", "held_bytes", "held_messages", "rwnd", "state"} every 500 ms and
{"event": "close", ...} if the server closes the channel. Runs until SIGTERM or --timeout.
"""

import argparse
import asyncio
import sys

from aiortc.utils import uint32_gt

from dc_common import PPID_BINARY, PPID_BINARY_EMPTY, PPID_STRING, PPID_STRING_EMPTY, Player, emit, watch

USER_PPIDS = (PPID_STRING, PPID_BINARY, PPID_STRING_EMPTY, PPID_BINARY_EMPTY)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--label", default="chat")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--unreliable", action="store_true", help="open the channel with ordered=False, maxRetransmits=0")
    ap.add_argument("--accept-probes", dest="drop_beyond_window", action="store_false",
                    help="accept (and acknowledge) DATA beyond a zero receive window, as aiortc does")
    args = ap.parse_args()

    player = Player(args.url, args.timeout, decode=False)
    if args.unreliable:
        channel = player.pc.createDataChannel(args.label, ordered=False, maxRetransmits=0)
    else:
        channel = player.pc.createDataChannel(args.label)
    watch(channel)
    sctp = player.pc.sctp
    held = {"held_bytes": 0, "held_messages": 0, "min_rwnd": sctp._advertised_rwnd}
    deliver = sctp._receive

    async def holding_receive(stream_id, pp_id, data):
        if pp_id in USER_PPIDS:
            # Not read by the application: keep the bytes charged to the receive window
            # (RTCSctpTransport gave them back just before calling _receive).
            held["held_bytes"] += len(data)
            held["held_messages"] += 1
            sctp._advertised_rwnd -= len(data)
            held["min_rwnd"] = min(held["min_rwnd"], sctp._advertised_rwnd)
            return
        await deliver(stream_id, pp_id, data)

    sctp._receive = holding_receive
    player.result["held"] = held

    # With the window closed, behave like a receiver without buffer space (RFC 4960 section 6.2):
    # a DATA chunk with a new TSN is dropped, not acknowledged, and a SACK with the current
    # (zero) window goes back at once. aiortc alone would accept and acknowledge every chunk, so
    # each zero-window probe of the sender would get through.
    receive_data_chunk = sctp._receive_data_chunk
    held["dropped_chunks"] = 0

    async def bounded_receive_data_chunk(chunk):
        if (args.drop_beyond_window and sctp._advertised_rwnd <= 0 and sctp._last_received_tsn is not None
                and uint32_gt(chunk.tsn, sctp._last_received_tsn)):
            held["dropped_chunks"] += 1
            sctp._sack_needed = True
            return
        await receive_data_chunk(chunk)

    sctp._receive_data_chunk = bounded_receive_data_chunk

    async def report():
        while not player.stop.is_set():
            emit({"event": "status", **held, "rwnd": sctp._advertised_rwnd, "state": channel.readyState})
            await asyncio.sleep(0.5)

    reporter = asyncio.ensure_future(report())
    try:
        return await player.run()
    finally:
        reporter.cancel()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
