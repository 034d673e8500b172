/**
 * External decisions from Open Policy Agent over its Data API (issue 4 point 6):
 *
 *     POST {url}/v1/data/{path}      {"input": <input document>}
 *     200 {"result": true}  or  {"result": {"allow": true, ...}}
 *
 * (https://www.openpolicyagent.org/docs/latest/rest-api/#get-a-document-with-input). Fail closed: a timeout, a
 * network error, a non-200 answer, a body that is not JSON, an undefined decision (`{}`, which OPA returns when
 * the rule is not defined for the input) or any result other than `true` / `{allow: true}` denies.
 *
 * The input document (stable, documented for policy authors):
 *
 *     {
 *       "principal": { "subject", "kind", "method", "roles": [..], "permissions": [..], "tenant"?, "mfa": bool,
 *                      "claims"? },
 *       "request":   { "method", "path", "params": {..}, "query": {..}, "headers": {..only those listed..},
 *                      "body"? (only with includeBody) },
 *       "route":     "<route id>",
 *       "object":    { "id": "<canonical id>" }?
 *     }
 *
 * Credentials never go to OPA: only headers named in `opa.headers` are included, and `authorization`, `cookie`,
 * `proxy-authorization` and `x-api-key` are refused there by the config check.
 *
 * Decisions are cached by the serialised input for `cacheTtl` (successful answers only, allow and deny alike, so a
 * failing OPA is retried); identical inputs in flight share one request.
 */
import { undiciExchange, type HttpExchange } from '../policies/jwt/http.ts';

export interface OpaOptions {
  /** OPA base URL, e.g. http://127.0.0.1:8181. */
  readonly url: string;
  /** Document path, e.g. `rampart/authz/allow` (slashes, no leading slash). */
  readonly path: string;
  readonly timeoutMs: number;
  readonly cacheTtlMs: number;
  readonly cacheMax?: number;
  readonly maxResponseBytes?: number;
  /** Clock in epoch ms (tests inject one). */
  readonly now?: () => number;
  /** HTTP exchange (tests may inject one; the default is bounded undici). */
  readonly exchange?: HttpExchange;
}

export type OpaDecision = { readonly allow: true; readonly cached: boolean } | { readonly allow: false; readonly reason: string; readonly cached: boolean };

/** Credential-bearing headers that may never be sent to OPA. */
export const OPA_FORBIDDEN_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key']);

export const OPA_PATH_PATTERN = '^[A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)*$';

/** Interprets an OPA answer body: true only for `{"result": true}` or `{"result": {"allow": true}}`. */
export function interpretOpaAnswer(status: number, body: string): { allow: boolean; reason: string } {
  if (status !== 200) return { allow: false, reason: `OPA answered ${status}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { allow: false, reason: 'OPA answer is not JSON' };
  }
  if (parsed === null || typeof parsed !== 'object' || !Object.hasOwn(parsed, 'result')) {
    return { allow: false, reason: 'OPA decision is undefined for this input' };
  }
  const result = (parsed as { result: unknown }).result;
  if (result === true) return { allow: true, reason: 'OPA result true' };
  if (result !== null && typeof result === 'object' && !Array.isArray(result) && Object.hasOwn(result, 'allow')) {
    const allow = (result as { allow: unknown }).allow === true;
    return { allow, reason: allow ? 'OPA result.allow true' : 'OPA result.allow is not true' };
  }
  return { allow: false, reason: 'OPA result is not true' };
}

export class OpaClient {
  readonly #endpoint: string;
  readonly #timeoutMs: number;
  readonly #ttl: number;
  readonly #max: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #exchange: HttpExchange;
  readonly #cache = new Map<string, { allow: boolean; reason: string; until: number }>();
  readonly #inFlight = new Map<string, Promise<{ allow: boolean; reason: string; cacheable: boolean }>>();
  readonly #closing = new AbortController();

  constructor(options: OpaOptions) {
    this.#endpoint = `${options.url.replace(/\/+$/, '')}/v1/data/${options.path}`;
    this.#timeoutMs = options.timeoutMs;
    this.#ttl = options.cacheTtlMs;
    this.#max = options.cacheMax ?? 10_000;
    this.#maxBytes = options.maxResponseBytes ?? 65_536;
    this.#now = options.now ?? Date.now;
    this.#exchange = options.exchange ?? undiciExchange;
  }

  get endpoint(): string {
    return this.#endpoint;
  }

  async decide(input: unknown): Promise<OpaDecision> {
    const body = JSON.stringify({ input });
    const now = this.#now();
    const hit = this.#cache.get(body);
    if (hit !== undefined) {
      if (hit.until > now) return hit.allow ? { allow: true, cached: true } : { allow: false, reason: hit.reason, cached: true };
      this.#cache.delete(body);
    }
    let pending = this.#inFlight.get(body);
    if (pending === undefined) {
      pending = this.#ask(body);
      this.#inFlight.set(body, pending);
      void pending.finally(() => this.#inFlight.delete(body));
    }
    const answer = await pending;
    if (answer.cacheable && this.#ttl > 0) {
      if (this.#cache.size >= this.#max) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(body, { allow: answer.allow, reason: answer.reason, until: this.#now() + this.#ttl });
    }
    return answer.allow ? { allow: true, cached: false } : { allow: false, reason: answer.reason, cached: false };
  }

  async #ask(body: string): Promise<{ allow: boolean; reason: string; cacheable: boolean }> {
    try {
      const response = await this.#exchange(this.#endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        timeoutMs: this.#timeoutMs,
        maxBytes: this.#maxBytes,
        signal: this.#closing.signal,
      });
      const verdict = interpretOpaAnswer(response.status, response.body);
      // Only real decisions are cached; an error status may be transient.
      return { ...verdict, cacheable: response.status === 200 };
    } catch (error) {
      const name = error instanceof Error ? error.name : 'error';
      const reason = name === 'TimeoutError' || name === 'AbortError' ? `OPA did not answer within ${this.#timeoutMs} ms` : `OPA unreachable (${name})`;
      return { allow: false, reason, cacheable: false };
    }
  }

  close(): void {
    this.#closing.abort();
    this.#cache.clear();
  }
}
