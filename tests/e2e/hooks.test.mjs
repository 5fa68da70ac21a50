// Web hooks (ZLMediaKit [hook]) with real Chromium: a tiny hook backend in this file decides,
// Weir asks it before a publish or play and tells it when streams come and go.
import assert from 'node:assert/strict';
import { closePages, deleteOk } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { streamName, waitFor } from './lib/util.mjs';
import { startHookBackend } from './lib/hook_backend.mjs';

// ---- hook backend ----
const policy = { denyPublish: true };
const backend = await startHookBackend((hook, body) => {
  if (hook === 'on_publish' && policy.denyPublish) return { code: -1, msg: 'publish not allowed yet' };
  if (hook === 'on_play' && /(^|&)deny=1/.test(body.params || '')) return { code: -1, msg: 'bad viewer' };
  return { code: 0, msg: 'success' };
});
const { calls, of } = backend;
const hookBase = backend.base;

const ctx = e2eFile('hooks', {
  serverEnv: {
    WEIR_HOOK_ENABLE: '1',
    WEIR_HOOK_ON_PUBLISH: `${hookBase}/on_publish`,
    WEIR_HOOK_ON_PLAY: `${hookBase}/on_play`,
    WEIR_HOOK_ON_STREAM_CHANGED: `${hookBase}/on_stream_changed`,
    WEIR_HOOK_ON_STREAM_NONE_READER: `${hookBase}/on_stream_none_reader`,
    WEIR_HOOK_ON_STREAM_NOT_FOUND: `${hookBase}/on_stream_not_found`,
    WEIR_HOOK_ON_FLOW_REPORT: `${hookBase}/on_flow_report`,
    WEIR_HOOK_TIMEOUTSEC: '3',
    WEIR_GENERAL_STREAMNONEREADERDELAYMS: '500',
    WEIR_GENERAL_FLOWTHRESHOLD: '0',
  },
});

/** Runs an in-page publish/play expected to be refused; returns the error text. */
async function refused(promise) {
  try {
    await promise;
  } catch (e) {
    return String(e && e.message);
  }
  assert.fail('the request was accepted');
}

ctx.test('hooks: publish denied then allowed, play allowed and denied, stream lifecycle', { timeout: 120000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('hooks');
  const pages = [];
  try {
    // 1. on_publish refuses: WHIP 403 with the hook's text.
    const p0 = await ctx.browser.newPage('pubDenied', s.base);
    pages.push(p0);
    const why = await refused(p0.publish({ url: s.url(`/whip/live/${stream}?token=t1`), codec: 'H264', signaling: 'whip', name: 'pub' }));
    assert.match(why, /HTTP 403/, why);
    assert.match(why, /publish not allowed yet/, why);
    const asked = of('on_publish', stream);
    assert.equal(asked.length, 1);
    assert.equal(asked[0].body.app, 'live');
    assert.equal(asked[0].body.schema, 'rtc');
    assert.equal(asked[0].body.params, 'token=t1');
    assert.equal(asked[0].body.ip, '127.0.0.1');
    ctx.log(t, 'denied publish', why.slice(0, 200));

    // 2. Allowed now.
    policy.denyPublish = false;
    const p1 = await ctx.browser.newPage('pub', s.base);
    pages.push(p1);
    const pub = await p1.publish({ url: s.url(`/whip/live/${stream}?token=t2`), codec: 'H264', signaling: 'whip', name: 'pub' });
    assert.equal(pub.status, 201);
    await p1.waitStats('pub', (st) => st.connectionState === 'connected' && st.outVideo && st.outVideo.packetsSent > 0, 20000, 'publisher sending');
    await waitFor(() => of('on_stream_changed', stream).some((c) => c.body.regist === true), 10000, { what: 'on_stream_changed regist=true' });

    // 3. A player the hook allows decodes frames.
    const v1 = await ctx.browser.newPage('play', s.base);
    pages.push(v1);
    const play = await v1.play({ url: s.url(`/whep/live/${stream}?viewer=1`), signaling: 'whep', name: 'play' });
    assert.equal(play.status, 201);
    const st = await v1.waitDecoding('play', 10, 30000);
    assert.ok(st.video.framesDecoded > 0);
    ctx.log(t, 'allowed player framesDecoded', st.video.framesDecoded);
    assert.equal(of('on_play', stream).length, 1);

    // 4. A player the hook refuses gets 403.
    const v2 = await ctx.browser.newPage('playDenied', s.base);
    pages.push(v2);
    const why2 = await refused(v2.play({ url: s.url(`/whep/live/${stream}?deny=1`), signaling: 'whep', name: 'play' }));
    assert.match(why2, /HTTP 403/, why2);
    assert.match(why2, /bad viewer/, why2);

    // 5. The last player leaves: on_stream_none_reader after streamNoneReaderDelayMS.
    const left = Date.now();
    await deleteOk(s, play.location, 'player');
    await waitFor(() => of('on_stream_none_reader', stream).some((c) => c.at >= left), 10000, { what: 'on_stream_none_reader' });
    const nr = of('on_stream_none_reader', stream).find((c) => c.at >= left);
    ctx.log(t, 'on_stream_none_reader after player left (ms)', nr.at - left);
    assert.ok(nr.at - left >= 400, 'waited streamNoneReaderDelayMS');
    await waitFor(() => of('on_flow_report', stream).some((c) => c.body.player === true), 10000, { what: 'on_flow_report of the player' });
    const flow = of('on_flow_report', stream).find((c) => c.body.player === true);
    assert.ok(flow.body.totalBytes > 0, JSON.stringify(flow.body));
    assert.equal(flow.body.params, 'viewer=1');

    // 6. The publisher goes: on_stream_changed regist=false.
    await deleteOk(s, pub.location, 'publisher');
    await waitFor(() => of('on_stream_changed', stream).some((c) => c.body.regist === false), 10000, { what: 'on_stream_changed regist=false' });

    const srv = await s.request('GET', `/api/v1/server?secret=testsecret`);
    const hooks = JSON.parse(srv.text).data.hooks;
    ctx.log(t, 'hook counters', hooks);
    assert.equal(hooks.enabled, true);
    assert.equal(hooks.on_publish.refused, 1);
    assert.equal(hooks.on_play.refused, 1);
    assert.equal(hooks.on_publish.failed, 0);
  } finally {
    await closePages(pages);
  }
});
