import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOpenApi, loadOpenApiSync, type LoadResult } from './load.ts';
import { SourceLocator } from './locate.ts';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/contract/', import.meta.url));

function errorsOf(result: LoadResult): string[] {
  if (result.ok) throw new Error('expected a failure');
  return result.errors.map((e) => e.text);
}

describe('loadOpenApi: versions and formats', () => {
  it.each([
    ['conformance-3.1.yaml', '3.1', 17],
    ['conformance-3.0.yaml', '3.0', 4],
    ['swagger-2.0.yaml', '2.0', 4],
    ['external/main.yaml', '3.0', 1],
  ])('loads %s (OpenAPI %s) with %i operations, synchronously and asynchronously alike', async (file, version, count) => {
    const viaWorker = loadOpenApiSync(FIXTURES + file, { noCache: true });
    const inProcess = await loadOpenApi(FIXTURES + file, { noCache: true });
    for (const result of [viaWorker, inProcess]) {
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.api.model.version).toBe(version);
      expect(result.api.model.operations).toHaveLength(count);
      expect(result.api.warnings).toEqual([]);
    }
    if (viaWorker.ok && inProcess.ok) expect(viaWorker.api.model.document).toEqual(inProcess.api.model.document);
  });

  it('loads JSON as well as YAML', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-openapi-'));
    const { parse } = await import('yaml');
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(parse(readFileSync(`${FIXTURES}conformance-3.0.yaml`, 'utf8'))));
    const result = loadOpenApiSync(join(dir, 'spec.json'));
    expect(result.ok && result.api.model.operations.length).toBe(4);
  });

  it('bundles external files and keeps a circular $ref as a reference, not an object cycle', async () => {
    const result = await loadOpenApi(`${FIXTURES}external/main.yaml`, { noCache: true });
    if (!result.ok) throw new Error(errorsOf(result).join('\n'));
    expect(result.api.files.map((f) => f.slice(FIXTURES.length)).sort()).toEqual(['external/main.yaml', 'external/parameters.yaml', 'external/schemas.yaml']);
    // Serialisable: no object cycle anywhere.
    expect(() => JSON.stringify(result.api.model.document)).not.toThrow();
    const op = result.api.model.operations[0]!;
    expect(op.parameters.map((p) => [p.name, p.in])).toEqual([['dryRun', 'query']]);
  });

  it('normalises Swagger 2.0 body, formData, consumes, produces and collectionFormat', async () => {
    const result = await loadOpenApi(`${FIXTURES}swagger-2.0.yaml`);
    if (!result.ok) throw new Error();
    const byKey = new Map(result.api.model.operations.map((o) => [o.key, o]));
    const list = byKey.get('listBooks')!;
    expect(list.parameters.map((p) => [p.name, p.style, p.explode])).toEqual([
      ['tags', 'form', false],
      ['authors', 'form', true],
      ['pages', 'pipeDelimited', false],
      ['limit', 'form', false],
    ]);
    expect(list.produces).toEqual(['application/json']);
    expect(byKey.get('createBook')!.requestBody!.content.map((m) => m.mediaType)).toEqual(['application/json']);
    const cover = byKey.get('uploadCover')!;
    expect(cover.requestBody!.content.map((m) => m.mediaType)).toEqual(['multipart/form-data']);
    expect(cover.requestBody!.content[0]!.schema!.schema).toMatchObject({ type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary' } } });
    expect(byKey.get('rateBook')!.requestBody!.content.map((m) => m.mediaType)).toEqual(['application/x-www-form-urlencoded']);
  });
});

describe('loadOpenApi: errors name the file, the JSON pointer and the line', () => {
  it.each([
    ['broken/bad-ref.yaml', /bad-ref\.yaml:11:25 #\/paths\/~1a\/get\/responses\/200\/content\/application~1json\/schema\/\$ref: \$ref "#\/components\/schemas\/Missing": target #\/components\/schemas\/Missing does not exist/],
    ['broken/bad-external.yaml', /bad-external\.yaml:11:25 #\/paths\/.*\/schema\/\$ref: \$ref "\.\/does-not-exist\.yaml#\/Thing": file .*does-not-exist\.yaml cannot be read/],
    ['broken/remote-ref.yaml', /remote-ref\.yaml:11:25 .*: \$ref "https:\/\/schemas\.example\.invalid\/thing\.yaml": remote references are refused/],
    ['broken/bad-schema-3.0.yaml', /bad-schema-3\.0\.yaml:12:26 #\/paths\/~1a\/post\/requestBody\/content\/application~1json\/schema\/properties\/count\/type: must be equal to one of the allowed values/],
    ['broken/bad-yaml.yaml', /bad-yaml\.yaml:7:1 #: does not parse: /],
    ['broken/duplicate-parameter.yaml', /duplicate-parameter\.yaml:8:11 #\/paths\/~1a\/get\/parameters\/1: parameter "q" in query is defined twice/],
  ])('%s', (file, expected) => {
    const errors = errorsOf(loadOpenApiSync(FIXTURES + file, { noCache: true }));
    expect(errors.some((e) => expected.test(e)), errors.join('\n')).toBe(true);
  });

  it('names the file a problem sits in when it is a referenced file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-openapi-'));
    copyFileSync(`${FIXTURES}external/main.yaml`, join(dir, 'main.yaml'));
    copyFileSync(`${FIXTURES}external/parameters.yaml`, join(dir, 'parameters.yaml'));
    writeFileSync(join(dir, 'schemas.yaml'), 'Tree:\n  type: object\n  properties:\n    root: { $ref: "#/Nowhere" }\n');
    const errors = errorsOf(loadOpenApiSync(join(dir, 'main.yaml'), { noCache: true }));
    expect(errors.some((e) => e.includes(`${join(dir, 'schemas.yaml')}:4:13 #/Tree/properties/root/$ref`)), errors.join('\n')).toBe(true);
  });

  it('a missing file is an error naming it', () => {
    expect(errorsOf(loadOpenApiSync('/nonexistent/dir/spec.yaml', { noCache: true }))[0]).toMatch(/^\/nonexistent\/dir\/spec\.yaml #: file cannot be read/);
  });

  it('a document that is not OpenAPI is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-openapi-'));
    writeFileSync(join(dir, 'x.yaml'), 'hello: world\n');
    expect(errorsOf(loadOpenApiSync(join(dir, 'x.yaml'), { noCache: true })).join('\n')).toMatch(/not a Swagger 2\.0, OpenAPI 3\.0 or OpenAPI 3\.1 document/);
  });

  it('metadata problems and duplicate operationIds are warnings, with positions', () => {
    const result = loadOpenApiSync(`${FIXTURES}broken/warnings-only.yaml`, { noCache: true });
    if (!result.ok) throw new Error(errorsOf(result).join('\n'));
    expect(result.api.warnings.map((w) => w.text)).toEqual([
      expect.stringMatching(/warnings-only\.yaml:5:3 #\/info\/license: /),
      expect.stringMatching(/warnings-only\.yaml:13:7 #\/paths\/~1b\/get\/operationId: operationId "same" is also used at #\/paths\/~1a\/get\/operationId/),
    ]);
  });
});

describe('loadOpenApi: nesting', () => {
  // 1,000 schema levels once aborted the process (a V8 fatal error inside the parser, beyond any try/catch). Up to
  // 512 levels the parser answers with errors of its own (YAML: more than 100; $ref dereferencing: more than 500).
  it.each([
    ['objects, JSON', 'json', 1000],
    ['arrays, JSON', 'json', 3000],
    ['objects, YAML blocks', 'yaml', 600],
  ] as const)('refuses a document nested too deep before parsing it: %s', async (_name, format, levels) => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-openapi-'));
    const file = join(dir, `deep.${format}`);
    if (format === 'json') {
      let schema = '{"type":"string"}';
      for (let i = 0; i < levels; i++) schema = levels > 2000 ? `{"type":"array","items":${schema}}` : `{"type":"object","properties":{"a":${schema}}}`;
      writeFileSync(file, `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/x":{"post":{"requestBody":{"content":{"application/json":{"schema":${schema}}}},"responses":{"200":{"description":"ok"}}}}}}`);
    } else {
      const lines = ['openapi: 3.1.0', 'info: { title: t, version: "1" }', 'paths: {}', 'components:', '  schemas:', '    Deep:'];
      for (let i = 0; i < levels; i++) lines.push(`${' '.repeat(6 + 2 * i)}a${i}:`);
      writeFileSync(file, `${lines.join('\n')} x\n`);
    }
    for (const result of [await loadOpenApi(file, { noCache: true }), loadOpenApiSync(file, { noCache: true })]) {
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.errors.map((e) => e.text)).toEqual([expect.stringMatching(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:1 #: nested deeper than 512 levels$`))]);
    }
  });

  // The same abort waited in a file named by an external $ref: the parser's resolver and the error locator both read
  // it with the YAML parser. Each such file is measured before either sees it, and the error names it and its line.
  it.each([
    ['arrays, JSON', 'json'],
    ['mappings, YAML blocks', 'yaml'],
  ] as const)('refuses a file named by an external $ref nested too deep, naming that file: %s', async (_name, format) => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-openapi-'));
    const deep = join(dir, `deep.${format}`);
    if (format === 'json') writeFileSync(deep, `{"Deep":${'['.repeat(3000)}1${']'.repeat(3000)}}`);
    else writeFileSync(deep, `Deep:\n${Array.from({ length: 3000 }, (_, i) => `${' '.repeat(2 + 2 * i)}a${i}:`).join('\n')} x\n`);
    const main = join(dir, 'main.yaml');
    writeFileSync(
      main,
      [
        'openapi: 3.1.0',
        'info: { title: t, version: "1" }',
        'paths:',
        '  /x:',
        '    get:',
        '      responses:',
        "        '200':",
        '          description: ok',
        '          content:',
        '            application/json:',
        `              schema: { $ref: 'deep.${format}#/Deep' }`,
        '',
      ].join('\n'),
    );
    const line = format === 'json' ? 1 : 513;
    for (const result of [await loadOpenApi(main, { noCache: true }), loadOpenApiSync(main, { noCache: true })]) {
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.errors.map((e) => e.text)).toEqual([`${deep}:${line}:1 #: nested deeper than 512 levels`]);
    }
    // The error locator never parses such a file either (it answers "no syntax error known" instead of aborting).
    expect(new SourceLocator(main).syntaxError(deep)).toBeUndefined();
  });
});

describe('loadOpenApi: cache', () => {
  it('noCache neither uses nor fills the cache (a static audit keeps no document alive)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-openapi-'));
    copyFileSync(`${FIXTURES}conformance-3.0.yaml`, join(dir, 'spec.yaml'));
    const fresh = await loadOpenApi(join(dir, 'spec.yaml'), { noCache: true });
    const cached = await loadOpenApi(join(dir, 'spec.yaml'));
    expect(cached).not.toBe(fresh);
    expect(await loadOpenApi(join(dir, 'spec.yaml'))).toBe(cached);
    const again = await loadOpenApi(join(dir, 'spec.yaml'), { noCache: true });
    expect(again).not.toBe(cached);
    expect(await loadOpenApi(join(dir, 'spec.yaml'))).toBe(cached);
  });

  it('locates warnings and errors the same in JSON as in YAML (JSON has its own position scanner)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-openapi-'));
    const { parse } = await import('yaml');
    const document = parse(readFileSync(`${FIXTURES}broken/duplicate-parameter.yaml`, 'utf8')) as unknown;
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(document, null, 2));
    const errors = errorsOf(await loadOpenApi(join(dir, 'spec.json'), { noCache: true }));
    // The second parameter object opens on the line before its name, indented by ten spaces.
    const lines = readFileSync(join(dir, 'spec.json'), 'utf8').split('\n');
    const names = lines.flatMap((text, i) => (text.includes('"name": "q"') ? [i + 1] : []));
    const expected = `spec.json:${names[1]! - 1}:11 #/paths/~1a/get/parameters/1: parameter "q" in query is defined twice`;
    expect(errors.some((e) => e.endsWith(expected)), errors.join('\n')).toBe(true);
  });

  it('a cached document is not read again: the cache (size and mtime) is asked before the file is read and scanned', async () => {
    // The docs route checks its documents on every request: reading and scanning each file every time cost ~25 ms a
    // request for four large documents. Shown here with a rewrite the stat cannot see (same size, mtime put back).
    const dir = mkdtempSync(join(tmpdir(), 'rampart-openapi-'));
    const file = join(dir, 'spec.yaml');
    copyFileSync(`${FIXTURES}conformance-3.0.yaml`, file);
    // A whole-second mtime, so putting it back gives the identical stat (sub-millisecond parts would not survive).
    const when = new Date('2026-01-01T00:00:00Z');
    utimesSync(file, when, when);
    const first = await loadOpenApi(file);
    expect(first.ok).toBe(true);
    const text = readFileSync(file, 'utf8');
    // Too deep for the depth check, padded to the same size: read again, it would be refused.
    const deep = '['.repeat(600) + ']'.repeat(600);
    writeFileSync(file, deep + ' '.repeat(Math.max(0, text.length - deep.length)));
    expect(readFileSync(file, 'utf8').length).toBe(text.length);
    utimesSync(file, when, when);
    expect(await loadOpenApi(file)).toBe(first);
    expect(loadOpenApiSync(file)).toBe(first);
    // Uncached, the same bytes are refused before any parser sees them.
    expect(errorsOf(await loadOpenApi(file, { noCache: true })).join('\n')).toContain('nested deeper than');
  });

  it('returns the same result while no file changed, and reloads when one did', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-openapi-'));
    for (const f of ['main.yaml', 'schemas.yaml', 'parameters.yaml']) copyFileSync(`${FIXTURES}external/${f}`, join(dir, f));
    const first = loadOpenApiSync(join(dir, 'main.yaml'));
    expect(loadOpenApiSync(join(dir, 'main.yaml'))).toBe(first);
    // A referenced file changes: the document is loaded again (and the new schema is seen).
    writeFileSync(join(dir, 'schemas.yaml'), readFileSync(join(dir, 'schemas.yaml'), 'utf8').replace('value: { type: integer }', 'value: { type: string }'));
    utimesSync(join(dir, 'schemas.yaml'), new Date(), new Date(Date.now() + 5000));
    const second = loadOpenApiSync(join(dir, 'main.yaml'));
    expect(second).not.toBe(first);
    expect(JSON.stringify(second.ok && second.api.model.document)).toContain('"value":{"type":"string"}');
  });
});
