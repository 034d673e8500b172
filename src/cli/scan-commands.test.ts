/**
 * `rampart scan` names each spec it cannot audit on standard error, quoting the loader's message, which quotes the
 * document (a security scheme or schema name of its author's choosing). The line goes through the terminal report's
 * `printable`: escape sequences, bidi controls and line separators are shown, never run by the operator's terminal.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATIC_RULES } from '../scan/static/rules.ts';
import type { Finding } from '../scan/model.ts';
import { runScan } from '../scan/run.ts';
import { unauditableSpecLines } from './scan-commands.ts';

const BIN = fileURLToPath(new URL('../../bin/rampart.js', import.meta.url));
/** What must never reach a terminal raw: C0/C1 controls and DEL, format (bidi, zero-width, tag) characters, U+2028/2029. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const HOSTILE_NAME = 'b\u001b]0;owned\u0007\u001b[2J\u001b[31mFAKE: all checks passed\u001b[0m';
const HOSTILE_SHOWN = 'b\\u001b]0;owned\\u0007\\u001b[2J\\u001b[31mFAKE: all checks passed\\u001b[0m';

/** The scanner's own rule for an unreadable document, as the findings these cases print carry it. */
const RULE = STATIC_RULES.specInvalid;

const invalid = (message: string, file = 'api.yaml'): Finding => ({ rule: RULE, message, locations: [{ kind: 'spec', file, pointer: '#', line: 1, column: 1 }], fingerprint: 'f' });

/** [what, message of a spec.invalid finding, the line printed for it]. */
const ROWS: ReadonlyArray<readonly [string, string, string]> = [
  ['escape sequences of a security scheme name', `\`/components/securitySchemes/${HOSTILE_NAME}\` has an invalid name`, `rampart scan: api.yaml: cannot be audited: \`/components/securitySchemes/${HOSTILE_SHOWN}\` has an invalid name`],
  ['C1 CSI, NEL, DEL and NUL', 'C1 \u009b2J \u0085 DEL \u007f NUL \u0000', 'rampart scan: api.yaml: cannot be audited: C1 \\u009b2J \\u0085 DEL \\u007f NUL \\u0000'],
  ['CR LF and a fake line', 'x\r\nrampart scan: 0 findings', 'rampart scan: api.yaml: cannot be audited: x\\u000d\\u000arampart scan: 0 findings'],
  ['bidi, line separators, zero-width and tag characters', '\u202Eevil\u202C \u2066x\u2069 \u2028\u2029 \u200B\uFEFF \u{E0041}', 'rampart scan: api.yaml: cannot be audited: \\u202eevil\\u202c \\u2066x\\u2069 \\u2028\\u2029 \\u200b\\ufeff \\u{e0041}'],
  ['a plain message', 'unexpected end of the stream within a flow collection', 'rampart scan: api.yaml: cannot be audited: unexpected end of the stream within a flow collection'],
];

let dir: string;
let hostile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-scan-cli-'));
  hostile = join(dir, 'hostile.json');
  writeFileSync(
    hostile,
    JSON.stringify({
      openapi: '3.0.3',
      info: { title: 't', version: '1' },
      paths: { '/x': { get: { responses: { '200': { description: 'ok' } } } } },
      components: { securitySchemes: { [HOSTILE_NAME]: { type: 'http', scheme: 'bearer' } } },
    }),
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('unauditableSpecLines', () => {
  it.each(ROWS)('prints %s readably, with no raw control character', (_what, message, expected) => {
    const lines = unauditableSpecLines({ findings: [invalid(message)] });
    expect(lines).toEqual([expected]);
    expect(lines[0]).not.toMatch(UNSAFE);
  });

  it('escapes the file name, and prints nothing for other findings', () => {
    expect(unauditableSpecLines({ findings: [invalid('m', 'a\u001b[2J.yaml'), { ...invalid('m'), rule: { ...RULE, id: 'auth.no-security' } }] })).toEqual([
      'rampart scan: a\\u001b[2J.yaml: cannot be audited: m',
    ]);
  });

  it('escapes a hostile security scheme name from a real scan', async () => {
    const outcome = await runScan({ specs: [hostile], signal: new AbortController().signal, progress: () => {} });
    const lines = unauditableSpecLines(outcome.report);
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(UNSAFE);
    expect(lines[0]).toContain(`cannot be audited: \`/components/securitySchemes/${HOSTILE_SHOWN}\``);
  });
});

describe('rampart scan', () => {
  it('writes no raw escape sequence to standard error for a hostile spec', async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done) => {
      execFile(process.execPath, [BIN, 'scan', '--spec', hostile, '--format', 'json', '--output', join(dir, 'out.json')], { timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (error, _stdout, stderr) => {
        done({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stderr });
      });
    });
    // 2: the scan could not be done (a spec that cannot be audited).
    expect(code).toBe(2);
    expect(stderr.replace(/\n/g, '')).not.toMatch(UNSAFE);
    expect(stderr).toContain(`hostile.json: cannot be audited: \`/components/securitySchemes/${HOSTILE_SHOWN}\` has an invalid name`);
  });
});
