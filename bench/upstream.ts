/**
 * The sample upstream every contender proxies to. It has to be as cheap as possible so that the proxy under test,
 * not the upstream, is what the benchmark measures: the body and the header list are built once, and the request
 * handler does nothing but write them. Runs as its own process, pinned to CPU 0 by the harness.
 *
 *   node --import tsx bench/upstream.ts --port 8081 [--host 127.0.0.1]
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('upstream: --port <1-65535> is required');
  process.exit(2);
}

// ~100 bytes of JSON, a typical small API answer; BENCH_UPSTREAM_BODY_FILE replaces it (bench/contract.ts: 2 KB).
const UPSTREAM_BODY =
  process.env.BENCH_UPSTREAM_BODY_FILE !== undefined
    ? readFileSync(process.env.BENCH_UPSTREAM_BODY_FILE)
    : Buffer.from(JSON.stringify({ id: 42, name: 'bench-upstream', status: 'ok', items: [1, 2, 3], tags: ['a', 'b'], ts: 1700000000 }));
// A flat [name, value, ...] list: node writes it without building a header object per response.
const HEADERS = ['content-type', 'application/json', 'content-length', String(UPSTREAM_BODY.length)];
// POST answers with this status (201 for a create operation, as a contract declares it); others 200.
const POST_STATUS = Number(process.env.BENCH_UPSTREAM_POST_STATUS ?? 200);

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  // Drain a request body (POST benchmarks) before answering.
  req.resume();
  res.writeHead(req.method === 'POST' ? POST_STATUS : 200, HEADERS);
  res.end(UPSTREAM_BODY);
});
// wrk and the proxies keep their connections for the whole run; never time them out in the middle of one.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(port, values.host, () => {
  console.log(`upstream listening on http://${values.host}:${port} (body ${UPSTREAM_BODY.length} bytes)`);
});

const shutdown = (): void => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
