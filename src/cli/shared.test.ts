/**
 * Config errors quote the config and the OpenAPI documents it loads (security scheme, route and operation names):
 * `printConfigErrors` (`config check`, `gateway`, `posture`, …) prints them through the terminal report's `printable`,
 * so a document's author cannot clear the operator's screen, retitle the window or print a fake result.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfigFile } from '../config/load.ts';
import { configErrorLines, guard, printConfigErrors } from './shared.ts';

/** What must never reach a terminal raw: C0/C1 controls and DEL, format (bidi, zero-width, tag) characters, U+2028/2029. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const HOSTILE_NAME = 'b\u001b]0;owned\u0007\u001b[2J\u001b[31mFAKE: all checks passed\u001b[0m';

/** [what, an error as the config loader words it, the line printed for it]. */
const ROWS: ReadonlyArray<readonly [string, string, string]> = [
  ['escape sequences of a security scheme name', `#/components/securitySchemes/${HOSTILE_NAME} has an invalid name`, '  #/components/securitySchemes/b\\u001b]0;owned\\u0007\\u001b[2J\\u001b[31mFAKE: all checks passed\\u001b[0m has an invalid name'],
  ['C1 CSI and NEL', 'routes[0].id: "x\u009b2J\u0085y" is already used', '  routes[0].id: "x\\u009b2J\\u0085y" is already used'],
  ['CR LF and a fake line', 'a\r\nrampart.yaml: 0 errors, ready', '  a\\u000d\\u000arampart.yaml: 0 errors, ready'],
  ['bidi, line separators, zero-width', 'scheme \u202Eevil\u202C \u2066x\u2069 \u2028\u2029 \u200B', '  scheme \\u202eevil\\u202c \\u2066x\\u2069 \\u2028\\u2029 \\u200b'],
  ['tag characters beyond the BMP', 'tag characters \u{E0041}\u{E007F}', '  tag characters \\u{e0041}\\u{e007f}'],
  ['a plain error', 'routes[1].match.path: must start with /', '  routes[1].match.path: must start with /'],
];

afterEach(() => {
  vi.restoreAllMocks();
});

describe('configErrorLines', () => {
  it.each(ROWS)('prints %s readably, with no raw control character', (_what, error, expected) => {
    const lines = configErrorLines('rampart.yaml', [error]);
    expect(lines).toEqual(['rampart.yaml: 1 error', expected]);
    for (const line of lines) expect(line).not.toMatch(UNSAFE);
  });

  it('escapes the file name too', () => {
    expect(configErrorLines('conf\u001b[2J.yaml', ['a', 'b'])).toEqual(['conf\\u001b[2J.yaml: 2 errors', '  a', '  b']);
  });
});

describe('printConfigErrors', () => {
  it('prints the escaped lines on standard error', () => {
    const printed: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: string) => void printed.push(line));
    printConfigErrors('rampart.yaml', ROWS.map(([, error]) => error));
    expect(printed).toEqual([`rampart.yaml: ${ROWS.length} errors`, ...ROWS.map(([, , line]) => line)]);
  });

  it('escapes a hostile security scheme name from a real OpenAPI document the config loads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-config-errors-'));
    try {
      const document = {
        openapi: '3.0.3',
        info: { title: 't', version: '1' },
        paths: { '/x': { get: { responses: { '200': { description: 'ok' } } } } },
        components: { securitySchemes: { [HOSTILE_NAME]: { type: 'http', scheme: 'bearer' } } },
      };
      writeFileSync(join(dir, 'hostile.json'), JSON.stringify(document));
      writeFileSync(
        join(dir, 'rampart.yaml'),
        'listen: { host: 127.0.0.1, port: 0, http: refuse }\nadmin: false\nroutes:\n  - id: docs\n    match: { path: /docs/**, methods: [GET] }\n    upstream: rampart:docs\n    public: true\n    docs: { openapi: hostile.json }\n',
      );
      const result = loadConfigFile(join(dir, 'rampart.yaml'));
      expect(result.ok).toBe(false);
      if (result.ok) return;
      // The loader quotes the name as written: the printing is what must neutralise it.
      expect(result.errors.join('\n')).toContain(HOSTILE_NAME);
      const printed: string[] = [];
      vi.spyOn(console, 'error').mockImplementation((line: string) => void printed.push(line));
      printConfigErrors('rampart.yaml', result.errors);
      expect(printed.length).toBeGreaterThan(1);
      for (const line of printed) expect(line).not.toMatch(UNSAFE);
      expect(printed.join('\n')).toContain('securitySchemes/b\\u001b]0;owned\\u0007\\u001b[2J\\u001b[31mFAKE: all checks passed\\u001b[0m');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('guard', () => {
  it('prints a failing command\'s message escaped, and sets the exit code', async () => {
    const printed: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: string) => void printed.push(line));
    const before = process.exitCode;
    try {
      await guard(() => Promise.reject(new Error(`cannot read ${HOSTILE_NAME}`)));
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = before;
    }
    expect(printed).toEqual(['rampart: cannot read b\\u001b]0;owned\\u0007\\u001b[2J\\u001b[31mFAKE: all checks passed\\u001b[0m']);
    for (const line of printed) expect(line).not.toMatch(UNSAFE);
  });
});
