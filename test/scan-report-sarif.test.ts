/**
 * The SARIF 2.1.0 report validated against the official SARIF 2.1.0 JSON schema (vendored unchanged, provenance in
 * test/fixtures/scan/SARIF-SCHEMA.md, its hash checked here), plus what GitHub code scanning needs beyond the schema:
 * a ruleId and level per result, rules with help text and helpUri, physical locations with a relative artifact URI
 * and a region, and partialFingerprints that stay the same between runs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import AjvDraft04Module from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import type { ScanReport } from '../src/scan/model.ts';
import { artifactUri, FINGERPRINT_KEY, renderSarif } from '../src/scan/report/sarif.ts';
import { buildReport, FLAWED } from './fixtures/scan/report-fixture.ts';

const SCHEMA_FILE = new URL('./fixtures/scan/sarif-schema-2.1.0-rtm.5.json', import.meta.url);
const SCHEMA_SHA256 = '2d99159ae54a3eea97f81781cff48780548657c35949f4b7f25e99a2ba4de4f8';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let report: ScanReport;
let accepted: string;
let sarif: Json;

function validator() {
  const text = readFileSync(SCHEMA_FILE);
  expect(createHash('sha256').update(text).digest('hex')).toBe(SCHEMA_SHA256);
  // CommonJS interop: module.exports is the class and carries itself as `.default`.
  // The schema's own `language` pattern is not valid with the `u` flag (a stray `]`), so patterns compile without it.
  const ajv = new AjvDraft04Module.default({ allErrors: true, strict: false, unicodeRegExp: false });
  (addFormatsModule as unknown as (a: unknown) => void)(ajv);
  return ajv.compile(JSON.parse(text.toString('utf8')));
}

beforeAll(async () => {
  ({ report, accepted } = await buildReport());
  sarif = JSON.parse(renderSarif(report));
});

describe('SARIF 2.1.0 report', () => {
  it('validates against the official SARIF 2.1.0 schema, which rejects a broken log', () => {
    const validate = validator();
    expect(validate(sarif), JSON.stringify(validate.errors?.slice(0, 5))).toBe(true);
    const broken = structuredClone(sarif);
    broken.runs[0].results[0].level = 'fatal';
    expect(validate(broken)).toBe(false);
    const noDriver = structuredClone(sarif);
    delete noDriver.runs[0].tool.driver.name;
    expect(validate(noDriver)).toBe(false);
  });

  it('describes every rule that ran, with help text, helpUri and a GitHub security severity', () => {
    const rules = sarif.runs[0].tool.driver.rules as Json[];
    expect(rules.map((r) => r.id)).toEqual(report.rules.map((r) => r.id));
    for (const rule of rules) {
      expect(rule.helpUri).toMatch(/^https:\/\//);
      expect(rule.help.text).toContain('Fix: ');
      expect(rule.shortDescription.text.length).toBeGreaterThan(5);
      expect(['error', 'warning', 'note']).toContain(rule.defaultConfiguration.level);
      expect(Number(rule.properties['security-severity'])).toBeGreaterThan(0);
    }
  });

  it('gives each result a ruleId, level, location with relative URI and region, and a partial fingerprint', () => {
    const results = sarif.runs[0].results as Json[];
    expect(results).toHaveLength(report.findings.length + report.suppressed.length);
    const rules = sarif.runs[0].tool.driver.rules as Json[];
    for (const result of results) {
      expect(rules[result.ruleIndex]!.id).toBe(result.ruleId);
      expect(['error', 'warning', 'note']).toContain(result.level);
      expect(result.partialFingerprints[FINGERPRINT_KEY]).toMatch(/^[0-9a-f]{32}$/);
      const physical = result.locations[0].physicalLocation;
      expect(physical.artifactLocation.uri).toBe(FLAWED);
      expect(physical.region.startLine).toBeGreaterThan(0);
    }
    const tls = results.find((r) => r.ruleId === 'tls.spec-http-server')!;
    expect(tls.level).toBe('error');
    expect(tls.locations[0].physicalLocation.region).toEqual({ startLine: 7, startColumn: 5 });
    expect(tls.locations[0].logicalLocations[0].fullyQualifiedName).toBe('#/servers/0');
    // Further locations of a grouped finding are related locations.
    const strings = results.find((r) => r.ruleId === 'input.unbounded-string' && r.message.text.startsWith('schema User'))!;
    expect(strings.relatedLocations.length).toBeGreaterThan(1);
    // A finding about a live API sits at its operation's line in the spec, with the request as logical location.
    const cors = results.find((r) => r.ruleId === 'cors.reflected-origin')!;
    expect(cors.locations[0].physicalLocation.region.startLine).toBe(10);
    expect(cors.locations[0].logicalLocations[0].fullyQualifiedName).toBe('GET /products?limit=5');
    // Baseline-accepted findings are reported as suppressed, with the reason.
    const suppressed = results.find((r) => r.partialFingerprints[FINGERPRINT_KEY] === accepted)!;
    expect(suppressed.suppressions[0]).toMatchObject({ kind: 'external', status: 'accepted' });
    expect(suppressed.suppressions[0].justification).toContain('ADR-7');
  });

  it('keeps fingerprints between runs', async () => {
    const again = JSON.parse(renderSarif((await buildReport()).report));
    const fp = (log: Json) => (log.runs[0].results as Json[]).map((r) => `${r.ruleId} ${r.partialFingerprints[FINGERPRINT_KEY]}`).sort();
    expect(fp(again)).toEqual(fp(sarif));
  });

  it('writes artifact URIs as URI references', () => {
    expect(artifactUri('specs/my api.yaml')).toBe('specs/my%20api.yaml');
    expect(artifactUri('a\\b#c.yaml')).toBe('a/b%23c.yaml');
    expect(artifactUri('/abs/x.yaml')).toBe('file:///abs/x.yaml');
  });
});
