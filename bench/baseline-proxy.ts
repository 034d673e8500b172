/**
 * The yardstick: the least a correct Node reverse proxy has to do, and nothing more. Every ratio in RESULTS.md is
 * against this process. node:http server in front, one undici Pool (keep-alive) behind, request head forwarded
 * minus the hop-by-hop headers (RFC 9110 §7.6.1), response streamed back with `pool.stream`.
 *
 * It deliberately has no routing, no path canonicalisation, no policies and no logging: the difference between this
 * and Rampart is the price of Rampart's security work, which is what the targets bound.
 *
 *   node --import tsx bench/baseline-proxy.ts --port 8082 --upstream http://127.0.0.1:8081 [--connections 64]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    upstream: { type: 'string' },
    connections: { type: 'string', default: '64' },
  },
});
const port = Number(values.port);
const connections = Number(values.connections);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || values.upstream === undefined || !(connections > 0)) {
  console.error('baseline-proxy: --port <1-65535> --upstream <http://host:port> [--connections N] are required');
  process.exit(2);
}

const pool = new Pool(values.upstream, { connections, pipelining: 1, keepAliveTimeout: 60_000 });

// RFC 9110 §7.6.1: connection-specific fields are not forwarded. `host` is dropped too: undici sets the upstream's.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const REQUEST_DROPPED = new Set([...HOP_BY_HOP, 'host']);

/** Field names a `Connection` header lists are hop-by-hop for this message too (RFC 9110 §7.6.1). */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const joined = Array.isArray(value) ? value.join(',') : value;
  const tokens = new Set<string>();
  for (const token of joined.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive') tokens.add(name);
  }
  return tokens.size === 0 ? undefined : tokens;
}

function forwardedRequestHeaders(req: http.IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const listed = connectionTokens(req.headers.connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (REQUEST_DROPPED.has(lower) || (listed !== undefined && listed.has(lower))) continue;
    out.push(name, raw[i + 1] as string);
  }
  return out;
}

type UpstreamHeaders = Record<string, string | string[] | undefined>;

function stripResponseHopByHop(headers: UpstreamHeaders): UpstreamHeaders {
  const listed = connectionTokens(headers.connection);
  for (const name of HOP_BY_HOP) delete headers[name];
  if (listed !== undefined) for (const name of listed) delete headers[name];
  return headers;
}

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  pool.stream(
    {
      path: req.url ?? '/',
      method: method as 'GET',
      headers: forwardedRequestHeaders(req),
      body: hasBody ? req : null,
    },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, stripResponseHopByHop(headers as UpstreamHeaders));
      return res;
    },
    (err) => {
      if (err === null) return;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('bad gateway');
      } else {
        res.destroy();
      }
    },
  );
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(port, values.host, () => {
  console.log(`baseline proxy on http://${values.host}:${port} -> ${values.upstream} (${connections} connections)`);
});

const shutdown = (): void => {
  server.close();
  server.closeAllConnections();
  void pool.destroy().finally(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
