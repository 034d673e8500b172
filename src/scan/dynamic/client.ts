/**
 * The only way the dynamic scan talks to the target (issue 8 point 3, safety):
 *
 * - Origin lock: every request is built from a path on the target's origin and checked against it; redirects are
 *   never followed (a `Location` elsewhere is only read as a header), and no caller can set `Host`.
 * - Request budget and the scanner's own pacing (pacing.ts), both applied before anything is sent.
 * - Write methods (anything but GET, HEAD, OPTIONS, TRACE, SEARCH, QUERY) only with `allowWrites`, except the login
 *   requests the auth file describes (they are how the scanner gets its credentials).
 * - The scan's AbortSignal aborts the request in flight; a per-request timeout bounds slow answers.
 * - A 429 is answered by waiting `Retry-After` (bounded) and trying again, so a rate-limited API is scanned slowly
 *   instead of being reported as broken.
 * - Response bodies are read up to a bound and the rest dropped.
 */
import { rootCertificates } from 'node:tls';
import { Agent, request } from 'undici';
import type { Budget, Clock, Pacer } from './pacing.ts';
import { ScanAborted } from './pacing.ts';

export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'SEARCH', 'QUERY']);

export interface ProbeRequest {
  readonly method: string;
  /** Path and query on the target, starting with `/`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Who the request is sent as (for evidence): `anonymous`, `userA`, `forged:alg-none`, ... */
  readonly principal: string;
  /** The operation it exercises, when known. */
  readonly operation?: string;
  /** Why it is sent (`baseline`, `auth`, `injection`, ...): passive analysers skip some purposes. */
  readonly purpose: string;
  /** Skip the pacer (the bounded rate-limit burst); still counted against the budget. */
  readonly unpaced?: boolean;
  /** Wait for Retry-After and retry on 429 (default true). */
  readonly retryOn429?: boolean;
  /** A login request of the auth file: allowed whatever `allowWrites` says. */
  readonly authFlow?: boolean;
}

export interface Exchange {
  readonly seq: number;
  readonly method: string;
  readonly path: string;
  /** Request headers as sent, lower-case names. */
  readonly requestHeaders: Readonly<Record<string, string>>;
  readonly requestBody?: string;
  /** 0 when no answer came (connection error, timeout). */
  readonly status: number;
  readonly error?: string;
  /** Response headers, lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  readonly truncated: boolean;
  readonly durationMs: number;
  readonly principal: string;
  readonly operation?: string;
  readonly purpose: string;
}

export class OriginViolation extends Error {
  override readonly name = 'OriginViolation';
}

export class WriteNotAllowed extends Error {
  override readonly name = 'WriteNotAllowed';
}

export interface ScanClientOptions {
  readonly origin: string;
  readonly ca?: string;
  readonly allowWrites: boolean;
  readonly budget: Budget;
  readonly pacer: Pacer;
  readonly clock: Clock;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  readonly maxBodyBytes?: number;
  /** Called after every request (the scan's progress and passive analysers). */
  readonly onExchange?: (exchange: Exchange) => void;
  /** Longest Retry-After the client waits for (ms). */
  readonly maxRetryWaitMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_BODY = 256 * 1024;
const USER_AGENT = 'rampart-scan (+https://owasp.org/API-Security/)';

export class ScanClient {
  readonly origin: URL;
  readonly #options: ScanClientOptions;
  readonly #agent: Agent;
  #seq = 0;

  constructor(options: ScanClientOptions) {
    const origin = new URL(options.origin);
    if (origin.protocol !== 'http:' && origin.protocol !== 'https:') throw new OriginViolation(`target must be an http(s) URL, got ${origin.protocol}`);
    this.origin = new URL(origin.origin);
    this.#options = options;
    this.#agent = new Agent({
      connect: options.ca ? { ca: trustedWith(options.ca), rejectUnauthorized: true } : { rejectUnauthorized: true },
      keepAliveTimeout: 4_000,
      connections: 4,
    });
  }

  get allowWrites(): boolean {
    return this.#options.allowWrites;
  }

  get budget(): Budget {
    return this.#options.budget;
  }

  /** The absolute URL of a path on the target; throws when it would leave the origin. */
  url(path: string): URL {
    if (!path.startsWith('/') || path.startsWith('//') || path.includes('\\')) throw new OriginViolation(`not a path on the target: ${JSON.stringify(path.slice(0, 100))}`);
    const url = new URL(path, this.origin);
    if (url.origin !== this.origin.origin) throw new OriginViolation(`${url.origin} is not the target origin ${this.origin.origin}`);
    return url;
  }

  /** Throws ScanAborted when the scan's signal fired. */
  checkAborted(): void {
    if (this.#options.signal?.aborted) throw new ScanAborted();
  }

  /** Counts a non-HTTP contact (a TLS handshake) against the budget, after pacing. */
  async takeSlot(): Promise<void> {
    this.checkAborted();
    this.#options.budget.take();
    await this.#options.pacer.acquire(this.#options.signal);
  }

  async send(probe: ProbeRequest): Promise<Exchange> {
    const method = probe.method.toUpperCase();
    if (!SAFE_METHODS.has(method) && !this.#options.allowWrites && !probe.authFlow) {
      throw new WriteNotAllowed(`${method} needs allowWrites`);
    }
    const url = this.url(probe.path);
    let attempt = 0;
    for (;;) {
      const exchange = await this.#once(probe, method, url);
      const retry = exchange.status === 429 && probe.retryOn429 !== false && attempt < 2;
      if (!retry) return exchange;
      attempt++;
      await this.#options.clock.sleep(this.#retryWait(exchange.headers['retry-after']), this.#options.signal);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  #retryWait(value: string | string[] | undefined): number {
    const max = this.#options.maxRetryWaitMs ?? 10_000;
    const text = Array.isArray(value) ? value[0] : value;
    if (text !== undefined && /^\d{1,6}$/.test(text.trim())) return Math.min(max, Number(text.trim()) * 1000);
    if (text !== undefined) {
      const at = Date.parse(text);
      if (!Number.isNaN(at)) return Math.min(max, Math.max(0, at - Date.now()));
    }
    return Math.min(max, 1000);
  }

  async #once(probe: ProbeRequest, method: string, url: URL): Promise<Exchange> {
    this.checkAborted();
    this.#options.budget.take();
    if (!probe.unpaced) await this.#options.pacer.acquire(this.#options.signal);
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: 'application/json, */*;q=0.5' };
    for (const [name, value] of Object.entries(probe.headers ?? {})) {
      const lower = name.toLowerCase();
      // The origin lock covers virtual hosts too.
      if (lower === 'host' || lower === ':authority') continue;
      headers[lower] = value;
    }
    if (probe.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
    const timeout = AbortSignal.timeout(this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = this.#options.signal ? AbortSignal.any([this.#options.signal, timeout]) : timeout;
    const seq = ++this.#seq;
    const started = this.#options.clock.now();
    const base = {
      seq,
      method,
      path: url.pathname + url.search,
      requestHeaders: headers,
      requestBody: probe.body === undefined ? undefined : probe.body.slice(0, 4096),
      principal: probe.principal,
      operation: probe.operation,
      purpose: probe.purpose,
    };
    let exchange: Exchange;
    try {
      const res = await request(url, {
        method: method as 'GET',
        headers,
        body: probe.body,
        dispatcher: this.#agent,
        signal,
      });
      const { text, truncated } = await readBounded(res.body, this.#options.maxBodyBytes ?? DEFAULT_MAX_BODY);
      exchange = {
        ...base,
        status: res.statusCode,
        headers: res.headers as Record<string, string | string[] | undefined>,
        body: text,
        truncated,
        durationMs: this.#options.clock.now() - started,
      };
    } catch (error) {
      if (this.#options.signal?.aborted) throw new ScanAborted();
      const err = error as NodeJS.ErrnoException;
      exchange = {
        ...base,
        status: 0,
        error: timeout.aborted ? 'timeout' : (err.code ?? err.name ?? 'error'),
        headers: {},
        body: '',
        truncated: false,
        durationMs: this.#options.clock.now() - started,
      };
    }
    this.#options.onExchange?.(exchange);
    return exchange;
  }
}

async function readBounded(body: AsyncIterable<Uint8Array> & { destroy(): unknown }, max: number): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of body) {
    const buffer = Buffer.from(chunk);
    if (size + buffer.length > max) {
      chunks.push(buffer.subarray(0, max - size));
      truncated = true;
      body.destroy();
      break;
    }
    chunks.push(buffer);
    size += buffer.length;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated };
}

/** Node's `ca` replaces the default roots: `--ca` adds a private CA to them instead. */
export function trustedWith(ca: string): string[] {
  return [...rootCertificates, ca];
}

/** First value of a header (undici gives arrays for repeated headers). */
export function headerValue(headers: Exchange['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Every value of a header (Set-Cookie). */
export function headerValues(headers: Exchange['headers'], name: string): string[] {
  const value = headers[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Whether a response body is JSON (by media type), parsed; undefined when not JSON or unparsable. */
export function jsonBody(exchange: Exchange): unknown {
  const type = headerValue(exchange.headers, 'content-type') ?? '';
  if (!/[/+]json\b/i.test(type) || exchange.truncated || exchange.body === '') return undefined;
  try {
    return JSON.parse(exchange.body) as unknown;
  } catch {
    return undefined;
  }
}
