/**
 * Report formats on a real report (test/fixtures/scan/report-fixture.ts): the JSON report validates against its
 * published schema (src/scan/report/report.schema.json), the terminal summary groups by checklist item, JUnit has one
 * test case per check and operation, the HTML file is self-contained under a strict CSP, and no format ever prints a
 * credential from the evidence.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { CHECKLIST } from '../src/checklist/items.ts';
import type { ScanReport } from '../src/scan/model.ts';
import { maskSecrets } from '../src/scan/report/common.ts';
import { render, renderJson, planError } from '../src/scan/report/index.ts';
import { renderTerminal } from '../src/scan/report/terminal.ts';
import { renderJUnit } from '../src/scan/report/junit.ts';
import { renderHtml } from '../src/scan/report/html.ts';
import { buildReport, PLANTED_SECRETS } from './fixtures/scan/report-fixture.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
let report: ScanReport;
let accepted: string;

beforeAll(async () => {
  ({ report, accepted } = await buildReport());
});

describe('JSON report', () => {
  it('validates against the published schema, and the schema rejects what it must', () => {
    const schema = JSON.parse(readFileSync(new URL('../src/scan/report/report.schema.json', import.meta.url), 'utf8'));
    const ajv = addFormats(new Ajv2020({ allErrors: true, strict: true }));
    const validate = ajv.compile(schema);
    const data = JSON.parse(renderJson(report));
    expect(validate(data), JSON.stringify(validate.errors)).toBe(true);
    expect(data.schemaVersion).toBe(1);
    expect(data.suppressed.map((s: { finding: { fingerprint: string } }) => s.finding.fingerprint)).toEqual([accepted]);
    // The schema is not a rubber stamp.
    const broken = structuredClone(data);
    broken.findings[0].locations = [];
    expect(validate(broken)).toBe(false);
    const extra = structuredClone(data);
    extra.findings[1].rule.severity = 'critical';
    expect(validate(extra)).toBe(false);
  });
});

describe('terminal summary', () => {
  it('groups findings under their checklist items, in checklist order', () => {
    const text = renderTerminal(report, { color: false });
    const headers = [...text.matchAll(/^(\d+)\. [^\n]+: /gm)].map((m) => Number(m[1]));
    expect(headers).toEqual([...headers].sort((a, b) => a - b));
    expect(headers).toEqual(expect.arrayContaining([1, 2, 3, 4, 5, 7, 13, 16]));
    expect(text).toMatch(/^1\. Authentication \(API2:2023\): 3 high, 1 medium$/m);
    expect(text).toContain('HIGH   tls.spec-http-server: server http://shop.example.com uses http:// (no TLS)');
    expect(text).toContain('test/fixtures/scan/flawed.yaml:7:5 #/servers/0');
    // Low findings are counted unless verbose; verbose lists them.
    expect(text).toMatch(/LOW {4}errors\.spec-undeclared-401: 1 finding/);
    expect(renderTerminal(report, { color: false, verbose: true })).toContain('errors.spec-undeclared-401: 3 of 3 operations declare no 401 response');
    expect(text).toContain('1 accepted by the baseline');
    expect(text).toContain('versioning.missing');
    const ESC = String.fromCharCode(27);
    expect(text).not.toContain(`${ESC}[`);
    expect(renderTerminal(report, { color: true })).toContain(`${ESC}[31m`);
  });
});

describe('JUnit XML', () => {
  it('has one test case per check and operation, failing where a finding touches the operation', () => {
    const xml = renderJUnit(report);
    const ops = report.operations!.length;
    const suites = [...xml.matchAll(/<testsuite name="([^"]+)" tests="(\d+)" failures="(\d+)" errors="0" skipped="(\d+)">/g)];
    expect(suites).toHaveLength(report.rules.length);
    // Operations, plus a (document) case for the spec and one for the target.
    for (const s of suites) expect(Number(s[2])).toBe(ops + 2);
    const cases = [...xml.matchAll(/<testcase classname="rampart\.([^"]+)" name="([^"]+)"/g)];
    expect(cases).toHaveLength(report.rules.length * (ops + 2));
    const quote = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, (c) => `\\${c}`);
    const failing = (rule: string, name: string) => new RegExp(`<testcase classname="rampart\\.${quote(rule)}" name="${quote(name)}">\\s*<failure`).test(xml);
    expect(failing('auth.spec-credentials-in-url', 'GET /products (test/fixtures/scan/flawed.yaml)')).toBe(true);
    expect(failing('auth.spec-credentials-in-url', 'POST /users (test/fixtures/scan/flawed.yaml)')).toBe(false);
    expect(failing('exposure.spec-sensitive-property', 'POST /users (test/fixtures/scan/flawed.yaml)')).toBe(true);
    expect(failing('cors.reflected-origin', 'GET /products (test/fixtures/scan/flawed.yaml)')).toBe(true);
    expect(failing('tls.spec-http-server', '(document) test/fixtures/scan/flawed.yaml')).toBe(true);
    expect(xml).toMatch(/name="\(document\) test\/fixtures\/scan\/flawed\.yaml">\s*<skipped message="accepted by the baseline until 2025-12-31: versioned by host name, see ADR-7"/);
    const total = /<testsuites name="rampart scan" tests="(\d+)" failures="(\d+)"/.exec(xml)!;
    expect(Number(total[1])).toBe(cases.length);
    // Escaped: a property name with markup in the spec does not break the XML.
    expect(xml).not.toContain('<img src=x');
    expect(xml).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('HTML report', () => {
  it('is one file with a strict CSP (no script at all), the chart and every finding, escaped', () => {
    const html = renderHtml(report);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; img-src 'none'; base-uri 'none'; form-action 'none'">/);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|<object|<embed|@import|url\(/i);
    expect(html).not.toMatch(/<[^>]+\s(?:src|href)=(?!["']?https:)/i);
    expect(html).not.toMatch(/\sstyle="/);
    expect(html).toContain('<svg id="summary-chart"');
    expect((html.match(/<details class="finding"/g) ?? []).length).toBe(report.findings.length + report.suppressed.length);
    // Hostile strings from the spec (title, property names) and from evidence are text, not markup.
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});

describe('secrets in evidence', () => {
  it('never appear in any format', () => {
    for (const format of ['terminal', 'json', 'sarif', 'junit', 'html'] as const) {
      const text = render(report, format, { verbose: true });
      for (const secret of PLANTED_SECRETS) expect(text, `${format} leaks ${secret}`).not.toContain(secret);
    }
  });

  it('masks credential shapes and keeps what is needed to read the evidence', () => {
    const table: Array<[string, string]> = [
      ['Authorization: Bearer abc.def', 'Authorization: Bearer ***'],
      ['authorization: token-without-scheme', 'authorization: ***'],
      ['Cookie: session=abc; theme=dark', 'Cookie: session=***; theme=dark'],
      ['Set-Cookie: id=abc; HttpOnly', 'Set-Cookie: id=***; HttpOnly'],
      ['X-API-Key: k-123', 'X-API-Key: ***'],
      ['GET /a?token=abc&limit=5', 'GET /a?token=***&limit=5'],
      ['{"password": "p\\"w", "name": "x"}', '{"password": "***", "name": "x"}'],
      ['see https://u:pw@h.example/x', 'see https://u:***@h.example/x'],
      ['-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----', '-----BEGIN PRIVATE KEY----- *** (masked)'],
      ['nothing secret here', 'nothing secret here'],
    ];
    for (const [input, output] of table) expect(maskSecrets(input)).toBe(output);
  });
});

describe('output plans', () => {
  it('refuses ambiguous destinations before any scan', () => {
    expect(planError({ formats: ['terminal'] })).toBeUndefined();
    expect(planError({ formats: ['json'] })).toBeUndefined();
    expect(planError({ formats: ['json', 'sarif'] })).toMatch(/--out DIR/);
    expect(planError({ formats: ['terminal', 'json'] })).toMatch(/two reports to stdout/);
    expect(planError({ formats: ['json', 'html'], outFile: 'x' })).toMatch(/exactly one/);
    expect(planError({ formats: ['json'], outFile: 'x', outDir: 'y' })).toMatch(/cannot be used together/);
    expect(planError({ formats: ['terminal', 'json', 'sarif', 'junit', 'html'], outDir: 'y' })).toBeUndefined();
  });

  it('covers every checklist item in the chart', () => {
    const html = renderHtml(report);
    for (const item of CHECKLIST) expect(html).toContain(`${item.id}. ${item.title.replaceAll('&', '&amp;')}`);
  });
});
