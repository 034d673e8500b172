/**
 * Masking for evidence: reports carry request and response excerpts, never credentials or personal data. Applied
 * to every excerpt before it leaves the scanner (the JSON, SARIF and HTML reports are shared in CI logs and tickets).
 *
 * - Known secrets (tokens, API keys, passwords and session values the scanner used or obtained) are replaced
 *   wherever they appear.
 * - Credential headers (`Authorization`, `Cookie`, API-key headers) keep only the scheme or the cookie names;
 *   `Set-Cookie` keeps the name and attributes (the cookie-flag finding needs them) but not the value.
 * - JWTs, card numbers, social security numbers and e-mail addresses in bodies are masked by shape; JSON string
 *   values of properties with secret-looking names (`password`, `token`, ...) are masked by name.
 */
import { nameWords, piiKind } from './signatures.ts';

const MASK = '***';
/**
 * JWTs (`eyJ` header, payload, signature), in linear time. `\beyJ[\w-]{5,}\.…` was tried at every `eyJ` after a
 * `-` and ran `[\w-]{5,}` to the end of the run each time: O(n²) on `eyJaa-` repeated (12.8 s at 256 KiB). Here a
 * match starts only where a run of `[\w-]` starts (the lookbehind) and goes, keeping the prefix (`$1`), to the
 * first `\beyJ` of that run, never past one (`(?!\beyJ)`); so a run is scanned a bounded number of times. The
 * matches are the old ones: a later `\beyJ` of the same run can match only if the first does (its first part is a
 * suffix of the first's), and the old scan took the first. Bounded quantifiers (`{5,4096}`) would only have cut
 * the cost to O(n × 4096) (still 0.4 s at 256 KiB) and left longer JWTs unmasked.
 */
const JWT = /(?<![\w-])((?:(?!\beyJ)[\w-])*)\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g;
/** A JWT cut short by the end of an excerpt (its first parts only), found the same way. */
const JWT_AT_END = /(?<![\w-])((?:(?!\beyJ)[\w-])*)\beyJ[\w-]*(?:\.[\w-]*)?$/;
const EMAIL_IN_TEXT = /\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{0,63}@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24})\b/g;
const SSN_IN_TEXT = /\b\d{3}-\d{2}-(\d{4})\b/g;
const CARD_IN_TEXT = /\b(?:\d[ -]?){12,18}\d\b/g;
const SECRET_JSON_VALUE = /("([A-Za-z0-9_-]{1,64})"\s*:\s*)"((?:[^"\\]|\\.){1,4096})"/g;
const SECRET_QUERY = /([?&])([^=&#]{1,64})=([^&#]*)/g;

/**
 * How far past an excerpt's limit the text is masked before it is cut to the limit (Masker.head), so that a value
 * straddling the limit is masked whole: more than the longest bounded pattern (SECRET_JSON_VALUE: a 64-character
 * name and a 4,096-character value) and than common JWTs; a longer JWT is masked to the cut by JWT_AT_END.
 */
export const EXCERPT_MARGIN = 8192;

const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'api-key', 'x-auth-token', 'x-access-token', 'x-csrf-token']);

function secretWord(name: string): boolean {
  return nameWords(name).some((w) => /^(password|passwd|pwd|secret|token|apikey|key|hash|salt|ssn|cvv|cvc|pin|otp|signature|sig|credential|credentials|session|sid|auth)$/.test(w));
}

export class Masker {
  readonly #secrets = new Set<string>();
  readonly #headerNames = new Set(CREDENTIAL_HEADERS);

  /** A value the scanner used or obtained as a credential; masked wherever it appears. */
  addSecret(value: string | undefined): void {
    // Very short values would mask ordinary text; no real credential is that short.
    if (value !== undefined && value.length >= 6) this.#secrets.add(value);
  }

  /** A header that carries a credential for this target (e.g. an API-key header named in the auth file). */
  addHeaderName(name: string): void {
    this.#headerNames.add(name.toLowerCase());
  }

  /** Free text (bodies, URLs): known secrets, JWTs, personal data, secret-named JSON values. */
  text(input: string): string {
    let out = input;
    for (const secret of this.#secrets) if (out.includes(secret)) out = out.split(secret).join(MASK);
    out = out.replace(JWT, `$1eyJ${MASK}`);
    out = out.replace(SECRET_JSON_VALUE, (whole, prefix: string, name: string) => (secretWord(name) ? `${prefix}"${MASK}"` : whole));
    out = out.replace(CARD_IN_TEXT, (m) => (piiKind(m) === 'card-number' ? `${MASK}${m.replace(/[ -]/g, '').slice(-4)}` : m));
    out = out.replace(SSN_IN_TEXT, (_m, last: string) => `${MASK}-**-${last}`);
    out = out.replace(EMAIL_IN_TEXT, (_m, first: string, domain: string) => `${first}${MASK}@${domain}`);
    return out;
  }

  /**
   * `text()` of the first `length` characters of a longer input (an excerpt cut before masking, with a margin past
   * the excerpt's end: see EXCERPT_MARGIN). A JWT the cut left without its last parts is masked as well.
   */
  head(input: string, length: number): string {
    if (input.length <= length) return this.text(input);
    return this.text(input.slice(0, length)).replace(JWT_AT_END, `$1eyJ${MASK}`);
  }

  /** A request target `path?query`: secret-named query parameters and known secrets masked. */
  url(pathAndQuery: string): string {
    const masked = pathAndQuery.replace(SECRET_QUERY, (whole, sep: string, name: string) =>
      secretWord(decodeSafe(name)) || /^(access_token|id_token|api_key|apikey|key|sig|signature|code)$/i.test(decodeSafe(name)) ? `${sep}${name}=${MASK}` : whole,
    );
    return this.text(masked);
  }

  /** One header line, masked by name. */
  header(name: string, value: string): string {
    const lower = name.toLowerCase();
    if (lower === 'authorization' || lower === 'proxy-authorization') {
      const space = value.indexOf(' ');
      return `${name}: ${space > 0 ? value.slice(0, space) + ' ' : ''}${MASK}`;
    }
    if (lower === 'cookie') {
      return `${name}: ${value
        .split(';')
        .map((pair) => pair.trim().split('=')[0] + '=' + MASK)
        .join('; ')}`;
    }
    if (lower === 'set-cookie') {
      const [pair = '', ...attributes] = value.split(';');
      const cookieName = pair.split('=')[0]?.trim() ?? '';
      return `${name}: ${[`${cookieName}=${MASK}`, ...attributes.map((a) => a.trim())].join('; ')}`;
    }
    if (this.#headerNames.has(lower) || secretWord(lower)) return `${name}: ${MASK}`;
    return `${name}: ${this.text(value)}`;
  }
}

function decodeSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
