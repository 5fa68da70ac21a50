// Run the aiortc peers of tests/e2e/py/ from the venv created by scripts/install-test-deps.sh.
import fs from 'node:fs';
import path from 'node:path';
import { JsonPeer } from './peer.mjs';
import { E2E_DIR } from './server.mjs';

export const VENV_PY = process.env.WEIR_E2E_PYTHON || path.join(E2E_DIR, '.venv/bin/python');
export const PY_DIR = path.join(E2E_DIR, 'py');

export function checkVenv() {
  if (!fs.existsSync(VENV_PY)) {
    throw new Error(`Python venv not found at ${VENV_PY}: run scripts/install-test-deps.sh`);
  }
}

/** A running Python peer that prints one JSON object per stdout line. */
export class PyPeer extends JsonPeer {
  constructor(script, args, label = script) {
    checkVenv();
    super(VENV_PY, ['-u', path.join(PY_DIR, script), ...args], { label, cwd: PY_DIR, env: { ...process.env, PYTHONUNBUFFERED: '1' } });
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
