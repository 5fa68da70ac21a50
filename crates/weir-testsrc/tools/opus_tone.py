#!/usr/bin/env python3
"""One-off tool that produced (and checks) `TONE_20MS` in src/opus.rs.

Not needed to build or test the crate. Requires ffmpeg with libopus
(Debian: `apt-get install ffmpeg`). Standard library only.

    python3 tools/opus_tone.py extract WORKDIR   # encode, print the packet
    python3 tools/opus_tone.py check WORKDIR     # repeat it, decode, measure

`extract` runs
    ffmpeg -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 2 \
        -c:a libopus -b:a 32k -vbr off -frame_duration 20 -application audio tone.ogg
parses the Ogg pages (RFC 3533) and prints audio packet 50 (t = 1.00 s) as a
Rust array. `check` writes an Ogg Opus file (RFC 7845) holding the head
and tags of tone.ogg and 500 copies (10 s) of the packet taken from
src/opus.rs, decodes it with ffmpeg and measures it.
"""
import math
import re
import struct
import subprocess
import sys
from pathlib import Path

PACKET_INDEX = 50
REPEATS = 500
CRATE = Path(__file__).resolve().parent.parent


def crc32_ogg(data):
    """CRC-32 of RFC 3533 (polynomial 0x04c11db7, no reflection, init 0)."""
    crc = 0
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def ogg_packets(data):
    """All packets of a single-stream Ogg file, in order."""
    packets, partial, pos = [], b"", 0
    while pos < len(data):
        assert data[pos:pos + 4] == b"OggS", "lost page sync"
        nsegs = data[pos + 26]
        lacing = data[pos + 27:pos + 27 + nsegs]
        body = pos + 27 + nsegs
        for lace in lacing:
            partial += data[body:body + lace]
            body += lace
            if lace < 255:
                packets.append(partial)
                partial = b""
        pos = body
    return packets


def ogg_page(packets, granule, seq, flags, serial=0x57454952):
    lacing = b""
    for p in packets:
        lacing += b"\xff" * (len(p) // 255) + bytes([len(p) % 255])
    assert len(lacing) <= 255
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, seq, 0, len(lacing))
    page = bytearray(header + lacing + b"".join(packets))
    page[22:26] = struct.pack("<I", crc32_ogg(page))
    return bytes(page)


def encode(workdir):
    ogg = workdir / "tone.ogg"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
         "sine=frequency=1000:sample_rate=48000", "-t", "2", "-c:a", "libopus",
         "-b:a", "32k", "-vbr", "off", "-frame_duration", "20", "-application",
         "audio", str(ogg)], check=True)
    return ogg_packets(ogg.read_bytes())


def extract(workdir):
    packets = encode(workdir)
    head, audio = packets[0], packets[2:]
    assert head[:8] == b"OpusHead"
    print(f"// {len(audio)} audio packets, sizes {sorted(set(map(len, audio)))}, "
          f"channels {head[9]}, pre-skip {struct.unpack('<H', head[10:12])[0]}")
    pkt = audio[PACKET_INDEX]
    print(f"// packet {PACKET_INDEX}: {len(pkt)} bytes, TOC {pkt[0]:#04x}")
    for i in range(0, len(pkt), 12):
        print("    " + " ".join(f"0x{b:02x}," for b in pkt[i:i + 12]))


def crate_packet():
    src = (CRATE / "src" / "opus.rs").read_text()
    body = re.search(r"TONE_20MS: &\[u8\] = &\[(.*?)\];", src, re.S).group(1)
    return bytes(int(x, 16) for x in re.findall(r"0x([0-9a-fA-F]{2})", body))


def measure(pcm, rate=48000):
    """RMS (dBFS), Goertzel power share at 1 kHz, zero-crossing frequency,
    and the spread of per-20-ms RMS over the steady part."""
    n = len(pcm)
    rms = math.sqrt(sum(s * s for s in pcm) / n)
    # Goertzel over whole 20 ms periods: power at 1000 Hz vs. total power.
    k = 2 * math.cos(2 * math.pi * 1000 / rate)
    s1 = s2 = 0.0
    for x in pcm:
        s1, s2 = x + k * s1 - s2, s1
    p1k = (s1 * s1 + s2 * s2 - k * s1 * s2) * 2 / (n * n)
    zc = sum(1 for a, b in zip(pcm, pcm[1:]) if (a < 0) != (b < 0))
    frames = [pcm[i:i + 960] for i in range(0, n - 959, 960)]
    frms = [math.sqrt(sum(s * s for s in f) / 960) for f in frames]
    return {
        "rms_dbfs": 20 * math.log10(max(rms, 1e-12)),
        "share_at_1khz": p1k / max(rms * rms, 1e-30),
        "zero_cross_hz": zc / 2 / (n / rate),
        "frame_rms_min_db": 20 * math.log10(max(min(frms), 1e-12)),
        "frame_rms_max_db": 20 * math.log10(max(max(frms), 1e-12)),
    }


def decode(path):
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le",
                          "-ac", "1", "-ar", "48000", "-"], check=True, capture_output=True)
    assert raw.stderr == b"", raw.stderr
    return list(struct.unpack(f"<{len(raw.stdout) // 4}f", raw.stdout))


def check(workdir):
    packets = encode(workdir)
    head, tags = packets[0], packets[1]
    pkt = crate_packet()
    assert pkt in packets[2:], "packet in src/opus.rs is not from this encoder run"
    pre_skip = struct.unpack("<H", head[10:12])[0]
    pages = [ogg_page([head], 0, 0, 0x02), ogg_page([tags], 0, 1, 0)]
    seq, done = 2, 0
    while done < REPEATS:
        count = min(50, REPEATS - done)
        done += count
        pages.append(ogg_page([pkt] * count, done * 960, seq,  # granule incl. pre-skip
                              0x04 if done == REPEATS else 0))
        seq += 1
    rep = workdir / "rep.ogg"
    rep.write_bytes(b"".join(pages))
    for name, path in (("original tone.ogg", workdir / "tone.ogg"), ("repeated packet", rep)):
        pcm = decode(path)
        steady = pcm[4800:len(pcm) - 4800]  # skip 100 ms at both ends
        m = measure(steady)
        print(f"{name}: {len(pcm)} samples; " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
    out = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", str(rep), "-af",
                          "astats=measure_perchannel=RMS_level+Peak_level+Zero_crossings_rate"
                          ":measure_overall=none", "-f", "null", "-"],
                         capture_output=True, text=True)
    print("\n".join(line for line in out.stderr.splitlines() if "Parsed_astats" in line))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("extract", "check"):
        sys.exit(__doc__)
    wd = Path(sys.argv[2])
    wd.mkdir(parents=True, exist_ok=True)
    {"extract": extract, "check": check}[sys.argv[1]](wd)
