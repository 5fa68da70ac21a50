// Scrapes a server's /metrics and parses it with Python's prometheus_client parser (py/prom_parse.py),
// so the exposition format is checked by a parser this team did not write.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { checkVenv, PY_DIR, VENV_PY } from './py.mjs';

/** Parses exposition text; throws with the parser's message when it is malformed. */
export function parseMetrics(text) {
  checkVenv();
  let out;
  try {
    out = execFileSync(VENV_PY, [path.join(PY_DIR, 'prom_parse.py')], { input: text, timeout: 20000 });
  } catch (e) {
    throw new Error(`prometheus_client could not parse /metrics: ${e.stdout || e.message}\n${text.slice(0, 2000)}`);
  }
  return JSON.parse(out.toString()).families;
}

/** GET /metrics (optional headers) -> {status, text, families|null}. */
export async function scrape(server, { headers = {}, query = '' } = {}) {
  const r = await server.request('GET', `/metrics${query}`, { headers });
  return { status: r.status, text: r.text, families: r.status === 200 ? parseMetrics(r.text) : null };
}

/**
 * The value of the sample `name` (family name without _total for counters, as the parser
 * names families) whose labels include `labels`; undefined when absent.
 */
export function sample(families, name, labels = {}) {
  const famName = name.replace(/_total$/, '');
  const fam = families[famName] || families[name];
  if (!fam) return undefined;
  const s = fam.samples.find((x) => (x.name === name || x.name === `${name}_total`)
    && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s ? s.value : undefined;
}
