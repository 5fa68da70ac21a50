// Smoke test of the server's own demo pages: they load without console errors, and the play
// page shows video published by the publish page.
import assert from 'node:assert/strict';
import { closePages } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { waitFor } from './lib/util.mjs';

const ctx = e2eFile('demo_pages');

// Noise that is not the page's fault.
const IGNORED = [/favicon\.ico/i];
const realErrors = (page) => page.consoleErrors.filter((e) => !IGNORED.some((re) => re.test(e)));

ctx.test('index page loads without console errors', { timeout: 30000 }, async () => {
  const page = await ctx.browser.openUrl('index', ctx.server.url('/'));
  try {
    assert.equal(page.response.status(), 200);
    await page.page.waitForLoadState('load');
    const title = await page.page.title();
    const text = await page.page.evaluate(() => document.body.innerText.length);
    assert.ok(text > 0 || title, 'index has some content');
    assert.deepEqual(realErrors(page), [], 'no console errors on /');
  } finally {
    await closePages([page]);
  }
});

ctx.test('demo publish + play pages (autostart) show video without console errors', { timeout: 90000 }, async (t) => {
  const s = ctx.server;
  const stream = `demo${Date.now() % 100000}`;
  const pages = [];
  try {
    const pub = await ctx.browser.openUrl('demoPublish', s.url(`/demo/publish.html?app=live&stream=${stream}&autostart=1`));
    pages.push(pub);
    assert.equal(pub.response.status(), 200, '/demo/publish.html exists');
    // Let the publisher get going before the player asks for the stream.
    await waitFor(async () => (await s.listSessions()).some((x) => x.kind === 'publish'), 20000,
      { what: 'the demo publisher to appear in /api/v1/sessions' });

    const play = await ctx.browser.openUrl('demoPlay', s.url(`/demo/play.html?app=live&stream=${stream}&autostart=1`));
    pages.push(play);
    assert.equal(play.response.status(), 200, '/demo/play.html exists');
    const video = await waitFor(async () => {
      const v = await play.page.evaluate(() => [...document.querySelectorAll('video')].map((e) => ({
        w: e.videoWidth, h: e.videoHeight, t: e.currentTime, paused: e.paused,
      })));
      const ok = v.find((e) => e.w > 0 && e.h > 0);
      return ok || { __notYet: true, last: v };
    }, 30000, { interval: 300, what: 'a <video> on the play page with videoWidth > 0' });
    ctx.log(t, 'demo player video element', video);
    // Frames keep coming: currentTime advances.
    await waitFor(async () => {
      const cur = await play.page.evaluate(() => Math.max(...[...document.querySelectorAll('video')].map((e) => e.currentTime)));
      return cur > video.t + 1 ? cur : { __notYet: true, last: cur };
    }, 15000, { what: 'the demo player video to advance' });

    assert.deepEqual(realErrors(pub), [], 'no console errors on the publish page');
    assert.deepEqual(realErrors(play), [], 'no console errors on the play page');
  } finally {
    await closePages(pages);
  }
});
