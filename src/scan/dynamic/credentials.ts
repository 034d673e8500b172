/**
 * The principals of a scan (user A, user B, admin) and how their credentials go on a request. Login credentials are
 * obtained on first use through the scan client (origin-locked, budgeted) and obtained again when they expire (the
 * JWT's `exp`, or the login answer's `expires_in`), so a long scan keeps working with short-lived tokens.
 *
 * Every credential value is registered with the masker, so it never appears in evidence.
 */
import type { AuthFile, Credential, LoginCredential, PrincipalName } from './auth-file.ts';
import type { Exchange, ScanClient } from './client.ts';
import { headerValue, headerValues } from './client.ts';
import { decodeJwt } from './jwt-variants.ts';
import type { Masker } from './mask.ts';
import { getAt } from '../../openapi/pointer.ts';

/** Where a credential value goes on a request. */
export type CredentialPlace =
  | { readonly kind: 'bearer' }
  | { readonly kind: 'header'; readonly name: string; readonly prefix: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'query'; readonly name: string };

export interface Applied {
  readonly headers: Readonly<Record<string, string>>;
  /** `name=value` to add to the query string (API keys in the query). */
  readonly query?: readonly [string, string];
}

/** A token the scan used, for the token-lifetime check. */
export interface IssuedToken {
  readonly principal: PrincipalName;
  readonly value: string;
  /** The login exchange that produced it; undefined for static credentials of the auth file. */
  readonly exchange?: Exchange;
  /** `expires_in` of the login answer, seconds. */
  readonly expiresIn?: number;
  /** Wall-clock time it was obtained (ms). */
  readonly obtainedAt: number;
}

export class ScanSetupError extends Error {
  override readonly name = 'ScanSetupError';
}

interface Held {
  value: string;
  expiresAt: number | undefined;
}

export interface CredentialDeps {
  readonly client: ScanClient;
  readonly masker: Masker;
  /** Wall clock in ms (injected so tests can move past a token's expiry without waiting). */
  readonly now?: () => number;
  /** The operation a login path belongs to, for evidence. */
  readonly operationFor?: (method: string, path: string) => string | undefined;
}

/** Re-login this long before a token expires (ms), or at a tenth of its lifetime for very short tokens. */
const RENEW_MARGIN_MS = 30_000;

export class Credentials {
  readonly #file: AuthFile | undefined;
  readonly #deps: CredentialDeps;
  readonly #held = new Map<PrincipalName, Held>();
  readonly issued: IssuedToken[] = [];
  logins = 0;

  constructor(file: AuthFile | undefined, deps: CredentialDeps) {
    this.#file = file;
    this.#deps = deps;
    for (const principal of ['userA', 'userB', 'admin'] as const) {
      const credential = file?.[principal];
      if (!credential) continue;
      registerSecrets(credential, deps.masker);
      const staticValue = staticToken(credential);
      if (staticValue !== undefined) this.issued.push({ principal, value: staticValue, obtainedAt: this.#now() });
    }
  }

  has(principal: PrincipalName): boolean {
    return this.#file?.[principal] !== undefined;
  }

  /** The place a principal's token goes, for sending forged variants in the same place; undefined for `headers`. */
  place(principal: PrincipalName): CredentialPlace | undefined {
    const credential = this.#file?.[principal];
    if (!credential) return undefined;
    if ('bearer' in credential) return { kind: 'bearer' };
    if ('apiKey' in credential) {
      const key = credential.apiKey;
      return key.in === 'header' ? { kind: 'header', name: key.name, prefix: '' } : key.in === 'cookie' ? { kind: 'cookie', name: key.name } : { kind: 'query', name: key.name };
    }
    if ('login' in credential) {
      const send = credential.login.send ?? { as: 'bearer' };
      if (send.as === 'bearer') return { kind: 'bearer' };
      if (send.as === 'header') return { kind: 'header', name: send.name, prefix: send.prefix ?? '' };
      return { kind: 'cookie', name: send.name };
    }
    const headers = credential.headers;
    const auth = Object.entries(headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
    return auth !== undefined && /^Bearer \S+$/i.test(auth) ? { kind: 'bearer' } : undefined;
  }

  /** The principal's current token value (logging in when needed). */
  async token(principal: PrincipalName): Promise<string | undefined> {
    const credential = this.#file?.[principal];
    if (!credential) return undefined;
    if ('login' in credential) return (await this.#login(principal, credential.login)).value;
    if ('headers' in credential) {
      const auth = Object.entries(credential.headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
      return auth !== undefined && /^Bearer \S+$/i.test(auth) ? auth.slice(7) : undefined;
    }
    return staticToken(credential);
  }

  /** Headers (and query) that authenticate a request as the principal. */
  async apply(principal: PrincipalName): Promise<Applied> {
    const credential = this.#file?.[principal];
    if (!credential) throw new ScanSetupError(`no credential for ${principal}`);
    if ('headers' in credential) return { headers: { ...credential.headers } };
    const place = this.place(principal)!;
    const value = (await this.token(principal))!;
    return applyAt(place, value);
  }

  #now(): number {
    return this.#deps.now ? this.#deps.now() : Date.now();
  }

  async #login(principal: PrincipalName, login: LoginCredential): Promise<Held> {
    const held = this.#held.get(principal);
    if (held && (held.expiresAt === undefined || this.#now() < held.expiresAt)) return held;
    const method = login.method ?? 'POST';
    const headers: Record<string, string> = { ...(login.headers ?? {}) };
    let body: string | undefined;
    if (login.json !== undefined) {
      body = JSON.stringify(login.json);
      headers['content-type'] ??= 'application/json';
    } else if (login.form !== undefined) {
      body = new URLSearchParams(login.form as Record<string, string>).toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    }
    const exchange = await this.#deps.client.send({
      method,
      path: login.path,
      headers,
      body,
      principal: `login:${principal}`,
      operation: this.#deps.operationFor?.(method, login.path.split('?')[0]!),
      purpose: 'login',
      authFlow: true,
    });
    this.logins++;
    if (exchange.status < 200 || exchange.status > 299) {
      throw new ScanSetupError(`auth file: the login of ${principal} (${method} ${login.path}) answered ${exchange.status === 0 ? exchange.error : exchange.status}`);
    }
    const value = extractToken(exchange, login);
    if (value === undefined || value === '') {
      throw new ScanSetupError(`auth file: the login answer of ${principal} has no token at ${describeSource(login)}`);
    }
    this.#deps.masker.addSecret(value);
    let expiresIn: number | undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(exchange.body) as unknown;
    } catch {
      parsed = undefined;
    }
    const lifetime = getAt(parsed, login.expiresInPointer ?? '/expires_in');
    if (typeof lifetime === 'number' && Number.isFinite(lifetime) && lifetime > 0) expiresIn = lifetime;
    const obtainedAt = this.#now();
    const exp = decodeJwt(value)?.claims.exp;
    let expiresAt: number | undefined;
    if (typeof exp === 'number') expiresAt = exp * 1000;
    else if (expiresIn !== undefined) expiresAt = obtainedAt + expiresIn * 1000;
    if (expiresAt !== undefined) expiresAt -= Math.min(RENEW_MARGIN_MS, Math.max(0, (expiresAt - obtainedAt) / 10));
    const next: Held = { value, expiresAt };
    this.#held.set(principal, next);
    this.issued.push({ principal, value, exchange, obtainedAt, ...(expiresIn === undefined ? {} : { expiresIn }) });
    return next;
  }
}

export function applyAt(place: CredentialPlace, value: string): Applied {
  switch (place.kind) {
    case 'bearer':
      return { headers: { authorization: `Bearer ${value}` } };
    case 'header':
      return { headers: { [place.name.toLowerCase()]: `${place.prefix}${value}` } };
    case 'cookie':
      return { headers: { cookie: `${place.name}=${value}` } };
    case 'query':
      return { headers: {}, query: [place.name, value] };
  }
}

function staticToken(credential: Credential): string | undefined {
  if ('bearer' in credential) return credential.bearer;
  if ('apiKey' in credential) return credential.apiKey.value;
  return undefined;
}

function registerSecrets(credential: Credential, masker: Masker): void {
  if ('bearer' in credential) masker.addSecret(credential.bearer);
  else if ('apiKey' in credential) {
    masker.addSecret(credential.apiKey.value);
    if (credential.apiKey.in === 'header') masker.addHeaderName(credential.apiKey.name);
  } else if ('headers' in credential) {
    for (const [name, value] of Object.entries(credential.headers)) {
      masker.addHeaderName(name);
      masker.addSecret(value.replace(/^\S+ /, ''));
    }
  } else {
    const login = credential.login;
    const walk = (value: unknown): void => {
      if (typeof value === 'string') masker.addSecret(value);
      else if (Array.isArray(value)) value.forEach(walk);
      else if (value !== null && typeof value === 'object') Object.values(value).forEach(walk);
    };
    // Login bodies hold passwords; user names are masked too (they are personal data).
    walk(login.json);
    walk(login.form);
    for (const [name, value] of Object.entries(login.headers ?? {})) {
      masker.addHeaderName(name);
      masker.addSecret(value);
    }
    const send = login.send;
    if (send && send.as === 'header') masker.addHeaderName(send.name);
  }
}

function extractToken(exchange: Exchange, login: LoginCredential): string | undefined {
  const source = login.token;
  if (source.from === 'header') return headerValue(exchange.headers, source.name.toLowerCase())?.trim();
  if (source.from === 'cookie') {
    for (const line of headerValues(exchange.headers, 'set-cookie')) {
      const pair = line.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq > 0 && pair.slice(0, eq).trim() === source.name) return pair.slice(eq + 1).trim();
    }
    return undefined;
  }
  try {
    const value = getAt(JSON.parse(exchange.body) as unknown, source.pointer);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

function describeSource(login: LoginCredential): string {
  const source = login.token;
  return source.from === 'json' ? `JSON pointer ${source.pointer}` : `${source.from} ${source.name}`;
}
