/**
 * fast-gateway as a peer to compare against: its default `http` proxy type (fast-proxy-lite over a keep-alive
 * http.Agent), one route `/*` to the upstream, no middlewares. fast-gateway is CommonJS, hence `createRequire`.
 *
 *   node --import tsx bench/fast-gateway-peer.ts --port 8083 --upstream http://127.0.0.1:8081
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

interface FastGatewayRoute {
  prefix: string;
  target: string;
}
interface FastGatewayServer {
  start(port: number, host?: string): Promise<unknown>;
  close(): Promise<unknown>;
}
type FastGateway = (options: { routes: FastGatewayRoute[] }) => FastGatewayServer;

const require = createRequire(import.meta.url);
const gateway = require('fast-gateway') as FastGateway;

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    upstream: { type: 'string' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || values.upstream === undefined) {
  console.error('fast-gateway-peer: --port <1-65535> --upstream <http://host:port> are required');
  process.exit(2);
}

// prefix '' + fast-gateway's default pathRegex '/*' = one route '/*' covering every path, forwarded unchanged.
const server = gateway({ routes: [{ prefix: '', target: values.upstream }] });
await server.start(port, values.host);
console.log(`fast-gateway peer on http://${values.host}:${port} -> ${values.upstream}`);

const shutdown = (): void => {
  void server.close().finally(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
