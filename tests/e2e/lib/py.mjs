// Run the aiortc peers of tests/e2e/py/ from the venv created by scripts/install-test-deps.sh.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { E2E_DIR } from './server.mjs';

export const VENV_PY = process.env.WEIR_E2E_PYTHON || path.join(E2E_DIR, '.venv/bin/python');
export const PY_DIR = path.join(E2E_DIR, 'py');

export function checkVenv() {
  if (!fs.existsSync(VENV_PY)) {
    throw new Error(`Python venv not found at ${VENV_PY}: run scripts/install-test-deps.sh`);
  }
}

/** A running Python peer that prints one JSON object per stdout line. */
export class PyPeer {
  constructor(script, args, label = script) {
    checkVenv();
    this.label = label;
    this.events = [];
    this.stderr = '';
    this.exit = null;
    this.waiters = [];
    this.proc = spawn(VENV_PY, ['-u', path.join(PY_DIR, script), ...args], {
      cwd: PY_DIR,
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

/** Run a script to completion (bounded). Returns {code, signal, events, last, stderr}. */
export async function runPy(script, args, { timeoutMs = 60000 } = {}) {
  const p = new PyPeer(script, args);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), timeoutMs);
  const exit = await p.exited;
  clearTimeout(timer);
  return { code: exit.code, signal: exit.signal, events: p.events, last: p.events[p.events.length - 1], stderr: p.stderr };
}
