/**
 * The position indexes behind `SourceLocator` must answer exactly what the YAML parser answers (`YamlIndex`, the
 * reference): the JSON scanner for JSON text, the block YAML scanner for the YAML it accepts. Every test compares them
 * over every pointer of a document (plus pointers that do not exist), on a table of constructs, on hostile input that
 * the scanners must refuse, on documents generated and mutated at random (seeded), and on ../shared/specs when present.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { JsonIndex, SourceLocator, YamlBlockIndex, YamlIndex, type PositionIndex } from './locate.ts';
import { joinPointer } from './pointer.ts';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/contract/', import.meta.url));
const SHARED_SPECS = fileURLToPath(new URL('../../../shared/specs/', import.meta.url));

/** Every pointer of the document as the YAML parser sees it (keys as strings, as locate's tokens are). */
function pointersOf(index: PositionIndex): string[] {
  const out: string[] = [''];
  const visit = (node: unknown, pointer: string, depth: number): void => {
    if (depth > 50) return;
    const yamlNode = node as { items?: Array<{ key?: { value?: unknown }; value?: unknown }> } | null;
    for (const [i, item] of (yamlNode?.items ?? []).entries()) {
      const isPair = item !== null && typeof item === 'object' && 'key' in item;
      const child = isPair ? joinPointer(pointer, String((item.key as { value?: unknown } | null)?.value)) : joinPointer(pointer, i);
      out.push(child);
      visit(isPair ? item.value : item, child, depth + 1);
    }
  };
  visit(index.root, '', 0);
  // Places that do not exist: the walk stops at the deepest part that does.
  return [...out, ...out.slice(0, 200).flatMap((p) => [`${p}/nope`, `${p}/0`, `${p}/7`, `${p}/01`])];
}

/** What locate reads from an index along a pointer: each step's position, string keys and `$ref`. */
function answers(index: PositionIndex, pointer: string): unknown[] {
  const out: unknown[] = [];
  let node: unknown = index.root;
  const at = index.offset(node);
  out.push(at === undefined ? undefined : index.linePos(at));
  for (const token of pointer === '' ? [] : pointer.slice(1).split('/').map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'))) {
    out.push(['has', index.hasStringKey(node, token), 'ref', index.ref(node), 'has $ref', index.hasStringKey(node, '$ref')]);
    const entry = index.entry(node, token);
    if (entry) {
      out.push(['key', entry.keyOffset === undefined ? undefined : index.linePos(entry.keyOffset)]);
      node = entry.value;
      continue;
    }
    if (!/^\d+$/.test(token)) break;
    const item = index.item(node, Number(token));
    if (item === undefined) break;
    const offset = index.offset(item);
    out.push(['item', offset === undefined ? undefined : index.linePos(offset)]);
    node = item;
  }
  return out;
}

/** Compares an index with the YAML parser's over every pointer; returns how many pointers were compared. */
function expectSameAsYaml(text: string, index: PositionIndex): number {
  const reference = new YamlIndex(text);
  const pointers = pointersOf(reference);
  const differences: unknown[] = [];
  for (const pointer of pointers) {
    const expected = JSON.stringify(answers(reference, pointer));
    const actual = JSON.stringify(answers(index, pointer));
    if (actual !== expected && differences.length < 5) differences.push({ pointer, expected, actual });
  }
  expect(differences, JSON.stringify(text.slice(0, 400))).toEqual([]);
  return pointers.length;
}

/** A small seeded generator (mulberry32): the same documents on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['id', 'name', '200', '404', 'x-tag', '/pets/{id}', 'a b', 'with: colon', 'hash #x', "it's", 'say "hi"', 'ünïcode', 'true', 'null', '1.5', '007', '-1', '$ref', 'tab\there', 'line\nbreak', '', '#/components/schemas/Pet', 'a'.repeat(90)];

function randomValue(next: () => number, depth: number): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const roll = next();
  if (depth > 3 || roll < 0.35) {
    const scalars: unknown[] = [pick(WORDS), Math.floor(next() * 1000), next() < 0.5, null, 'long text '.repeat(Math.floor(next() * 12)), 'multi\nline\n\ntext', 3.25, pick(WORDS) + ' ' + pick(WORDS)];
    return pick(scalars);
  }
  if (roll < 0.6) return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
  const out: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 5); i > 0; i--) out[pick(WORDS)] = randomValue(next, depth + 1);
  if (next() < 0.2) out.$ref = pick(WORDS);
  return out;
}

function mutate(text: string, next: () => number): string {
  const lines = text.split('\n');
  const line = Math.floor(next() * lines.length);
  const edits = [
    (l: string) => ` ${l}`,
    (l: string) => l.replace(/^ /, ''),
    (l: string) => `${l} # comment`,
    (l: string) => `\t${l}`,
    (l: string) => l.replace(':', ''),
    (l: string) => l.replace(/"/, ''),
    (l: string) => `${l}\n# a comment line`,
    (l: string) => `${l}\n`,
    (l: string) => l.replace(/(\w+)/, '&anchor $1'),
    (l: string) => l.replace('- ', '-   '),
    (l: string) => `${l}\n${l}`,
  ];
  lines[line] = edits[Math.floor(next() * edits.length)]!(lines[line] ?? '');
  return lines.join('\n');
}

describe('JsonIndex: positions in strict JSON, the same as the YAML parser gives', () => {
  it.each([
    ['nested objects and arrays', '{"a": {"b": [1, {"c": "d"}, [true, null]]}, "e": []}'],
    ['pretty printed, CR LF line ends', '{\r\n  "openapi": "3.0.0",\r\n  "paths": {\r\n    "/a": {\r\n      "get": {}\r\n    }\r\n  }\r\n}\r\n'],
    ['escapes in keys and values', '{"a\\"b": 1, "c\\\\": {"d\\u0041": "x\\"}y"}, "\\/e": ["]", "}", "\\\\"], "f": "{[\\""}'],
    ['duplicate keys: the first wins', '{"a": {"x": 1}, "b": 2, "a": [3]}'],
    ['numbers, literals and empty containers', '{"n": -1.5e+3, "t": true, "f": false, "z": null, "o": {}, "l": [], "s": ""}'],
    ['unicode and whitespace between tokens', '  {\t"ünï" :\n[ 1 ,2\t,  3 ] , "🙂": {"k":\t"v"}}  \n'],
    ['an array at the root', '[{"a": 1}, [2, 3], "x"]'],
    ['a $ref that is not a string', '{"a": {"$ref": 12}, "b": {"$ref": "#/a"}}'],
  ])('%s', (_name, text) => {
    const index = JsonIndex.of(text);
    expect(index).toBeDefined();
    expect(expectSameAsYaml(text, index!)).toBeGreaterThan(5);
  });

  it.each([
    ['a comment', '{"a": 1 /* c */}'],
    ['a trailing comma', '{"a": 1,}'],
    ['single quotes', "{'a': 1}"],
    ['a byte order mark', '\ufeff{"a": 1}'],
    ['NaN', '{"a": NaN}'],
    ['YAML', 'a: 1\n'],
    ['a scalar document', '"just a string"'],
    ['nothing', ''],
    ['two documents', '{"a": 1}{"b": 2}'],
  ])('refuses what is not strict JSON: %s', (_name, text) => {
    expect(JsonIndex.of(text)).toBeUndefined();
  });
});

describe('YamlBlockIndex: positions in block YAML, the same as the YAML parser gives', () => {
  it.each([
    ['block mappings and sequences', 'openapi: 3.0.0\npaths:\n  /a:\n    get:\n      tags:\n        - one\n        - two\n'],
    ['compact sequences under a key', 'a:\n- x\n- y: 1\n  z: 2\nb: 3\n'],
    ['sequences of sequences and of mappings', '- - a\n  - b\n- k: v\n  l:\n    - 1\n-\n  m: n\n'],
    ['quoted keys and canonical integer keys', "responses:\n  200:\n    description: ok\n  '404':\n    description: missing\n  \"5XX\": {description: err}\n"],
    ['comments everywhere', '# head\na: 1 # trailing\n  # indented comment\nb:\n  # before\n  c: 2\n\n# end\n'],
    ['plain scalars over several lines', 'a: first line\n  second line\n  third: no\nb: 1\n'.replace('third: no', 'third line')],
    ['quoted scalars over several lines', 'a: "one\n  two \\" three"\nb: \'it\'\'s\n  more\'\nc: 1\n'],
    ['block scalars with chomping', 'a: |\n  line\n\n  more\nb: >-\n    folded\n    text\nc: |+\n  kept\n\nd: 1\n'],
    ['flow collections, nested and over lines', 'a: [1, [2, 3], {b: c, "d": [e]}]\nf: {g: 1,\n  h: [i,\n    j]}\nk: []\nl: {}\n'],
    ['an explicit key', 'a:\n  ? long.key.name\n  : type: object\n    x: 1\n  b: 2\n'],
    ['a document start marker', '---\n# comment\nopenapi: 3.1.0\ninfo: {title: t}\n'],
    ['empty values', 'a:\nb:\n  c:\nd: 1\n'],
    ['duplicate keys: the first wins', 'a: 1\nb:\n  x: 1\na:\n  - 2\n'],
    ['$ref in every form', "a: {$ref: '#/b'}\nb:\n  $ref: \"#/c\"\nc:\n  $ref: '#/d' # comment\nd:\n  $ref: 12\ne:\n  $ref: plain/ref.yaml#/x\n"],
    ['CR LF line ends', 'a:\r\n  b: 1\r\n  c:\r\n    - d\r\n'],
    ['keys with colons, hashes and braces', 'urn:x:y: 1\na#b: 2\n/p/{id}: 3\n"k: v": 4\n'],
    ['a number key next to the same string key', "m:\n  200: a\n  '200': b\n"],
  ])('%s', (_name, text) => {
    const index = YamlBlockIndex.of(text);
    expect(index, text).toBeDefined();
    expect(expectSameAsYaml(text, index!)).toBeGreaterThan(3);
  });

  it.each([
    ['an anchor and an alias', 'a: &x\n  b: 1\nc: *x\n'],
    ['a tag', 'a: !!str 1\n'],
    ['a tab as indentation', 'a:\n\tb: 1\n'],
    ['a tab before a value', 'a:\tb\n'],
    ['a byte order mark', '\ufeffa: 1\n'],
    ['a carriage return alone', 'a: 1\rb: 2\n'],
    ['a directive', '%YAML 1.2\n---\na: 1\n'],
    ['a second document', 'a: 1\n---\nb: 2\n'],
    ['a document end marker', 'a: 1\n...\n'],
    ['an empty sequence item', 'a:\n  -\n  - b\n'],
    ['a flow collection as a key', '[a]: 1\n'],
    ['an explicit indentation indicator', 'a: |2\n   text\n'],
    ['a comment inside a plain scalar', 'a: one\n  # c\n  two\n'],
    ['a quoted scalar continued without indentation', 'a: "one\ntwo"\n'],
    ['a flow collection continued without indentation', 'a: [1,\n2]\n'],
    ['a float key', '1.5: a\n'],
    ['a boolean key', 'True: a\n'],
    ['an explicit key over several lines', '? a\n  b\n: c\n'],
    ['a plain scalar over lines inside a flow', 'a: [one\n  two]\n'],
    ['a pair inside a flow sequence', 'a: [b: 1]\n'],
    ['an unterminated quote', 'a: "b\n'],
    ['a value indicator inside a plain scalar', 'a: b: c\n'],
    ['bad indentation', 'a:\n    b: 1\n  c: 2\n'],
    ['a less indented line inside a block scalar', 'a:\n  b: |\n      x\n    y\n'],
    ['a scalar document', 'just text\n'],
    ['nothing', ''],
  ])('leaves hostile or unusual input to the YAML parser: %s', (_name, text) => {
    expect(YamlBlockIndex.of(text)).toBeUndefined();
    // The locator still answers, through the YAML parser.
    const dir = mkdtempSync(join(tmpdir(), 'rampart-locate-'));
    writeFileSync(join(dir, 'doc.yaml'), text);
    expect(() => new SourceLocator(join(dir, 'doc.yaml')).locate('/a/0/b')).not.toThrow();
  });

  it('gives up on nesting deeper than the stack instead of failing', () => {
    const deep = Array.from({ length: 20_000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' 1\n';
    expect(() => YamlBlockIndex.of(deep)).not.toThrow();
  });

  it('agrees with the YAML parser on 600 generated and mutated documents', () => {
    const next = random(8);
    let accepted = 0;
    let compared = 0;
    for (let i = 0; i < 600; i++) {
      const value = { root: randomValue(next, 0), list: [randomValue(next, 1), randomValue(next, 2)] };
      let text = stringify(value, {
        indent: next() < 0.5 ? 2 : 4,
        indentSeq: next() < 0.5,
        lineWidth: next() < 0.5 ? 20 : 80,
        minContentWidth: 0,
        defaultStringType: (['PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE', 'BLOCK_LITERAL', 'BLOCK_FOLDED'] as const)[Math.floor(next() * 5)]!,
        defaultKeyType: next() < 0.7 ? null : 'PLAIN',
        collectionStyle: next() < 0.7 ? 'any' : 'flow',
        flowCollectionPadding: next() < 0.5,
      });
      if (i % 2 === 1) text = mutate(text, next);
      if (next() < 0.2) text = text.replaceAll('\n', '\r\n');
      const index = YamlBlockIndex.of(text);
      if (!index) continue;
      accepted++;
      compared += expectSameAsYaml(text, index);
    }
    // Most generated documents are within what the scanner handles: the comparison is not vacuous.
    expect(accepted).toBeGreaterThan(300);
    expect(compared).toBeGreaterThan(10_000);
  }, 60_000);
});

describe('SourceLocator', () => {
  it('follows a $ref into a whole JSON file (its root at offset 0)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-locate-'));
    writeFileSync(join(dir, 'main.yaml'), 'components:\n  schemas:\n    Pet:\n      $ref: ./pet.json\n');
    writeFileSync(join(dir, 'pet.json'), '{\n  "type": "object",\n  "properties": {\n    "name": {"type": "string"}\n  }\n}\n');
    expect(new SourceLocator(join(dir, 'main.yaml')).locate('/components/schemas/Pet/properties/name')).toEqual({
      file: join(dir, 'pet.json'),
      pointer: '/properties/name',
      line: 4,
      column: 5,
    });
  });

  it('answers the same for a document whichever index reads it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-locate-'));
    const yamlText = readFileSync(`${FIXTURES}conformance-3.1.yaml`, 'utf8');
    const reference = new YamlIndex(yamlText);
    writeFileSync(join(dir, 'doc.json'), JSON.stringify(reference.doc.toJS(), null, 2));
    const jsonText = readFileSync(join(dir, 'doc.json'), 'utf8');
    expect(expectSameAsYaml(jsonText, JsonIndex.of(jsonText)!)).toBeGreaterThan(500);
    expect(expectSameAsYaml(yamlText, YamlBlockIndex.of(yamlText)!)).toBeGreaterThan(500);
  });

  it.each(['conformance-3.0.yaml', 'conformance-3.1.yaml', 'swagger-2.0.yaml', 'external/main.yaml', 'external/schemas.yaml'])('reads the fixture %s with the block YAML scanner', (file) => {
    const text = readFileSync(FIXTURES + file, 'utf8');
    expect(expectSameAsYaml(text, YamlBlockIndex.of(text)!)).toBeGreaterThan(10);
  });

  const specs = existsSync(SHARED_SPECS) ? readdirSync(SHARED_SPECS).filter((f) => /\.(ya?ml|json)$/.test(f)) : [];
  it.skipIf(specs.length === 0)('reads every document of ../shared/specs with a scanner, exactly as the YAML parser does', () => {
    let compared = 0;
    for (const file of specs) {
      const text = readFileSync(SHARED_SPECS + file, 'utf8');
      const index = file.endsWith('.json') ? JsonIndex.of(text) : YamlBlockIndex.of(text);
      expect(index, file).toBeDefined();
      compared += expectSameAsYaml(text, index!);
    }
    expect(compared).toBeGreaterThan(100_000);
  }, 120_000);
});
