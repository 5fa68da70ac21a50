// Per-file test harness: one fresh Weir server and one Chromium per test file, bounded tests,
// and diagnostics (server log tail, page console errors, screenshots) when a test fails.
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser } from './browser.mjs';
import { ARTIFACTS, startServer } from './server.mjs';
import { short } from './util.mjs';

/**
 * e2eFile('sfu_whip_whep') registers before/after hooks and returns a context:
 *   ctx.server  (WeirServer), ctx.browser (RtcBrowser)
 *   ctx.test(title, {timeout}, async (t) => ...)  bounded test with failure diagnostics
 *   ctx.log(t, key, value)  measured value -> test diagnostic + artifacts/<file>.timings.json
 */
export function e2eFile(name, { server = true, browser = true, serverEnv = {}, browserArgs = [] } = {}) {
  const ctx = {
    name, server: null, browser: null, setupError: null, measurements: [],
  };

  before(async () => {
    try {
      if (server) ctx.server = await startServer(name, serverEnv);
      if (browser) ctx.browser = await launchBrowser({ extraArgs: browserArgs });
    } catch (e) {
      ctx.setupError = e;
      process.stderr.write(`\n[${name}] setup failed: ${e.message}\n`);
      throw e;
    }
  }, { timeout: 90000 });

  after(async () => {
    if (ctx.browser) await ctx.browser.close();
    if (ctx.server) {
      const exit = await ctx.server.stop();
      if (exit && exit.signal !== 'SIGTERM' && exit.code !== 0 && exit.code !== null) {
        process.stderr.write(`[${name}] weir exited with code ${exit.code} at shutdown\n`);
      }
    }
    if (ctx.measurements.length) {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      fs.writeFileSync(path.join(ARTIFACTS, `${name}.timings.json`), `${JSON.stringify(ctx.measurements, null, 2)}\n`);
    }
  }, { timeout: 30000 });

  ctx.log = (t, key, value) => {
    ctx.measurements.push({ test: t.name, key, value });
    t.diagnostic(`${key}: ${typeof value === 'string' ? value : short(value, 600)}`);
  };

  /**
   * A test with its own time bound (slightly below node's, so diagnostics still get printed on
   * timeout) that prints the server log tail and saves screenshots when it fails.
   */
  ctx.test = (title, opts, fn) => {
    const timeout = opts.timeout ?? 60000;
    return test(title, { timeout: timeout + 15000, skip: opts.skip }, async (t) => {
      if (ctx.setupError) throw new Error(`setup failed: ${ctx.setupError.message}`);
      let timer;
      const bound = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`test "${title}" exceeded its bound of ${timeout} ms`)), timeout);
      });
      try {
        await Promise.race([fn(t), bound]);
      } catch (e) {
        await ctx.diagnose(title, e);
        throw e;
      } finally {
        clearTimeout(timer);
      }
    });
  };

  ctx.diagnose = async (title, err) => {
    const lines = [`\n===== [${name}] FAILED: ${title} =====`, String(err && err.stack || err)];
    if (ctx.server) {
      if (ctx.server.exit) lines.push(`weir process has exited: ${JSON.stringify(ctx.server.exit)}`);
      lines.push(`server: ${ctx.server.base} rtc port ${ctx.server.rtcPort}`);
    }
    if (ctx.browser) {
      const errs = ctx.browser.consoleErrors();
      if (errs.length) lines.push('browser console errors:', ...errs.slice(-20).map((e) => `  ${e}`));
      const shots = await ctx.browser.screenshots(`${name}-${title}`.slice(0, 80)).catch(() => []);
      if (shots.length) lines.push(`screenshots: ${shots.join(', ')}`);
    }
    process.stderr.write(`${lines.join('\n')}\n`);
    if (ctx.server) ctx.server.dumpLog(title, 80);
  };

  return ctx;
}
