// Peer processes that report as JSON lines (tests/e2e/py's aiortc scripts, tests/e2e/pion).
import { spawn } from 'node:child_process';

/**
 * A running peer process (aiortc script, pion client) that prints one JSON object per stdout
 * line: its events, waited for by name.
 */
export class JsonPeer {
  constructor(cmd, args, { label = cmd, cwd, env = process.env } = {}) {
    this.label = label;
    this.events = [];
    this.stderr = '';
    this.exit = null;
    this.waiters = [];
    this.proc = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.proc.stdout.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        let ev;
        try { ev = JSON.parse(line); } catch { ev = { event: 'text', text: line }; }
        this.events.push(ev);
        this.notify();
      }
    });
    this.proc.stderr.on('data', (d) => { this.stderr = (this.stderr + d.toString()).slice(-20000); });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => { this.exit = { code, signal }; this.notify(); resolve(this.exit); });
    });
  }

  notify() { for (const w of this.waiters.splice(0)) w(); }

  /** Wait for an event line with `event === name` (rejects if the process exits first). */
  waitEvent(name, timeoutMs = 20000) {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const check = () => {
        const ev = this.events.find((e) => e.event === name);
        if (ev) return resolve(ev);
        const err = this.events.find((e) => e.event === 'error');
        if (err) return reject(new Error(`${this.label}: ${JSON.stringify(err)}\nstderr: ${this.stderr.slice(-2000)}`));
        if (this.exit) return reject(new Error(`${this.label} exited (${JSON.stringify(this.exit)}) before "${name}"; events ${JSON.stringify(this.events)}\nstderr: ${this.stderr.slice(-2000)}`));
        if (Date.now() - t0 > timeoutMs) return reject(new Error(`${this.label}: no "${name}" within ${timeoutMs} ms; events ${JSON.stringify(this.events)}\nstderr: ${this.stderr.slice(-2000)}`));
        this.waiters.push(check);
        setTimeout(() => { const i = this.waiters.indexOf(check); if (i >= 0) { this.waiters.splice(i, 1); check(); } }, 250);
        return undefined;
      };
      check();
    });
  }

  /** SIGTERM, wait for exit (SIGKILL after graceMs). Returns {exit, events}. */
  async stop(graceMs = 5000) {
    if (!this.exit) {
      this.proc.kill('SIGTERM');
      const r = await Promise.race([this.exited, new Promise((res) => setTimeout(() => res(null), graceMs))]);
      if (!r) { this.proc.kill('SIGKILL'); await this.exited; }
    }
    return { exit: this.exit, events: this.events, stderr: this.stderr };
  }
}
