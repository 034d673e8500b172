/**
 * Object-level authorization (issue 4 point 3; OWASP API1:2023 Broken Object Level Authorization).
 *
 * The route declares where the object id is (`path.orderId`, `query.orderId`, `body.order.id`) and its type. The
 * id is read once and put in one canonical form per type, so that a different spelling of the same id can never
 * pass a check the canonical one fails:
 *
 * - `integer`: only canonical decimal text (`0`, `7`, `42`), or a JSON number that is a safe integer. Leading
 *   zeros are refused, not stripped: `010` is 8 to parsers that honour octal (C `strtol` base 0, PHP `intval`
 *   base 0, ES3 `parseInt`) and 10 to others, so the gateway cannot know which object the upstream will load.
 *   Signs, decimals (`7.0`), exponents (`7e0`), hex and whitespace are refused for the same reason.
 * - `uuid`: RFC 9562 text form, compared lower-case (RFC 9562 §4: case-insensitive on input).
 * - `string`: compared exactly after percent-decoding; control characters and more than 256 characters refused.
 *
 * Arrays and objects are refused for every type (`{"orderId": [7]}`, `?orderId[]=7`), and so is a query parameter
 * given twice (`?orderId=7&orderId=8`: frameworks disagree on which one wins). Percent-encodings are decoded once
 * before the check (`%37` is `7`); the canonical path has already decoded unreserved characters, and query values
 * are decoded by URLSearchParams. A refused id denies like a foreign one, with the same status.
 *
 * Ownership is decided by a CEL rule on the request (`owner:`) or by the ownership store Rampart keeps
 * (`lookup:`), filled when a creating request succeeds (see OwnershipStore and `creates:` in the policy).
 */
import type { Principal } from '../policies/types.ts';
import { parseUrl } from '../text/url.ts';

export type IdType = 'integer' | 'string' | 'uuid';
export type IdSource = 'path' | 'query' | 'body';

export interface IdLocation {
  readonly source: IdSource;
  /** Path parameter or query parameter name, or the dotted path into the JSON body. */
  readonly name: string;
  /** For body ids: the dotted path split once. */
  readonly segments: readonly string[];
}

/** `path.orderId`, `query.id`, `body.order.id` → location, or an error message. */
export function parseIdLocation(text: string): IdLocation | string {
  const dot = text.indexOf('.');
  if (dot <= 0) return 'must be path.NAME, query.NAME or body.PATH';
  const source = text.slice(0, dot);
  const name = text.slice(dot + 1);
  if (source !== 'path' && source !== 'query' && source !== 'body') return `unknown source "${source}" (path, query or body)`;
  if (name === '') return 'names no parameter';
  const segments = source === 'body' ? name.split('.') : [name];
  if (segments.some((s) => s === '' || s === '__proto__' || s === 'constructor' || s === 'prototype')) return 'has an empty or forbidden segment';
  return { source, name, segments };
}

const CANONICAL_INTEGER = /^(?:0|[1-9][0-9]{0,15})$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export type NormalisedId = { ok: true; id: string } | { ok: false; reason: string };

/** Puts a raw id value (string from path/query, any JSON value from a body) in canonical form, or refuses it. */
export function normaliseId(raw: unknown, type: IdType, decode: boolean): NormalisedId {
  if (raw === undefined || raw === null) return { ok: false, reason: 'object id missing' };
  if (typeof raw === 'object') return { ok: false, reason: 'object id is an array or object' };
  if (typeof raw === 'number') {
    if (type === 'integer' && Number.isSafeInteger(raw) && raw >= 0) return { ok: true, id: String(raw) };
    return { ok: false, reason: `object id is a number that is not a valid ${type} id` };
  }
  if (typeof raw !== 'string') return { ok: false, reason: `object id is a ${typeof raw}` };
  let text = raw;
  if (decode && text.includes('%')) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return { ok: false, reason: 'object id has an invalid percent-encoding' };
    }
  }
  switch (type) {
    case 'integer':
      return CANONICAL_INTEGER.test(text) && Number.isSafeInteger(Number(text)) ? { ok: true, id: text } : { ok: false, reason: 'object id is not a canonical integer' };
    case 'uuid':
      return UUID.test(text) ? { ok: true, id: text.toLowerCase() } : { ok: false, reason: 'object id is not a UUID' };
    case 'string':
      if (text === '' || text.length > 256) return { ok: false, reason: 'object id is empty or longer than 256 characters' };
      if (CONTROL.test(text)) return { ok: false, reason: 'object id contains control characters' };
      return { ok: true, id: text };
  }
}

/** One query parameter's value: undefined when absent, null when given more than once (ambiguous). */
export function singleQueryValue(query: string, name: string): string | null | undefined {
  if (query === '') return undefined;
  let found: string | undefined;
  for (const [key, value] of new URLSearchParams(query)) {
    if (key !== name) continue;
    if (found !== undefined) return null;
    found = value;
  }
  return found;
}

/** Reads a dotted path from a parsed JSON body (own properties only). */
export function readBodyPath(body: unknown, segments: readonly string[]): unknown {
  let current: unknown = body;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object' || Array.isArray(current) || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/**
 * Reads and normalises the object id of a request. Path parameters come from the router over the canonical path
 * (still percent-encoded apart from unreserved characters), query values are already decoded by URLSearchParams.
 */
export function extractObjectId(
  location: IdLocation,
  type: IdType,
  params: Readonly<Record<string, string>>,
  query: string,
  body: unknown,
): NormalisedId {
  switch (location.source) {
    case 'path':
      return normaliseId(Object.hasOwn(params, location.name) ? params[location.name] : undefined, type, true);
    case 'query': {
      // `orderId[]=7`, `orderId[0]=7` and `orderId[x]=7` are arrays or objects to PHP, Rails and qs: refuse them
      // (also beside a plain `orderId=`, where those frameworks would let the bracketed form win).
      if ((query.includes('[') || /%5b/i.test(query)) && hasBracketKey(query, location.name)) {
        return { ok: false, reason: 'object id is an array or object' };
      }
      const value = singleQueryValue(query, location.name);
      if (value === null) return { ok: false, reason: 'object id given more than once in the query' };
      return normaliseId(value, type, false);
    }
    case 'body':
      return normaliseId(readBodyPath(body, location.segments), type, false);
  }
}

function hasBracketKey(query: string, name: string): boolean {
  for (const key of new URLSearchParams(query).keys()) if (key.startsWith(`${name}[`)) return true;
  return false;
}

/** Who owns an object, as recorded by the ownership store. */
export interface OwnerRecord {
  readonly owner: string;
  readonly tenant?: string;
}

/**
 * The ownership lookup Rampart keeps (issue 4 point 3): `type` names a collection shared by the routes that create
 * and read its objects (e.g. `orders`). Synchronous on purpose for the in-memory adapter; a store-backed adapter
 * (SQLite/PostgreSQL, the identities port) may answer with a Promise.
 */
export interface OwnershipStore {
  owner(type: string, id: string): OwnerRecord | undefined | Promise<OwnerRecord | undefined>;
  record(type: string, id: string, owner: OwnerRecord): void | Promise<void>;
  forget?(type: string, id: string): void | Promise<void>;
}

/**
 * In-memory ownership store with a bound on entries (oldest forgotten first). Forgetting fails closed: an object
 * whose owner is no longer known is denied like any foreign object.
 */
export class MemoryOwnershipStore implements OwnershipStore {
  readonly #entries = new Map<string, OwnerRecord>();
  readonly #max: number;
  constructor(maxEntries = 100_000) {
    this.#max = maxEntries;
  }
  owner(type: string, id: string): OwnerRecord | undefined {
    return this.#entries.get(`${type}\u0000${id}`);
  }
  record(type: string, id: string, owner: OwnerRecord): void {
    const key = `${type}\u0000${id}`;
    // First writer wins: a later "create" answer naming an existing id must not transfer ownership.
    if (this.#entries.has(key)) return;
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, Object.freeze({ ...owner }));
  }
  forget(type: string, id: string): void {
    this.#entries.delete(`${type}\u0000${id}`);
  }
  get size(): number {
    return this.#entries.size;
  }
}

/** The process-wide default store: survives config reloads (a runtime's shared resources do not). */
export const defaultOwnershipStore = new MemoryOwnershipStore();

/** Whether the principal owns the object per the record (same subject, and same tenant when one was recorded). */
export function ownsRecord(principal: Principal, record: OwnerRecord | undefined): boolean {
  if (record === undefined) return false;
  if (record.owner !== principal.subject) return false;
  return record.tenant === undefined || record.tenant === principal.tenant;
}

/**
 * The id of a created object from a `Location` header (RFC 9110 §10.2.2, §15.3.2 "201 Created"): the last path
 * segment of the URI reference, percent-decoded, then normalised per type.
 */
export function idFromLocation(location: string, type: IdType): NormalisedId {
  let pathname: string;
  try {
    pathname = parseUrl(location, 'http://rampart.invalid').pathname;
  } catch {
    return { ok: false, reason: 'Location is not a URI reference' };
  }
  const trimmed = pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
  const last = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  return normaliseId(last, type, true);
}
