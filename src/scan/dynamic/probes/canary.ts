/**
 * The SSRF canary: a tiny HTTP listener on the scanning host's loopback interface. SSRF probes send its URL with a
 * random token per injection point; a request that arrives with the token proves the target fetched a loopback URL
 * supplied by the client. It only listens (the scanner never sends anything but the target's own requests), answers
 * a fixed marker and holds nothing; it is closed at the end of the scan.
 *
 * It proves SSRF when the target runs on the same host as the scanner (CI, a local staging copy). For a remote
 * target the canary cannot be reached and the probe finds nothing: that is stated in the scan's stats.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Exchange } from '../client.ts';

const PATH_PREFIX = '/rampart-ssrf/';

export class Canary {
  readonly #server: Server;
  readonly #hits = new Map<string, number>();
  readonly #pending = new Map<string, { exchange: Exchange; where: string }>();
  readonly #tokens = new Map<string, string>();
  #port = 0;

  private constructor() {
    this.#server = createServer((req, res) => {
      const path = req.url ?? '';
      if (path.startsWith(PATH_PREFIX)) {
        const token = path.slice(PATH_PREFIX.length).split(/[/?#]/)[0] ?? '';
        if (this.#pending.has(token) || this.#tokens.has(token)) this.#hits.set(token, (this.#hits.get(token) ?? 0) + 1);
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(this.marker(token));
        return;
      }
      res.writeHead(404).end();
    });
  }

  static async start(): Promise<Canary> {
    const canary = new Canary();
    await new Promise<void>((resolve, reject) => {
      canary.#server.once('error', reject);
      canary.#server.listen(0, '127.0.0.1', () => resolve());
    });
    canary.#port = (canary.#server.address() as AddressInfo).port;
    // Slow or hostile fetchers must not keep the scan from finishing.
    canary.#server.headersTimeout = 5_000;
    canary.#server.requestTimeout = 5_000;
    return canary;
  }

  /** A fresh token for an injection point. */
  token(point: string): string {
    const token = randomBytes(12).toString('hex');
    this.#tokens.set(token, point);
    return token;
  }

  url(token: string): string {
    return `http://127.0.0.1:${this.#port}${PATH_PREFIX}${token}`;
  }

  marker(token: string): string {
    return `rampart-ssrf-canary-${token}`;
  }

  hit(token: string): boolean {
    return (this.#hits.get(token) ?? 0) > 0;
  }

  /** Remembers a probe whose fetch may still come (asynchronous fetchers such as webhooks). */
  sent(token: string, exchange: Exchange, where: string): void {
    this.#pending.set(token, { exchange, where });
  }

  reported(token: string): void {
    this.#pending.delete(token);
  }

  /** Probes fetched after their answer came back. */
  late(): Array<{ exchange: Exchange; where: string; point: string }> {
    const out: Array<{ exchange: Exchange; where: string; point: string }> = [];
    for (const [token, probe] of this.#pending) if (this.hit(token)) out.push({ ...probe, point: this.#tokens.get(token) ?? '' });
    return out;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
