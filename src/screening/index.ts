/**
 * Injection screening (issue 5 item 3): detectors for what a schema cannot express, and the walkers that run them
 * over a request's places (query, body, headers, path) and report findings as (detector, JSON Pointer) pairs.
 *
 * Each detector is a pure function of one string, compiled at module load, linear in the string's length (see
 * text.ts). A value is screened in its raw form and its decoded forms (percent-decoding up to three rounds, NFKC),
 * so `%27%20OR%201%3D1--` and `%252e%252e%252f` are seen for what the application will see after decoding.
 *
 * Findings never carry the value: a location is a pointer whose segments are cut to 64 characters, a finding in an
 * object key names the object (`part: 'key'`), not the key, and that key is written REDACTED_SEGMENT in the location
 * of anything found below it.
 */
import { detectCommand } from './command.ts';
import { detectNoSql, isNoSqlOperatorKey } from './nosql.ts';
import { AllowList, pointerOf, type AllowNode } from './pointer.ts';
import { detectSql } from './sql.ts';
import { detectSsrf } from './ssrf.ts';
import { detectTemplate } from './template.ts';
import { F, someVariant, startsWithAt } from './text.ts';
import { detectTraversal } from './traversal.ts';
import { detectXss } from './xss.ts';

export { AllowList, parseLocation, pointerOf, escapeSegment } from './pointer.ts';
export { isNoSqlOperatorKey } from './nosql.ts';
export { isInternalAddress, isInternalHostname } from './ssrf.ts';
export { meter, percentDecode } from './text.ts';

export const DETECTOR_IDS = ['sql', 'nosql', 'command', 'traversal', 'template', 'xss', 'ssrf'] as const;
export type DetectorId = (typeof DETECTOR_IDS)[number];

/**
 * The string detectors by id. Each looks at one form of a value (`detects()` adds the decoded forms); `flags` are
 * the value's character classes (text.ts `charFlags`), computed once per value and shared by all detectors.
 */
export type Detector = (value: string, flags?: number) => boolean;
export const DETECTORS: Readonly<Record<DetectorId, Detector>> = Object.freeze({
  sql: detectSql,
  nosql: detectNoSql,
  command: detectCommand,
  traversal: detectTraversal,
  template: detectTemplate,
  xss: detectXss,
  ssrf: detectSsrf,
});

/** Whether detector `id` fires on `value` or one of its decoded forms. */
export function detects(id: DetectorId, value: string): boolean {
  const detector = DETECTORS[id];
  return someVariant(value, detector);
}

export interface Finding {
  readonly detector: DetectorId;
  /** JSON Pointer of the value (or, for `part: 'key'`, of the object whose member name matched). */
  readonly location: string;
  readonly part: 'value' | 'key';
}

/**
 * The segment written, in the location of every finding below it, for a member or parameter name that was itself a
 * finding (here an attack payload; in privacy/pii a detected value such as an email used as a key). Without it the
 * payload reached the event and the log line through the nested findings' locations (`/body/<payload>/x`): attacker
 * data in logs (log injection) and PII in logs, both of which the OWASP Logging Cheat Sheet says to keep out ("Event
 * collection", "Data to exclude"), and against the PII issue's "detected values are never written to any log".
 * `*` because it is a valid RFC 6901 segment, says "some member" as the allow-lists' wildcard does (the reported
 * location is the allow entry that would exempt it), and folds the findings below many such keys (a map keyed by
 * email) into one location. A literal `*` key reads the same: a location is a hint, never an identity.
 */
export const REDACTED_SEGMENT = '*';

/** Upper bound on findings collected for one request (log mode); block mode stops at the first. */
export const MAX_FINDINGS = 16;

/**
 * The detectors of one configuration and its allow-list, compiled once; `scan*` methods add findings to `out`
 * and return false once no more are wanted (the first finding when `stopAtFirst`, else MAX_FINDINGS).
 */
export class Screener {
  readonly #ids: readonly DetectorId[];
  readonly #fns: readonly Detector[];
  readonly #nosql: boolean;
  readonly #ssrf: boolean;
  readonly #allow: AllowList;
  readonly #stopAtFirst: boolean;
  #hit: DetectorId | undefined;
  readonly #visit = (text: string, flags: number): boolean => {
    // Fast path for identifiers, numbers and slugs (most JSON keys and many values): only a bare `localhost` or hex
    // host can be a finding there (ssrf).
    if ((flags & ~F.UNDERSCORE) === 0) {
      if (this.#ssrf && (startsWithAt(text, 0, 'localhost') || startsWithAt(text, 0, '0x')) && DETECTORS.ssrf(text, flags)) {
        this.#hit = 'ssrf';
        return true;
      }
      return false;
    }
    for (let i = 0; i < this.#fns.length; i++) {
      if (this.#fns[i]!(text, flags)) {
        this.#hit = this.#ids[i];
        return true;
      }
    }
    return false;
  };

  constructor(detectors: readonly DetectorId[], allow: readonly string[], stopAtFirst: boolean) {
    // Run in the canonical order whatever order the config lists them in.
    this.#ids = DETECTOR_IDS.filter((id) => detectors.includes(id));
    this.#fns = this.#ids.map((id) => DETECTORS[id]);
    this.#nosql = this.#ids.includes('nosql');
    this.#ssrf = this.#ids.includes('ssrf');
    this.#allow = new AllowList(allow);
    this.#stopAtFirst = stopAtFirst;
  }

  /** The first enabled detector that fires on the value or a decoded form of it. */
  screenString(value: string): DetectorId | undefined {
    this.#hit = undefined;
    return someVariant(value, this.#visit) ? this.#hit : undefined;
  }

  #add(out: Finding[], detector: DetectorId, segments: readonly string[], part: 'value' | 'key'): boolean {
    out.push({ detector, location: pointerOf(segments), part });
    return !(this.#stopAtFirst || out.length >= MAX_FINDINGS);
  }

  /** Screens one string at `segments` unless allowed; returns whether to go on. */
  scanValue(value: string, segments: readonly string[], out: Finding[]): boolean {
    if (!this.#allow.empty && this.#allow.allows(segments)) return true;
    const hit = this.screenString(value);
    return hit === undefined || this.#add(out, hit, segments, 'value');
  }

  /**
   * Screens name/value pairs (query string, form body) under `root`: each value, and each name (the name of
   * `pass[$ne]=1` is the injection; a finding in a name is reported at `root` with part 'key', and the value's
   * location then has REDACTED_SEGMENT for the name).
   */
  scanPairs(pairs: Iterable<[string, string]>, root: string, out: Finding[]): boolean {
    for (const [name, value] of pairs) {
      if (!this.#allow.empty && this.#allow.allows([root, name])) continue;
      const nameHit = this.screenString(name);
      if (nameHit !== undefined && !this.#add(out, nameHit, [root], 'key')) return false;
      const hit = this.screenString(value);
      // A name that was a finding is not written into the value's location either (REDACTED_SEGMENT).
      if (hit !== undefined && !this.#add(out, hit, [root, nameHit === undefined ? name : REDACTED_SEGMENT], 'value')) return false;
    }
    return true;
  }

  /** Walks a parsed JSON value below `segments` (depth is bounded by the hardened parser). */
  scanJson(value: unknown, segments: string[], out: Finding[]): boolean {
    return this.#walk(value, segments, this.#allow.empty ? undefined : this.#allowNodes(segments), out);
  }

  #allowNodes(segments: readonly string[]): readonly AllowNode[] {
    let nodes = this.#allow.start();
    for (const segment of segments) nodes = AllowList.step(nodes, segment);
    return nodes;
  }

  #walk(value: unknown, segments: string[], nodes: readonly AllowNode[] | undefined, out: Finding[]): boolean {
    if (nodes !== undefined && AllowList.allowed(nodes)) return true;
    if (typeof value === 'string') {
      const hit = this.screenString(value);
      return hit === undefined || this.#add(out, hit, segments, 'value');
    }
    if (typeof value !== 'object' || value === null) return true;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const segment = String(i);
        segments.push(segment);
        const going = this.#walk(value[i], segments, nodes && AllowList.step(nodes, segment), out);
        segments.pop();
        if (!going) return false;
      }
      return true;
    }
    for (const key of Object.keys(value)) {
      const childNodes = nodes && AllowList.step(nodes, key);
      if (childNodes !== undefined && AllowList.allowed(childNodes)) continue;
      // Keys: operator keys are NoSQL injection; any key may also carry the other payloads (keys become column
      // names, template variables, file names).
      const keyHit = this.#nosql && isNoSqlOperatorKey(key) ? 'nosql' : this.screenString(key);
      if (keyHit !== undefined && !this.#add(out, keyHit, segments, 'key')) return false;
      // In log mode the walk goes on below a key that was a finding: its findings must not carry the key.
      segments.push(keyHit === undefined ? key : REDACTED_SEGMENT);
      const going = this.#walk((value as Record<string, unknown>)[key], segments, childNodes, out);
      segments.pop();
      if (!going) return false;
    }
    return true;
  }
}
