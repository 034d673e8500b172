/**
 * Media types: which declared request media type a `Content-Type` selects (415 when none), and whether an `Accept`
 * header can be satisfied by what the operation answers with (406 when not), per RFC 9110 §8.3 and §12.5.1.
 */

/** `Type/Sub; charset=x` → `type/sub`, or '' when the value is not a media type. */
export function mediaTypeOf(header: string | undefined): string {
  if (!header) return '';
  const semi = header.indexOf(';');
  const type = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : '';
}

export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/** Does the declared type or range (`application/json`, `image/*`, `*\/*`) cover the concrete `type`? */
function covers(range: string, type: string): boolean {
  if (range === type || range === '*/*') return true;
  if (range.endsWith('/*')) return type.startsWith(range.slice(0, -1));
  return false;
}

/**
 * The most specific declared media type for a request's concrete type: exact beats `type/*` beats `*\/*`
 * (OpenAPI 3 §4.8.14: "the most specific key is applicable").
 */
export function selectMedia<T extends { readonly mediaType: string }>(declared: readonly T[], type: string): T | undefined {
  let best: T | undefined;
  let bestRank = -1;
  for (const media of declared) {
    if (!covers(media.mediaType, type)) continue;
    const rank = media.mediaType === type ? 2 : media.mediaType === '*/*' ? 0 : 1;
    if (rank > bestRank) {
      best = media;
      bestRank = rank;
    }
  }
  return best;
}

interface AcceptRange {
  readonly type: string;
  readonly q: number;
  /** 3 exact, 2 type/*, 1 *\/* (RFC 9110 §12.5.1: the most specific range decides a type's quality). */
  readonly specificity: number;
}

function parseAccept(header: string): AcceptRange[] | undefined {
  const out: AcceptRange[] = [];
  for (const item of header.split(',')) {
    const parts = item.split(';');
    const type = parts[0]!.trim().toLowerCase();
    if (type === '') continue;
    if (!/^[a-z0-9!#$&^_.+*-]+\/[a-z0-9!#$&^_.+*-]+$/.test(type)) return undefined;
    let q = 1;
    for (const param of parts.slice(1)) {
      const [name, value] = param.split('=').map((s) => s.trim());
      if (name?.toLowerCase() === 'q') {
        if (value === undefined || !/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value)) return undefined;
        q = Number(value);
      }
    }
    out.push({ type, q, specificity: type === '*/*' ? 1 : type.endsWith('/*') ? 2 : 3 });
  }
  return out;
}

/**
 * Whether some media type the operation produces is acceptable. No `Accept` (or an empty one) accepts anything;
 * a malformed one is treated as unsatisfiable. A declared range (`application/*` in the document) is acceptable
 * when any accepted type falls in it.
 */
export function acceptable(header: string | undefined, produces: readonly string[]): boolean {
  if (header === undefined || header.trim() === '' || produces.length === 0) return true;
  const ranges = parseAccept(header);
  if (!ranges) return false;
  if (ranges.length === 0) return true;
  for (const declared of produces) {
    if (declared.includes('*')) {
      if (ranges.some((r) => r.q > 0 && (covers(declared, r.type) || covers(r.type, declared) || declared === '*/*'))) return true;
      continue;
    }
    let best: AcceptRange | undefined;
    for (const range of ranges) {
      if (!covers(range.type, declared)) continue;
      if (!best || range.specificity > best.specificity) best = range;
    }
    if (best && best.q > 0) return true;
  }
  return false;
}
