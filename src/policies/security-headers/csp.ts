/**
 * Config-time analysis of a Content-Security-Policy (CSP Level 3, W3C). Parsing follows CSP3 §2.2.1 "Parse a
 * serialized CSP"; the weaknesses flagged are the ones that void CSP as an XSS defence (CSP3 §8 "Security
 * considerations", OWASP Content Security Policy Cheat Sheet, Google "CSP Is Dead, Long Live CSP!" (Weichselbaum et
 * al., CCS 2016): inline/eval keywords, wildcards and scheme-only sources in script directives).
 */

export interface CspDirective {
  readonly name: string;
  /** Source expressions / tokens as written. */
  readonly values: readonly string[];
}

export interface CspFinding {
  readonly kind: 'error' | 'warning' | 'unsafe';
  readonly message: string;
}

export interface CspAnalysis {
  readonly directives: ReadonlyMap<string, CspDirective>;
  readonly findings: readonly CspFinding[];
}

/** Directive names defined by CSP3, CSP Embedded Enforcement, Trusted Types, Mixed Content and Upgrade Insecure Requests. */
const KNOWN_DIRECTIVES = new Set([
  'base-uri',
  'block-all-mixed-content',
  'child-src',
  'connect-src',
  'default-src',
  'fenced-frame-src',
  'font-src',
  'form-action',
  'frame-ancestors',
  'frame-src',
  'img-src',
  'manifest-src',
  'media-src',
  'object-src',
  'prefetch-src',
  'report-to',
  'report-uri',
  'require-trusted-types-for',
  'sandbox',
  'script-src',
  'script-src-attr',
  'script-src-elem',
  'style-src',
  'style-src-attr',
  'style-src-elem',
  'trusted-types',
  'upgrade-insecure-requests',
  'worker-src',
]);

/** Directives that govern script execution, directly or as the fallback (CSP3 §6.8.3 "effective directive"). */
const SCRIPT_DIRECTIVES = new Set(['default-src', 'script-src', 'script-src-elem', 'script-src-attr']);

/** Keywords that re-enable exactly what CSP exists to stop. */
const UNSAFE_KEYWORDS: ReadonlyMap<string, string> = new Map([
  ["'unsafe-inline'", 'allows inline scripts/styles and event handlers, the main XSS vector CSP blocks'],
  ["'unsafe-eval'", 'allows eval() and friends, turning injected strings into code'],
  ["'unsafe-hashes'", 'allows inline event handlers whose hash matches, reopening attribute injection'],
]);

const DIRECTIVE_NAME = /^[a-z0-9-]+$/;
/**
 * CSP3 §2.2 ABNF: `directive-value = *( required-ascii-whitespace / ( %x21-%x2B / %x2D-%x3A / %x3C-%x7E ) )`,
 * i.e. visible ASCII except "," (which would split the header into two policies) and ";", plus space and tab.
 */
// eslint-disable-next-line no-control-regex -- the ranges are the grammar
const ILLEGAL_CHARACTER = /[^\u0020-\u007e\u0009]|,/;
const LINE_BREAK = /[\r\n]/;

export function analyseCsp(text: string): CspAnalysis {
  const findings: CspFinding[] = [];
  const directives = new Map<string, CspDirective>();
  if (LINE_BREAK.test(text)) {
    findings.push({ kind: 'error', message: 'contains a line break (CR/LF): header injection, refused' });
    return { directives, findings };
  }
  const illegal = ILLEGAL_CHARACTER.exec(text);
  if (illegal) {
    const shown = illegal[0] === ',' ? '","' : `U+${illegal[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    findings.push({
      kind: 'error',
      message: `contains ${shown}, which a serialized CSP may not (CSP3 §2.2; "," would split it into two policies)`,
    });
    return { directives, findings };
  }
  const tokens = text.split(';');
  tokens.forEach((token, index) => {
    const trimmed = token.trim();
    if (trimmed === '') {
      // A single trailing ";" is common and harmless; an empty directive anywhere else is a typo.
      if (index !== tokens.length - 1) findings.push({ kind: 'error', message: 'has an empty directive (";;" or a leading ";")' });
      return;
    }
    const parts = trimmed.split(/[ \t]+/);
    const name = parts[0]!.toLowerCase();
    if (!DIRECTIVE_NAME.test(name)) {
      findings.push({ kind: 'error', message: `has an invalid directive name "${parts[0]}"` });
      return;
    }
    if (directives.has(name)) {
      // CSP3 §2.2.1 step 2.5: a repeated directive is ignored, so its sources silently do nothing.
      findings.push({ kind: 'warning', message: `repeats ${name}; browsers ignore every occurrence after the first` });
      return;
    }
    if (!KNOWN_DIRECTIVES.has(name)) {
      findings.push({ kind: 'warning', message: `has an unknown directive "${name}" (browsers ignore it; a typo?)` });
    }
    const values = parts.slice(1);
    directives.set(name, { name, values });
    for (const value of values) {
      const source = value.toLowerCase();
      const keywordRisk = UNSAFE_KEYWORDS.get(source);
      if (keywordRisk !== undefined) {
        findings.push({ kind: 'unsafe', message: `${source} in ${name} ${keywordRisk}` });
      } else if (source === '*') {
        findings.push({ kind: 'unsafe', message: `a bare * in ${name} allows any host` });
      } else if (SCRIPT_DIRECTIVES.has(name)) {
        if (source === 'data:') {
          findings.push({ kind: 'unsafe', message: `data: in ${name} lets an attacker supply script as a data: URL` });
        } else if (source === 'http:' || source === 'https:') {
          findings.push({ kind: 'unsafe', message: `the scheme-only source ${source} in ${name} allows script from any host` });
        }
      }
    }
  });
  if (findings.every((finding) => finding.kind !== 'error') && !directives.has('frame-ancestors')) {
    findings.push({
      kind: 'warning',
      message: "has no frame-ancestors directive, so responses may be framed (clickjacking); add frame-ancestors 'none'",
    });
  }
  return { directives, findings };
}
