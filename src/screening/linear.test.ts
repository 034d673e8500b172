/**
 * The detectors must cost time linear in the input (no ReDoS, OWASP "Regular expression Denial of Service"). No
 * clock is read: the scanners count their work in `meter.steps`, and for each adversarial pattern the count for an
 * input twice as long must be about twice as large, and within a fixed number of steps per character.
 */
import { describe, expect, it } from 'vitest';
import { DETECTOR_IDS, detects, meter, type DetectorId } from './index.ts';
import { someVariant } from './text.ts';

/** Units repeated into long inputs: the prefixes and delimiters each scanner reacts to, alone and mixed. */
const UNITS = [
  "'", '"', '`', "' OR ", "' OR 1=1 ", '1 or (', '((((', '))))', 'union select ', 'union all select (', ';', '; select ', '; drop table ',
  'sleep(1)', '/*', '/*!', '--', '# ', '\\', '@@', '0x', 'or 1=', '$ne', '[$ne]', '{"$ne":', '{$where:', '; return ', 'this.', 'this.a', '{{', '${',
  '#{', '*{', '<%', '{%', '}}', '<#', '#set(', '<a ', '<a on', '<a b="', '<a b=', '<', '</', 'javascript:', 'java\tscript:', '&#', '&#x6a;',
  '&', '| cat ', '&& ', '$(', '`id', '${IFS}', '$IFS', '/bin/', '../', '..', '....', '.', '%2e', '%25', '%252e', '%c0', '%c0%ae', '%u002e',
  'http://', 'a://', 'a:\\\\', ':/', 'file:/', '[', '[::', '::', '0x7f.', '1.', '127.', '\u0000', '．', 'alert(', "'-", ' ', 'a',
  "' OR 1=1 /* {{ ${ <% <a onx=", ';/*', ';/*!', '; /**/', '<a on=', "{{7*'", '1;', '&a', '&#x', '%c0%', '\\\\',
  // Line breaks are command separators and blanks at once (a run of them once cost quadratic work), and other spaces.
  '\n', '\r', '\r\n', '\n ', ' \n', '\t', '\f', '\v', '\u00a0', '\n;', ';\n', '|\n', '\n$IFS', '\n#',
];

function stepsFor(id: DetectorId, input: string): number {
  meter.steps = 0;
  detects(id, input);
  return meter.steps;
}

describe('linear time', () => {
  it.each(DETECTOR_IDS)('%s: work grows linearly on every adversarial pattern', (id) => {
    for (const unit of UNITS) {
      const small = unit.repeat(Math.ceil(4000 / unit.length));
      const large = unit.repeat(Math.ceil(8000 / unit.length));
      const a = stepsFor(id, small);
      const b = stepsFor(id, large);
      // Doubling the input at most (about) doubles the work, and the work per character is bounded.
      expect(b, `${id} on ${JSON.stringify(unit)}: ${a} → ${b}`).toBeLessThanOrEqual(2.2 * a + 64);
      expect(b, `${id} on ${JSON.stringify(unit)}`).toBeLessThanOrEqual(300 * large.length);
    }
  });

  // No clock here either: what bounds the cost of ICU's NFKC is the longest run of combining marks it must sort
  // (quadratic in it: 64,000 marks took seconds), so the test checks the fold is made stream-safe (text/nfkc.ts).
  it('folds with stream-safe NFKC: a long run of combining marks gets a joiner every 30, and payloads after it are still seen', () => {
    const run = '\u0301\u0316'.repeat(50_000);
    const variants: string[] = [];
    someVariant(`a${run}`, (text) => {
      variants.push(text);
      return false;
    });
    expect(variants).toHaveLength(2);
    expect(variants[1]!.split('\u034f')).toHaveLength(Math.ceil(run.length / 30));
    expect(detects('xss', `x${run}＜ｓｃｒｉｐｔ＞alert(1)＜／ｓｃｒｉｐｔ＞`)).toBe(true);
  });

  it('xss: overlapping tag scans are bounded, and text that needs more is reported; closed markup reads once', () => {
    // Each `<a ` inside an unquoted value starts a scan over what the previous one read (125 reads a character before
    // the bound: about a second for 1 MB).
    for (const unit of ['<a b=', '<a b=<a b=x ', '<p q=<p\t', '<a b="<a b=\'<a ']) {
      const value = unit.repeat(Math.ceil(1_000_000 / unit.length));
      meter.steps = 0;
      detects('xss', value);
      expect(meter.steps, unit).toBeLessThan(20 * value.length);
    }
    expect(detects('xss', '<a b='.repeat(200_000))).toBe(true);
    // The bound is never reached by markup whose tags close, however much of it there is, nor by prose with `<`.
    for (const unit of ['<a href="https://example.com/x?a=1&b=2" title="t">link</a> ', '<p class=x>text</p>\n', 'if a <b then c; ', '<b>bold</b> <i>it</i> ']) {
      const value = unit.repeat(Math.ceil(1_000_000 / unit.length));
      meter.steps = 0;
      expect(detects('xss', value), unit).toBe(false);
      expect(meter.steps, unit).toBeLessThan(20 * value.length);
    }
    // A handler within one window of its tag is still found behind a long run of attributes.
    expect(detects('xss', `<img ${'a=b '.repeat(300)}onerror=alert(1)>`)).toBe(true);
  });

  it('a 1 MB hostile value is screened by every detector (bounded work)', () => {
    const value = "' OR 1=1 {{ ${ <a on".repeat(50_000);
    meter.steps = 0;
    for (const id of DETECTOR_IDS) detects(id, value);
    expect(meter.steps).toBeLessThan(300 * value.length);
  });
});
