/**
 * The terminal report never sends escape sequences, bidi controls or line separators from a spec, a target, a
 * baseline or a note to the user's terminal: `printable` shows them as `\u001b`, and every line that quotes such text
 * goes through it (finding messages and locations, baseline reasons, notes).
 */
import { describe, expect, it } from 'vitest';
import { STATIC_RULES } from '../static/rules.ts';
import type { Finding, ScanReport } from '../model.ts';
import { printable, renderTerminal } from './terminal.ts';

/** What must never reach a terminal raw: C0/C1 controls and DEL, format (bidi, zero-width, tag) characters, U+2028/2029. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const HOSTILE_NAME = 'b\u001b]0;owned\u0007\u001b[2J\u001b[31mFAKE: all checks passed\u001b[0m';

/** [what, input, what printable makes of it]: hostile text from a spec or a target, shown on one harmless line. */
const TERMINAL_ROWS: ReadonlyArray<readonly [string, string, string]> = [
  ['escape sequences of a security scheme name', HOSTILE_NAME, 'b\\u001b]0;owned\\u0007\\u001b[2J\\u001b[31mFAKE: all checks passed\\u001b[0m'],
  ['C1 CSI, NEL and DEL', 'C1 CSI \u009b2J and NEL \u0085 and DEL \u007f', 'C1 CSI \\u009b2J and NEL \\u0085 and DEL \\u007f'],
  ['CR, BS and NUL', 'ok\rFAKE: passed\u0008\u0000', 'ok\\u000dFAKE: passed\\u0008\\u0000'],
  ['LF', 'two\nlines', 'two\\u000alines'],
  ['U+2028 and U+2029', 'line\u2028separator\u2029paragraph', 'line\\u2028separator\\u2029paragraph'],
  ['bidi embeddings, overrides and isolates', 'bidi \u202Edesrever\u202C \u202A\u202B\u202D \u2066isolate\u2069 \u2067\u2068', 'bidi \\u202edesrever\\u202c \\u202a\\u202b\\u202d \\u2066isolate\\u2069 \\u2067\\u2068'],
  ['zero-width characters and BOM', 'zero\u200Bwidth\u200E\uFEFF', 'zero\\u200bwidth\\u200e\\ufeff'],
  ['tag characters beyond the BMP', 'tag \u{E0041}\u{E007F}', 'tag \\u{e0041}\\u{e007f}'],
  ['printable text, unchanged', 'plain: schema Pet.name, GET /pets/{id} é 猫 🐱', 'plain: schema Pet.name, GET /pets/{id} é 猫 🐱'],
];

/** The scanner's own rule for an unreadable document, as the findings these cases print carry it. */
const RULE = STATIC_RULES.specInvalid;

function report(text: string): ScanReport {
  const finding: Finding = { rule: RULE, message: `name ${text}`, locations: [{ kind: 'spec', file: 'api.yaml', pointer: `#/components/securitySchemes/${text}`, line: 1, column: 1 }], fingerprint: 'f1' };
  return {
    schemaVersion: 1,
    tool: { name: 'rampart', version: '0' },
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:00:01Z',
    specs: ['api.yaml'],
    rules: [RULE],
    findings: [finding],
    suppressed: [{ finding: { ...finding, fingerprint: 'f2' }, reason: `accepted: ${text}`, expires: '2099-01-01' }],
    partial: false,
    stats: {},
    notes: [`baseline: ${text}`],
  };
}

describe('printable', () => {
  it.each(TERMINAL_ROWS)('shows %s as escapes', (_what, input, expected) => {
    const shown = printable(input);
    expect(shown).toBe(expected);
    expect(shown).not.toMatch(UNSAFE);
  });
});

describe('renderTerminal', () => {
  it.each(TERMINAL_ROWS)('escapes %s in findings, baseline reasons and notes', (_what, input, expected) => {
    for (const color of [false, true]) {
      const text = renderTerminal(report(input), { color });
      // Colour codes are the report's own; what the report quotes has none.
      const quoted = text.replace(new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, 'g'), '');
      expect(quoted.replace(/\n/g, '')).not.toMatch(UNSAFE);
      expect(text).toContain(`spec.invalid: name ${expected}`);
      expect(text).toContain(`: accepted: ${expected}\n`);
      expect(quoted).toContain(`note: baseline: ${expected}\n`);
    }
  });
});
