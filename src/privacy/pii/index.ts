/**
 * PII detection and masking over JSON values (issue 5 item 4). `PiiScanner` is compiled once per route (detectors,
 * phone regions, allow-list) and walks a parsed JSON body: every string value and every member name is scanned,
 * numbers are checked for card numbers, and findings are (detector, JSON Pointer) pairs, never the value.
 *
 * Masking (mask.ts) replaces only the detected spans and never changes a JSON type: strings stay strings (a card
 * keeps its last four digits: `**** **** **** 1234`; an email keeps its first character and domain:
 * `j***@example.com`; everything else becomes `[redacted:<type>]`), and a card number sent as a JSON number stays
 * a number (its last four digits). The walk copies only the objects and arrays on the way to a masked value.
 */
import { REDACTED_SEGMENT } from '../../screening/index.ts';
import { AllowList, pointerOf, type AllowNode } from '../../screening/pointer.ts';
import {
  PII_DETECTOR_IDS,
  findCards,
  findCloudKeys,
  findEmails,
  findIbans,
  findJwts,
  findPhones,
  findPrivateKeys,
  findSsns,
  isCardNumber,
  type CountryCode,
  type PiiDetectorId,
  type Span,
} from './detectors.ts';
import { maskNumber, maskText } from './mask.ts';

export { PII_DETECTOR_IDS, luhnValid, type PiiDetectorId, type Span } from './detectors.ts';
export { maskText, maskNumber } from './mask.ts';

export interface PiiFinding {
  readonly detector: PiiDetectorId;
  /**
   * JSON Pointer of the value; for `part: 'key'`, of the object whose member name holds PII. A member name that holds
   * PII is written REDACTED_SEGMENT (`*`) in the locations below it, never as itself.
   */
  readonly location: string;
  readonly part: 'value' | 'key';
}

/** Upper bound on findings kept for one body (the event lists at most these). */
export const MAX_PII_FINDINGS = 16;

/**
 * Detectors in precedence order: when spans overlap, the earlier detector wins (a private key's base64 is not
 * scanned for phone numbers; a card number is not also a phone number).
 */
const ORDER: readonly PiiDetectorId[] = ['private-key', 'jwt', 'cloud-key', 'card', 'iban', 'ssn', 'email', 'phone'];

export interface PiiScannerOptions {
  readonly detectors: readonly PiiDetectorId[];
  /** Locations allowed to carry PII (JSON Pointers or dotted paths, `[]` for any array index). */
  readonly allow: readonly string[];
  /** Regions whose national phone formats count (E.164 `+...` numbers count for every region). */
  readonly phoneRegions: readonly CountryCode[];
}

export interface PiiResult {
  readonly findings: PiiFinding[];
  /** Findings beyond MAX_PII_FINDINGS (counted, not listed). */
  more: number;
}

const NO_SPANS: Span[] = [];

/**
 * Adds `added` (sorted, non-overlapping, from one detector) to `accepted` (sorted, non-overlapping), dropping the
 * added spans that overlap an accepted one: earlier detectors take precedence. Linear two-pointer merge.
 */
function mergeSpans(accepted: readonly Span[], added: readonly Span[]): Span[] {
  const out: Span[] = [];
  let p = 0;
  for (const span of added) {
    while (p < accepted.length && accepted[p]!.end <= span.start) out.push(accepted[p++]!);
    if (p < accepted.length && accepted[p]!.start < span.end) continue;
    out.push(span);
  }
  while (p < accepted.length) out.push(accepted[p++]!);
  return out;
}

export class PiiScanner {
  readonly #enabled: ReadonlySet<PiiDetectorId>;
  readonly #order: readonly PiiDetectorId[];
  readonly #allow: AllowList;
  readonly #regions: readonly CountryCode[];

  constructor(options: PiiScannerOptions) {
    this.#enabled = new Set(options.detectors);
    this.#order = ORDER.filter((id) => this.#enabled.has(id));
    this.#allow = new AllowList(options.allow);
    this.#regions = options.phoneRegions;
  }

  static get detectorIds(): readonly PiiDetectorId[] {
    return PII_DETECTOR_IDS;
  }

  /** The PII spans in one string, sorted and non-overlapping. */
  scanString(s: string): Span[] {
    if (s.length < 6) return NO_SPANS;
    // Cheap gates, one pass: most strings have no '@', too few digits, and none of the token prefixes.
    let digits = 0;
    for (let i = 0; i < s.length && digits < 7; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x30 && c <= 0x39) digits++;
    }
    let accepted: Span[] = [];
    const added: Span[] = [];
    for (const id of this.#order) {
      switch (id) {
        case 'private-key':
          if (s.includes('-----BEGIN ')) findPrivateKeys(s, added);
          break;
        case 'jwt':
          if (s.includes('eyJ')) findJwts(s, added);
          break;
        case 'cloud-key':
          findCloudKeys(s, added);
          break;
        case 'card':
          if (digits >= 7) findCards(s, added);
          break;
        case 'iban':
          if (digits >= 2) findIbans(s, added);
          break;
        case 'ssn':
          if (digits >= 7) findSsns(s, added);
          break;
        case 'email':
          if (s.includes('@')) findEmails(s, added);
          break;
        case 'phone':
          if (digits >= 7) findPhones(s, this.#regions, added, accepted);
          break;
      }
      if (added.length > 0) {
        accepted = mergeSpans(accepted, added);
        added.length = 0;
      }
    }
    return accepted;
  }

  /**
   * Walks `value`. With `mask`, returns the masked copy (the same reference when nothing was masked); otherwise
   * returns `value`. Findings go to `result` (at most MAX_PII_FINDINGS listed, the rest counted).
   */
  process(value: unknown, mask: boolean, result: PiiResult): unknown {
    return this.#walk(value, [], this.#allow.empty ? undefined : this.#allow.start(), mask, result);
  }

  #record(result: PiiResult, detector: PiiDetectorId, segments: readonly string[], part: 'value' | 'key'): void {
    if (result.findings.length < MAX_PII_FINDINGS) result.findings.push({ detector, location: pointerOf(segments), part });
    else result.more++;
  }

  #walk(value: unknown, segments: string[], nodes: readonly AllowNode[] | undefined, mask: boolean, result: PiiResult): unknown {
    if (nodes !== undefined && AllowList.allowed(nodes)) return value;
    if (typeof value === 'string') {
      const spans = this.scanString(value);
      if (spans.length === 0) return value;
      for (const span of spans) this.#record(result, span.detector, segments, 'value');
      return mask ? maskText(value, spans) : value;
    }
    if (typeof value === 'number') {
      if (this.#enabled.has('card') && isCardNumber(value)) {
        this.#record(result, 'card', segments, 'value');
        return mask ? maskNumber(value) : value;
      }
      return value;
    }
    if (typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const segment = String(i);
        segments.push(segment);
        const next = this.#walk(value[i], segments, nodes && AllowList.step(nodes, segment), mask, result);
        segments.pop();
        if (next !== value[i]) (copy ??= value.slice())[i] = next;
      }
      return copy ?? value;
    }
    const object = value as Record<string, unknown>;
    let changed = false;
    const entries: Array<[string, unknown]> = [];
    for (const key of Object.keys(object)) {
      const childNodes = nodes && AllowList.step(nodes, key);
      if (childNodes !== undefined && AllowList.allowed(childNodes)) {
        entries.push([key, object[key]]);
        continue;
      }
      let name = key;
      let segment = key;
      const keySpans = this.scanString(key);
      if (keySpans.length > 0) {
        for (const span of keySpans) this.#record(result, span.detector, segments, 'key');
        // "Detected values are never written to any log": the findings below this member (`/contacts/<email>/phone`)
        // go to the pii.detected event and the block-mode log line, so the name is not their location segment.
        segment = REDACTED_SEGMENT;
        if (mask) {
          name = maskText(key, keySpans);
          changed = true;
        }
      }
      segments.push(segment);
      const next = this.#walk(object[key], segments, childNodes, mask, result);
      segments.pop();
      if (next !== object[key]) changed = true;
      entries.push([name, next]);
    }
    if (!changed) return value;
    // Rebuild: masked member names may collide ("a@x.com" and "b@x.com" both become "*@x.com"-like): number them.
    // Each name remembers the next number to try: the first free one is never below it (names are only added), and
    // trying from 2 each time cost quadratic work on an answer whose many keys mask alike (n emails as keys).
    const out: Record<string, unknown> = {};
    let nextNumber: Map<string, number> | undefined;
    for (const [name, child] of entries) {
      let unique = name;
      if (Object.hasOwn(out, unique)) {
        nextNumber ??= new Map();
        let n = nextNumber.get(name) ?? 2;
        while (Object.hasOwn(out, (unique = `${name} (${n})`))) n++;
        nextNumber.set(name, n + 1);
      }
      out[unique] = child;
    }
    return out;
  }
}
