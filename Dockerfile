# syntax=docker/dockerfile:1
# Weir, the WebRTC media server, as a container image.
#
#   docker build -t weir .
#   docker run --rm --network host weir
#
# WebRTC needs the media port reachable at the address put in the candidates. With
# --network host that is the host's own; with published ports, publish the media and STUN/TURN
# ports 1:1 and tell the server its public address:
#   docker run --rm -e WEIR_RTC_EXTERNIP=203.0.113.7 -e WEIR_API_SECRET=... \
#     -p 8080:8080 -p 8443:8443 -p 8000:8000/udp -p 8000:8000 -p 3478:3478/udp -p 3478:3478 weir
# Every setting can be given as WEIR_<SECTION>_<KEY>; or mount a config over /etc/weir/config.ini.
# The default API secret is accepted from loopback only, which the host is not: set your own.

# ---- build ----
FROM rust:1-slim-bookworm AS builder
# The image already has gcc, libc6-dev and binutils. That is all the native code needs:
# aws-lc-sys (0.47, via aws-lc-rs) uses its cc builder with pregenerated bindings on
# x86_64/aarch64 Linux (no cmake, clang, Go or Perl), ring compiles with cc as well.
# pkg-config lets aws-lc-sys look for a system AWS-LC (there is none) without a warning.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole workspace: every member's manifest must exist (bins/weir-bench too), vendor/str0m is
# patched in through [patch.crates-io]. .dockerignore keeps target/, test deps and .git out.
COPY . .
# Cache mounts keep the registry and the target directory between builds; the binary is
# copied out of the cached target directory in the same step.
# The release profile keeps line tables (debug = 1): strip them for the image (set STRIP=0 to
# keep them for symbolized backtraces).
ARG STRIP=1
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p weir \
 && install -m 0755 target/release/weir /usr/local/bin/weir \
 && if [ "$STRIP" = 1 ]; then strip --strip-debug /usr/local/bin/weir; fi \
 && /usr/local/bin/weir --version

# ---- run ----
FROM debian:bookworm-slim
# ca-certificates: web hooks over https (reqwest with rustls and the system roots).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/weir --create-home \
      --shell /usr/sbin/nologin weir
COPY --from=builder /usr/local/bin/weir /usr/local/bin/weir
# The embedded defaults as a starting point (the file lists every key); same effect as no file.
COPY crates/weir-config/src/default.ini /etc/weir/config.ini
USER weir
WORKDIR /var/lib/weir
# HTTP, HTTPS, WebRTC media (UDP and ICE-TCP), STUN/TURN. The P2P signaling WebSocket ports
# (3000 ws, 3001 wss) are not listed: publish them if used. TURN relays use [rtc] port_range.
EXPOSE 8080/tcp 8443/tcp 8000/udp 8000/tcp 3478/udp 3478/tcp
# No curl in the slim image: bash's /dev/tcp asks GET / on the HTTP port and wants a 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${WEIR_HTTP_PORT:-8080} && printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r -t 4 line <&3 && [[ $line == HTTP/1.?' 200'* ]]"]
# SIGTERM (docker stop) ends the server at once; SIGHUP reloads configured TLS certificate files.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/weir"]
CMD ["-c", "/etc/weir/config.ini"]
