/**
 * Spectral's OWASP ruleset (@stoplight/spectral-owasp-ruleset 2.x) is the floor of the static audit (issue 8 point 1):
 * on the specs in ../shared/specs/, for the rules both tools check, every JSON pointer Spectral flags must be among
 * the locations of a Rampart finding. The same run checks that every one of those specs is audited without a crash.
 *
 * Spectral runs once, in process, over every spec (about 10 to 30 s on this 2-core machine, the test's main cost).
 *
 * Pointer normal form: `#` + RFC 6901 pointer into the file as written, for both tools. Spectral reports some rules at
 * a keyword of the flagged object (`…/securitySchemes/basic/scheme`, `…/parameters/0/name`, `…/servers/0/url`,
 * `…/additionalProperties`); Rampart reports the object itself, so that keyword is dropped from Spectral's pointer
 * (FIELD below). Everything else is compared as is.
 *
 * Spectral pointers Rampart does not list are allowed only for the documented reasons in `explain()`: each is a case
 * where Spectral's rule misfires (a string bounded by its format, vendor-extension content read as an operation,
 * pagination cursors taken for credentials, the client credentials grant that has no refresh token by design) or
 * where Rampart reports the root cause elsewhere (the referenced schema rather than each `$ref` to it). Every such
 * pointer is counted per reason in the test output; anything else fails the test.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { Document, Spectral } from '@stoplight/spectral-core';
import * as Parsers from '@stoplight/spectral-parsers';
import owasp from '@stoplight/spectral-owasp-ruleset';
import { auditSpec, type StaticAuditResult } from '../src/scan/static/index.ts';
import { ALL_STATIC_RULES } from '../src/scan/static/rules.ts';
import { isBoundedString } from '../src/scan/static/bounds.ts';
import { isPaginationToken } from '../src/scan/static/vocabulary.ts';

const SPECS = fileURLToPath(new URL('../../shared/specs/', import.meta.url));

/** The shared rules the issue lists (integer-limit-legacy is integer-limit for 2.0 and 3.0 documents). */
const SHARED_RULES = [
  'owasp:api2:2023-no-http-basic',
  'owasp:api2:2023-no-api-keys-in-url',
  'owasp:api2:2023-no-credentials-in-url',
  'owasp:api2:2023-auth-insecure-schemes',
  'owasp:api2:2023-short-lived-access-tokens',
  'owasp:api3:2023-no-additionalProperties',
  'owasp:api3:2023-constrained-additionalProperties',
  'owasp:api4:2023-array-limit',
  'owasp:api4:2023-string-limit',
  'owasp:api4:2023-integer-limit',
  'owasp:api4:2023-integer-limit-legacy',
  'owasp:api4:2023-integer-format',
  'owasp:api4:2023-rate-limit-responses-429',
  'owasp:api8:2023-no-scheme-http',
  'owasp:api8:2023-no-server-http',
  'owasp:api8:2023-define-error-responses-401',
  'owasp:api8:2023-define-error-responses-500',
  'owasp:api9:2023-inventory-access',
] as const;

/** The keyword Spectral appends to the flagged object's path, per rule. */
const FIELD: Readonly<Record<string, string>> = {
  'owasp:api2:2023-no-http-basic': 'scheme',
  'owasp:api2:2023-auth-insecure-schemes': 'scheme',
  'owasp:api2:2023-no-api-keys-in-url': 'in',
  'owasp:api2:2023-no-credentials-in-url': 'name',
  'owasp:api3:2023-no-additionalProperties': 'additionalProperties',
  'owasp:api8:2023-no-server-http': 'url',
};

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
const escape = (token: string | number) => String(token).replaceAll('~', '~0').replaceAll('/', '~1');
const toPointer = (path: ReadonlyArray<string | number>) => `#${path.map((t) => `/${escape(t)}`).join('')}`;
type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

function at(doc: unknown, path: ReadonlyArray<string | number>): unknown {
  let node = doc;
  for (const token of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[String(token)];
  }
  return node;
}

function refPath(ref: string): string[] | undefined {
  if (!ref.startsWith('#/')) return undefined;
  return ref.slice(2).split('/').map((t) => decodeURIComponent(t).replaceAll('~1', '/').replaceAll('~0', '~'));
}

const boundedInteger = (n: Node) =>
  Array.isArray(n.enum) || Object.hasOwn(n, 'const') ||
  ((typeof n.minimum === 'number' || typeof n.exclusiveMinimum === 'number') && (typeof n.maximum === 'number' || typeof n.exclusiveMaximum === 'number'));

/**
 * Why Rampart has no location at this Spectral pointer, or undefined when there is no acceptable reason. `covered`
 * answers whether a pointer is a Rampart location (for references followed to their target).
 */
function explain(code: string, doc: unknown, path: Array<string | number>, covered: (pointer: string) => boolean, depth = 0): string | undefined {
  if (path.some((t) => typeof t === 'string' && t.startsWith('x-'))) return 'inside a vendor extension (x-…): not part of the contract';
  const node = at(doc, path);
  const last = path[path.length - 1];
  const responseRule = /responses-(401|500|429)$/.test(code);
  if (responseRule) {
    if (path.includes('callbacks')) return 'a callback operation: the API is the client, its responses are the subscriber\'s';
    if (path[path.length - 2] === 'responses') return 'the status is declared; a body for it is optional';
    const parent = path[path.length - 2];
    if (last === 'responses' && !(typeof parent === 'string' && METHODS.has(parent) && path[0] === 'paths' && path.length === 4)) return 'not an operation\'s responses object (e.g. a schema property named "responses")';
    if (isNode(node) && code.endsWith('401')) {
      const operation = at(doc, path.slice(0, -1));
      if (isNode(operation) && ((Array.isArray(operation.security) && operation.security.length === 0) || operation['x-public'] === true)) return 'the operation is explicitly public';
      if (Object.keys(node).some((k) => k.toUpperCase() === '4XX')) return '401 covered by a declared 4XX range';
    }
    if (isNode(node) && code.endsWith('500') && Object.keys(node).some((k) => /^5(\d\d|XX)$/i.test(k) || k === 'default')) return 'server errors declared as another 5xx status, a 5XX range or default';
    return undefined;
  }
  if (isNode(node) && typeof node.$ref === 'string' && depth < 8) {
    // Spectral reports a `$ref` that has sibling keywords (3.1, or `description` beside it) at the reference; Rampart
    // reports the referenced schema once, as the root cause.
    const target = refPath(node.$ref);
    if (target) {
      if (covered(toPointer(target))) return 'reported at the referenced schema (the root cause)';
      const reason = explain(code, doc, target, covered, depth + 1);
      if (reason) return `reference to a schema that is not flagged: ${reason}`;
    }
  }
  if (last === 'properties' && isNode(node) && Object.keys(node).some((k) => k.includes('.'))) {
    const prefix = `${toPointer(path)}/`;
    if (covered(prefix)) return 'Spectral cannot map keys containing "." and reports the enclosing properties map; Rampart lists each property';
  }
  if (code.endsWith('string-limit') && isNode(node) && isBoundedString(node)) return 'bounded by a format (uuid, date, date-time…) or an anchored pattern with bounded repetition';
  if (/integer-(limit|limit-legacy|format)$/.test(code) && isNode(node) && boundedInteger(node)) return 'bounded by minimum and maximum, or an enum (a format adds nothing to that)';
  if (code.endsWith('no-additionalProperties') && isNode(node) && typeof node.maxProperties === 'number') return 'a map bounded by maxProperties (Spectral\'s own constrained-additionalProperties accepts it)';
  if (code.endsWith('credentials-in-url') && isNode(node) && typeof node.name === 'string' && isPaginationToken(node.name)) return 'a pagination cursor (PageToken, nextPageToken…), not a credential';
  if (code.endsWith('short-lived-access-tokens') && last === 'clientCredentials') return 'client credentials grant: no refresh token by design (RFC 6749 §4.4.3)';
  if (/no-(server|scheme)-http$/.test(code) && isNode(node) && typeof node.url === 'string' && /^http:\/\/(localhost|127\.|\[::1\])/i.test(node.url)) return 'a loopback development server';
  return undefined;
}

interface SpectralResult {
  readonly code: string | number;
  readonly path: Array<string | number>;
}

const specsPresent = existsSync(SPECS);
if (!specsPresent) {
  console.warn(`\n*** SKIPPED: the Spectral comparison needs the shared specs at ${SPECS}, which do not exist here. ***\n`);
}

describe.skipIf(!specsPresent)('static audit against Spectral\'s OWASP ruleset on ../shared/specs', () => {
  it('lists, for every shared rule, each pointer Spectral flags among the locations of a Rampart finding; audits every spec', { timeout: 600_000 }, async () => {
    const files = readdirSync(SPECS).filter((f) => /\.(ya?ml|json)$/i.test(f)).sort();
    expect(files.length).toBeGreaterThan(0);
    const spectral = new Spectral();
    spectral.setRuleset(owasp as never);

    const covering = new Map<string, Set<string>>();
    for (const rule of ALL_STATIC_RULES) for (const s of rule.spectral ?? []) covering.set(s, (covering.get(s) ?? new Set()).add(rule.id));
    // Every shared rule is claimed by some Rampart rule.
    for (const code of SHARED_RULES) expect(covering.has(code), code).toBe(true);

    let spectralTotal = 0;
    let rampartTotal = 0;
    let compared = 0;
    let exact = 0;
    const explained = new Map<string, number>();
    const unexplained: string[] = [];
    const perRule = new Map<string, { flagged: number; covered: number }>();

    for (const file of files) {
      const full = join(SPECS, file);
      const text = readFileSync(full, 'utf8');
      const doc = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text, { maxAliasCount: -1 });
      const document = file.endsWith('.json') ? new Document(text, Parsers.Json, full) : new Document(text, Parsers.Yaml, full);
      const results = (await spectral.run(document)) as unknown as SpectralResult[];
      spectralTotal += results.length;

      const audit: StaticAuditResult = await auditSpec(full, { cwd: SPECS });
      // Every spec is audited without a crash: it loads, and no group of checks failed on it.
      expect(audit.loadFailed, `${file}: ${audit.findings[0]?.message}`).toBe(false);
      expect(audit.notes, file).toEqual([]);
      rampartTotal += audit.findings.length;
      const locations = new Set<string>();
      for (const f of audit.findings) for (const l of f.locations) if (l.kind === 'spec' && l.file === file) locations.add(l.pointer);
      const covered = (pointer: string) => (pointer.endsWith('/') ? [...locations].some((l) => l.startsWith(pointer)) : locations.has(pointer));

      for (const r of results) {
        const code = String(r.code);
        if (!(SHARED_RULES as readonly string[]).includes(code)) continue;
        compared++;
        const path = [...r.path];
        if (FIELD[code] !== undefined && path[path.length - 1] === FIELD[code]) path.pop();
        const pointer = toPointer(path);
        const stats = perRule.get(code) ?? { flagged: 0, covered: 0 };
        stats.flagged++;
        perRule.set(code, stats);
        if (locations.has(pointer)) {
          exact++;
          stats.covered++;
          continue;
        }
        const reason = explain(code, doc, path, covered);
        if (reason) explained.set(`${code}: ${reason}`, (explained.get(`${code}: ${reason}`) ?? 0) + 1);
        else unexplained.push(`${file} ${code} ${pointer}`);
      }
    }

    const lines = [
      `Spectral OWASP ruleset: ${spectralTotal} results on ${files.length} specs, ${compared} for the shared rules; Rampart: ${rampartTotal} findings.`,
      `Shared-rule pointers among Rampart's locations: ${exact}; explained differences: ${compared - exact - unexplained.length}; unexplained: ${unexplained.length}.`,
      ...[...perRule].map(([code, s]) => `  ${code}: ${s.covered}/${s.flagged}`),
      'Explained differences:',
      ...[...explained].sort((a, b) => b[1] - a[1]).map(([why, n]) => `  ${n} × ${why}`),
    ];
    console.log(lines.join('\n'));
    expect(unexplained.slice(0, 50)).toEqual([]);
    // The point of grouping by root cause: a fraction of Spectral's results for people to read.
    expect(rampartTotal * 4).toBeLessThan(spectralTotal);
    expect(exact).toBeGreaterThan(compared * 0.95);
  });
});
