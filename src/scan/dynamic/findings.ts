/**
 * Collecting dynamic findings into the shared model (src/scan/model.ts): one finding per rule and root cause, with
 * every place it showed listed under it. Probes say what the root cause is with a `group` key: the operation (and
 * parameter) for per-operation flaws such as BOLA or injection, nothing for target-wide ones such as a missing CSP,
 * which then become one finding listing every operation that showed it.
 *
 * The fingerprint hashes the rule and the group key only (never the target's host or port), so a finding keeps its
 * identity between runs and environments (SARIF partialFingerprints, baselines).
 */
import { createHash } from 'node:crypto';
import type { Evidence, Finding, FindingLocation, RuleInfo } from '../model.ts';
import type { Exchange } from './client.ts';
import { EXCERPT_MARGIN, type Masker } from './mask.ts';

export type HttpLocation = Extract<FindingLocation, { kind: 'http' }>;

interface Group {
  readonly rule: RuleInfo;
  readonly key: string;
  message: string;
  readonly locations: Map<string, HttpLocation>;
  readonly evidence: Evidence[];
}

const MAX_EVIDENCE = 3;
const MAX_LOCATIONS = 200;

export class FindingCollector {
  readonly #groups = new Map<string, Group>();

  add(
    rule: RuleInfo,
    occurrence: {
      readonly location: HttpLocation;
      readonly message: string;
      readonly group?: string;
      /** Made only when the finding still has room for evidence (masking a large body is not free). */
      readonly evidence?: Evidence | (() => Evidence);
    },
  ): void {
    const key = `${rule.id}\u0000${occurrence.group ?? ''}`;
    let group = this.#groups.get(key);
    if (!group) {
      group = { rule, key: occurrence.group ?? '', message: occurrence.message, locations: new Map(), evidence: [] };
      this.#groups.set(key, group);
    }
    const where = locationKey(occurrence.location);
    if (!group.locations.has(where) && group.locations.size < MAX_LOCATIONS) group.locations.set(where, occurrence.location);
    if (occurrence.evidence && group.evidence.length < MAX_EVIDENCE) {
      group.evidence.push(typeof occurrence.evidence === 'function' ? occurrence.evidence() : occurrence.evidence);
    }
  }

  has(ruleId: string, group = ''): boolean {
    return this.#groups.has(`${ruleId}\u0000${group}`);
  }

  findings(): Finding[] {
    const out: Finding[] = [];
    for (const group of this.#groups.values()) {
      const locations = [...group.locations.values()];
      const message = locations.length > 1 && group.key === '' ? `${group.message} (${locations.length} operations or paths)` : group.message;
      out.push({
        rule: group.rule,
        message,
        locations,
        evidence: group.evidence.length > 0 ? group.evidence : undefined,
        fingerprint: fingerprint(group.rule.id, group.key),
      });
    }
    return out.sort((a, b) => a.rule.id.localeCompare(b.rule.id) || a.fingerprint.localeCompare(b.fingerprint));
  }
}

export function fingerprint(ruleId: string, key: string): string {
  return createHash('sha256').update(`rampart-dynamic\u0000${ruleId}\u0000${key}`).digest('hex').slice(0, 32);
}

export function locationKey(location: HttpLocation): string {
  return location.operation ?? `${location.method} ${location.path}`;
}

export function locationOf(exchange: Exchange, masker: Masker): HttpLocation {
  return {
    kind: 'http',
    method: exchange.method,
    path: masker.url(exchange.path),
    ...(exchange.operation === undefined ? {} : { operation: exchange.operation }),
  };
}

const BODY_EXCERPT = 1200;
const REQUEST_BODY_EXCERPT = 400;

/**
 * A masked excerpt of at most `limit` characters. Cut before masking (masking all of a 256 KiB body for a
 * 1,200-character excerpt is wasted work, three times per finding): to the limit plus EXCERPT_MARGIN, so that a
 * secret straddling the limit is still masked whole, then to the limit. The count is of the unmasked text.
 */
function excerpt(masker: Masker, text: string, limit: number): string {
  const whole = text.length <= limit + EXCERPT_MARGIN;
  const masked = masker.head(text, limit + EXCERPT_MARGIN);
  return whole && masked.length <= limit ? masked : `${masked.slice(0, limit)}… (${text.length} characters)`;
}

/** Request and response excerpts of an exchange, masked. */
export function evidenceOf(exchange: Exchange, masker: Masker, note?: string): Evidence {
  const requestLines = [`${exchange.method} ${masker.url(exchange.path)} HTTP/1.1`];
  for (const [name, value] of Object.entries(exchange.requestHeaders)) {
    if (name === 'user-agent' || name === 'accept') continue;
    requestLines.push(masker.header(name, value));
  }
  if (exchange.requestBody !== undefined) requestLines.push('', excerpt(masker, exchange.requestBody, REQUEST_BODY_EXCERPT));
  let response: string;
  if (exchange.status === 0) {
    response = `(no answer: ${exchange.error ?? 'error'})`;
  } else {
    const lines = [`HTTP/1.1 ${exchange.status}`];
    for (const [name, value] of Object.entries(exchange.headers)) {
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) lines.push(masker.header(name, one));
    }
    if (exchange.body !== '') lines.push('', excerpt(masker, exchange.body, BODY_EXCERPT));
    response = lines.join('\n');
  }
  return { request: requestLines.join('\n'), response, ...(note === undefined ? {} : { note }) };
}
