// One headless Debian Chromium per test file, driven by playwright-core, with the in-page
// WebRTC helpers of inpage.js injected into blank pages on the server's origin.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ARTIFACTS } from './server.mjs';
import { waitFor } from './util.mjs';

const INPAGE_SOURCE = fs.readFileSync(new URL('./inpage.js', import.meta.url), 'utf8');

export const CHROMIUM = process.env.WEIR_CHROMIUM || '/usr/bin/chromium';

// Flags from /work/shared/TESTING.md. Playwright already uses a fresh profile (it refuses
// --user-data-dir in launch()).
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
];

export const BLANK_PATH = '/__weir_e2e__/blank.html';
const BLANK_HTML = '<!doctype html><html><head><meta charset="utf-8"><title>weir e2e</title>' +
  '<link rel="icon" href="data:,"></head><body></body></html>';

/**
 * `extraArgs`: more Chromium flags (e.g. '--ignore-certificate-errors' for a self-signed
 * HTTPS server; the context then also accepts such certificates for navigation).
 */
export async function launchBrowser({ extraArgs = [] } = {}) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: run scripts/install-test-deps.sh (apt package chromium)`);
  }
  const t0 = Date.now();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...extraArgs],
    timeout: 30000,
  });
  const ignoreHTTPSErrors = extraArgs.includes('--ignore-certificate-errors');
  const context = await browser.newContext({ viewport: { width: 800, height: 600 }, ignoreHTTPSErrors });
  const rb = new RtcBrowser(browser, context);
  rb.launchMs = Date.now() - t0;
  return rb;
}

export class RtcBrowser {
  constructor(browser, context) {
    this.browser = browser;
    this.context = context;
    this.pages = [];
  }

  version() { return this.browser.version(); }

  /**
   * A new page on `origin` (e.g. server.base) showing a blank document served by Playwright
   * itself (not by the server), with window.weir installed.
   */
  async newPage(label, origin) {
    const page = await this.context.newPage();
    const rp = new RtcPage(page, label);
    this.pages.push(rp);
    await page.route(`**${BLANK_PATH}`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: BLANK_HTML }));
    await page.goto(new URL(BLANK_PATH, origin).href);
    await rp.install();
    return rp;
  }

  /** A page for a URL of the server itself (demo pages), with console capture but no helpers. */
  async openUrl(label, url) {
    const page = await this.context.newPage();
    const rp = new RtcPage(page, label);
    this.pages.push(rp);
    rp.response = await page.goto(url);
    return rp;
  }

  async screenshots(prefix) {
    const out = [];
    for (const p of this.pages) {
      if (p.page.isClosed()) continue;
      const file = path.join(ARTIFACTS, `${prefix}-${p.label}.png`.replace(/[^\w.-]+/g, '_'));
      try {
        fs.mkdirSync(ARTIFACTS, { recursive: true });
        await p.page.screenshot({ path: file, timeout: 5000 });
        out.push(file);
      } catch { /* page may be gone */ }
    }
    return out;
  }

  /** Console errors of all pages, for diagnostics. */
  consoleErrors() {
    return this.pages.flatMap((p) => p.consoleErrors.map((e) => `[${p.label}] ${e}`));
  }

  async close() {
    try { await this.context.close(); } catch { /* ignore */ }
    try { await this.browser.close(); } catch { /* ignore */ }
  }
}

export class RtcPage {
  constructor(page, label) {
    this.page = page;
    this.label = label;
    this.consoleErrors = [];
    this.consoleLog = [];
    page.on('console', (msg) => {
      const line = `${msg.type()}: ${msg.text()}`;
      this.consoleLog.push(line);
      if (msg.type() === 'error') {
        const where = msg.location() && msg.location().url;
        this.consoleErrors.push(where ? `${msg.text()} [${where}]` : msg.text());
      }
    });
    page.on('pageerror', (err) => this.consoleErrors.push(`pageerror: ${err.message}`));
  }

  async install() {
    await this.page.evaluate(INPAGE_SOURCE);
    const ok = await this.page.evaluate(() => typeof window.weir === 'object');
    if (!ok) throw new Error('in-page helpers were not installed');
  }

  eval(fn, arg) { return this.page.evaluate(fn, arg); }

  /** publish({url, codec, signaling, name?}) -> {name, id, token, location, deleteUrl, ...} */
  publish(opts) { return this.page.evaluate((o) => window.weir.publish(o), opts); }

  /** play({url, signaling, videoCodec?, name?}) */
  play(opts) { return this.page.evaluate((o) => window.weir.play(o), opts); }

  /** offer({kind, codec?, videoCodec?, video?, audio?}) -> {name, sdp} (not sent) */
  offer(opts) { return this.page.evaluate((o) => window.weir.offer(o), opts); }

  stats(name) { return this.page.evaluate((n) => window.weir.stats(n), name); }

  closePc(name) { return this.page.evaluate((n) => window.weir.close(n), name); }

  closeAll() { return this.page.evaluate(() => window.weir.closeAll()); }

  /** Poll stats(name) from Node until `pred(stats)` is truthy. Returns the last stats. */
  async waitStats(name, pred, timeoutMs = 20000, what = 'stats condition') {
    return waitFor(async () => {
      const st = await this.stats(name);
      return pred(st) ? st : { __notYet: true, last: st };
    }, timeoutMs, { interval: 250, what: `${this.label}/${name}: ${what}` });
  }

  /** Wait until the session has decoded more than `frames` video frames. */
  waitDecoding(name, frames = 30, timeoutMs = 20000) {
    return this.waitStats(name, (s) => s.video && s.video.framesDecoded > frames, timeoutMs, `framesDecoded > ${frames}`);
  }

  close() { return this.page.close(); }
}
