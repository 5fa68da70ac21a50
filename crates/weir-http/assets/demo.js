// Code shared by the demo pages publish.html and play.html.

/// Resolves when ICE gathering is complete, or after `ms` (the server is ICE-lite and the pages
/// do not trickle, so the offer carries whatever candidates exist by then).
function waitForIceGathering(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const t = setTimeout(resolve, ms);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
    });
  });
}

/// One WHIP/WHEP exchange (RFC 9725): POST the offer, apply the answer. Returns the absolute URL
/// of the session resource (from Location), or null.
async function whipWhepExchange(pc, url, headers, what) {
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIceGathering(pc, 1000);
  const res = await fetch(url, { method: "POST", headers, body: pc.localDescription.sdp });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`${what} POST failed: ${res.status} ${body}`);
  const loc = res.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  return loc ? new URL(loc, url).href : null;
}

// Chat box: a DataChannel labelled "chat", created before the offer; the server relays its
// messages inside the stream (publisher <-> players). `demo.chat` holds the lines (read by
// automated tests), `demo.chatState` the state.
function weirChat(demo, $) {
  let chat = null;
  function chatLine(who, text) {
    const line = `${who}: ${text}`;
    demo.chat.push(line);
    if (demo.chat.length > 500) demo.chat.shift();
    const log = $("chat-log");
    const div = document.createElement("div");
    div.className = "chat-line " + (who === "you" ? "mine" : who === "*" ? "note" : "theirs");
    div.textContent = line;
    log.appendChild(div);
    while (log.childNodes.length > 500) log.removeChild(log.firstChild);
    log.scrollTop = log.scrollHeight;
  }
  function chatState(s) {
    demo.chatState = s;
    $("chat-state").textContent = `(${s})`;
    const open = s === "open";
    $("chat-input").disabled = !open;
    $("chat-send").disabled = !open;
  }
  function openChat(pc) {
    const ch = (chat = pc.createDataChannel("chat"));
    ch.binaryType = "arraybuffer";
    chatState(ch.readyState);
    ch.addEventListener("open", () => {
      if (ch !== chat) return;
      chatState("open");
      chatLine("*", "chat connected");
    });
    ch.addEventListener("close", () => {
      if (ch !== chat) return;
      chatState("closed");
      chatLine("*", "chat closed");
    });
    ch.addEventListener("message", (ev) => {
      if (typeof ev.data === "string") chatLine("peer", ev.data);
      else chatLine("peer", `[binary ${ev.data.byteLength} bytes]`);
    });
  }
  function closeChat() {
    const ch = chat;
    chat = null;
    if (ch) ch.close();
    chatState("closed");
  }
  $("chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("chat-input").value;
    if (!text || !chat || chat.readyState !== "open") return;
    try {
      chat.send(text);
      chatLine("you", text);
      $("chat-input").value = "";
    } catch (e) {
      chatLine("*", `not sent: ${e.message}`);
    }
  });
  return { open: openChat, close: closeChat };
}
