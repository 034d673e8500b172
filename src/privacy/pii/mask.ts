/**
 * Masking of detected PII spans. Only the spans change; the text around them and the JSON type stay:
 *
 * - card: every digit but the last four becomes `*`, separators stay (`4111 1111 1111 1111` → `**** **** **** 1111`),
 *   as PCI DSS v4.0 req. 3.4.1 allows at most the last four to be shown
 * - email: first character of the local part, `***`, and the domain (`john.doe@example.com` → `j***@example.com`)
 * - everything else: `[redacted:<type>]` (`[redacted:iban]`, `[redacted:jwt]`, ...)
 * - a card number sent as a JSON number stays a number: its last four digits (`4111111111111111` → `1111`)
 */
import type { Span } from './detectors.ts';

function maskSpan(text: string, span: Span): string {
  const value = text.slice(span.start, span.end);
  switch (span.detector) {
    case 'card': {
      let digitsSeen = 0;
      let totalDigits = 0;
      for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x30 && value.charCodeAt(i) <= 0x39) totalDigits++;
      let out = '';
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x30 && c <= 0x39) {
          digitsSeen++;
          out += digitsSeen > totalDigits - 4 ? value[i] : '*';
        } else out += value[i];
      }
      return out;
    }
    case 'email': {
      const at = value.lastIndexOf('@');
      return `${value[0]}***${value.slice(at)}`;
    }
    default:
      return `[redacted:${span.detector}]`;
  }
}

/** `text` with every span (sorted, non-overlapping) masked. */
export function maskText(text: string, spans: readonly Span[]): string {
  let out = '';
  let last = 0;
  for (const span of spans) {
    out += text.slice(last, span.start) + maskSpan(text, span);
    last = span.end;
  }
  return out + text.slice(last);
}

/** A card number held in a JSON number: its last four digits, still a number. */
export function maskNumber(value: number): number {
  return value % 10000;
}
