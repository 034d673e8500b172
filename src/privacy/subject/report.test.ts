/**
 * `rampart privacy report` in Markdown: names from the config and the OpenAPI documents (`x-pii` property names,
 * paths, route ids) are text. `markdownCell` backslash-escapes the punctuation that starts inline Markdown (links,
 * images, emphasis, code, strikethrough, cells), escapes block markers at the start, shows control, bidi and
 * line-separator characters as `\u{…}`, and writes `& < >` as entities: no link, tracking image or fake row renders.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../config/load.ts';
import { buildProcessingRecord, formatProcessingRecord, markdownCell } from './report.ts';

const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const LINK = 'email](https://evil.example/login) ![t](https://evil.example/pixel.png) [x';
/** What starts inline Markdown (CommonMark, GFM, GitHub math, kramdown/Pandoc attributes). */
const SPECIAL = new Set('\\`*_{}[]()!~|$');
const ASCII_PUNCTUATION = /^[!-/:-@[-`{-~]$/;

/** Where `text` has a Markdown special character that is not backslash-escaped (undefined: none). */
function unescapedSpecial(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') {
      if (!ASCII_PUNCTUATION.test(text[i + 1] ?? '')) return `a lone backslash at ${i}`;
      i++;
    } else if (SPECIAL.has(text[i]!)) {
      return `${text[i]} at ${i}`;
    }
  }
  return undefined;
}

/** True when `sequence` occurs with its first character not backslash-escaped. */
function hasUnescaped(text: string, sequence: string): boolean {
  for (let i = text.indexOf(sequence); i !== -1; i = text.indexOf(sequence, i + 1)) {
    let slashes = 0;
    for (let j = i - 1; j >= 0 && text[j] === '\\'; j--) slashes++;
    if (slashes % 2 === 0) return true;
  }
  return false;
}

/** [what, text from a config or document, the cell written for it]. */
const ROWS: ReadonlyArray<readonly [string, string, string]> = [
  ['link and tracking image', LINK, 'email\\]\\(https://evil.example/login\\) \\!\\[t\\]\\(https://evil.example/pixel.png\\) \\[x'],
  ['reference definition', '[x]: https://evil.example "reference definition"', '\\[x\\]: https://evil.example "reference definition"'],
  ['emphasis, code, strikethrough, math, attributes', '*FAKE* _it_ ~~gone~~ `code` $x$ {: .cls}', '\\*FAKE\\* \\_it\\_ \\~\\~gone\\~\\~ \\`code\\` \\$x\\$ \\{: .cls\\}'],
  ['pipes, HTML, entities, autolink', 'a|b <img src=x onerror=alert(1)> &amp; <https://evil.example>', 'a\\|b &lt;img src=x onerror=alert\\(1\\)&gt; &amp;amp; &lt;https://evil.example&gt;'],
  ['backslashes', '\\](x) \\', '\\\\\\]\\(x\\) \\\\'],
  ['C0, DEL and C1 controls', 'a\u001b[2Jb\u0007c\u0000\u007f\u0085\u009b', 'a\\\\u\\{1b\\}\\[2Jb\\\\u\\{7\\}c\\\\u\\{0\\}\\\\u\\{7f\\}\\\\u\\{85\\}\\\\u\\{9b\\}'],
  ['line separators, bidi and zero-width characters', 'x\u2028y\u2029z \u202Eevil\u202C \u2066i\u2069 \u200B', 'x\\\\u\\{2028\\}y\\\\u\\{2029\\}z \\\\u\\{202e\\}evil\\\\u\\{202c\\} \\\\u\\{2066\\}i\\\\u\\{2069\\} \\\\u\\{200b\\}'],
  ['line breaks and a fake row', 'name\r\n| fake | row |\n', 'name \\| fake \\| row \\| '],
  ['heading marker', '# heading', '\\# heading'],
  ['list marker -', '- item', '\\- item'],
  ['list marker +', '+ item', '\\+ item'],
  ['ordered list marker', '12. item', '12\\. item'],
  ['block quote marker', '> quote', '&gt; quote'],
  ['braces of a path template', 'GET /orders/{orderId}', 'GET /orders/\\{orderId\\}'],
  ['dots', 'customer.email', 'customer.email'],
  ['punctuation that needs no escape mid-line', 'e-mail, ok. 1.5 #3', 'e-mail, ok. 1.5 #3'],
];

describe('markdownCell', () => {
  it.each(ROWS)('writes %s as text', (_what, input, expected) => {
    const cell = markdownCell(input);
    expect(cell).toBe(expected);
    expect(cell).not.toMatch(UNSAFE);
    expect(unescapedSpecial(cell)).toBeUndefined();
    expect(hasUnescaped(cell, '](')).toBe(false);
    expect(hasUnescaped(cell, '![')).toBe(false);
    expect(cell).not.toMatch(/<|>|&(?!amp;|lt;|gt;)/);
  });
});

describe('formatProcessingRecord', () => {
  it('renders hostile x-pii property names and paths of a real document as text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-privacy-md-'));
    try {
      const hostilePath = '/a/![p](https://evil.example/pixel.png)\u001b[2J';
      const document = {
        openapi: '3.0.3',
        info: { title: 'x', version: '1' },
        paths: {
          [hostilePath]: {
            get: {
              operationId: 'op*FAKE*\u202E',
              responses: {
                '200': {
                  description: 'ok',
                  content: { 'application/json': { schema: { type: 'object', properties: { [LINK]: { type: 'string', 'x-pii': 'email' }, ['n\u0007\u2028*b*']: { type: 'string', 'x-pii': 'name' } } } } },
                },
              },
            },
          },
        },
      };
      writeFileSync(join(dir, 'api.json'), JSON.stringify(document));
      const config = {
        mode: 'development',
        listen: { host: '127.0.0.1', port: 0 },
        admin: false,
        storage: 'memory:',
        routes: [
          { id: 'r', match: { path: '/**' }, upstream: 'http://127.0.0.1:9', public: true },
          { id: 'docs', match: { path: '/docs/**', methods: ['GET'] }, upstream: 'rampart:docs', docs: { openapi: './api.json' }, public: true },
        ],
      };
      const configFile = join(dir, 'rampart.json');
      writeFileSync(configFile, JSON.stringify(config));
      const loaded = loadConfigFile(configFile);
      if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
      const record = await buildProcessingRecord(loaded.config, { configFile });
      // The record holds the names as written; the Markdown must neutralise them.
      expect(JSON.stringify(record)).toContain(JSON.stringify(LINK).slice(1, -1));
      const markdown = formatProcessingRecord(record);
      expect(markdown).toContain('email\\]\\(https://evil.example/login\\) \\!\\[t\\]\\(https://evil.example/pixel.png\\) \\[x');
      expect(markdown).toContain('n\\\\u\\{7\\}\\\\u\\{2028\\}\\*b\\*');
      expect(markdown.replace(/\n/g, '')).not.toMatch(UNSAFE);
      expect(hasUnescaped(markdown, '](')).toBe(false);
      expect(hasUnescaped(markdown, '![')).toBe(false);
      const rows = markdown.split('\n').filter((line) => line.startsWith('| GET /a/'));
      expect(rows).toHaveLength(2);
      for (const row of rows) {
        // Four cells: the hostile names add none.
        expect(row.split(/(?<!\\)\|/).length).toBe(6);
        // Between the table's own pipes, every special character is escaped.
        for (const cell of row.slice(2, -2).split(' | ')) expect(unescapedSpecial(cell)).toBeUndefined();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
