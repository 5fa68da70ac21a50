// A small hook backend for the e2e tests: records every hook POST that Weir sends and
// answers it with what the test's policy says (ZLMediaKit envelope, `code` 0 allows).
import http from 'node:http';

/**
 * Starts the backend on an ephemeral loopback port.
 * `answer(hook, body)` returns the JSON answer; the default allows everything.
 * Returns { calls, base, of(hook, stream), close() }; `calls` holds {hook, body, at}.
 */
export async function startHookBackend(answer = () => ({ code: 0, msg: 'success' })) {
  const calls = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      let body = {};
      try { body = JSON.parse(data); } catch { /* recorded as {} */ }
      const hook = req.url.replace(/^\//, '');
      calls.push({ hook, body, at: Date.now() });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(answer(hook, body)));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  server.unref(); // Weir keeps its hook connections alive; do not hold the test process open.
  return {
    calls,
    base: `http://127.0.0.1:${server.address().port}`,
    of: (hook, stream) => calls.filter((c) => c.hook === hook && (!stream || c.body.stream === stream)),
    close: () => server.close(),
  };
}
