import { describe, expect, it } from 'vitest';
import { parseUrl } from './url.ts';
import { isAbsoluteUrl } from '../openapi/linear-checks.ts';
import { detects } from '../screening/index.ts';

const ACUTE = '\u0301';
const GRAVE_BELOW = '\u0316';
const marks = (n: number) => (ACUTE + GRAVE_BELOW).repeat(n / 2);
/** `%CC%81%CC%96…`: the same marks as the host parser percent-decodes them. */
const encodedMarks = (n: number) => '%CC%81%CC%96'.repeat(n / 2);

describe('parseUrl: the WHATWG URL parser without its quadratic IDNA case', () => {
  it.each([
    'https://api.example.com/v1/orders?x=1#f',
    'http://user:pa%20ss@[::1]:8080/',
    'http://bücher.example/',
    `http://e${ACUTE}xample.org/`,
    `http://a${marks(30)}.example/`,
    `http://x.org/${marks(100)}?q=${marks(100)}#${marks(100)}`,
    `http://x.org/%CC%81${encodedMarks(100)}`,
    'http:x.org',
    'http://x.org/?a=b:c&d=é',
    `//x.org:8080/${marks(40)}`,
    'myapp://opaque-host/path',
    'mailto:someone@example.org',
    '/relative/path',
  ])('parses what the parser parses, as it does: %s', (text) => {
    const base = text.startsWith('/') ? 'http://rampart.invalid' : undefined;
    expect(parseUrl(text, base).href).toBe(new URL(text, base).href);
  });

  it.each([
    ['marks in the host', `http://a${marks(20_000)}.example/`],
    ['percent-encoded marks in the host', `http://a${encodedMarks(20_000)}.example/`],
    ['marks in the userinfo (read as the authority too)', `http://u${marks(40)}@x.org/`],
    ['backslashes and no slashes', `https:\\\\a${marks(40)}`],
    ['a non-special scheme', `myapp://a${marks(40)}/`],
    ['halfwidth sound marks between marks', `http://a${(ACUTE + '\uff9e').repeat(20)}/`],
    ['a relative reference with a port', `//a${marks(40)}:8080/`],
    ['leading spaces before the scheme', `  http://a${marks(40)}/`],
  ])('refuses, as an invalid URL, an authority with more than 30 combining marks in a row: %s', (_name, text) => {
    expect(() => parseUrl(text, 'http://rampart.invalid')).toThrow(TypeError);
  });

  it('keeps the checks built on it linear: format url and the SSRF detector answer such values at once', () => {
    // Before, each of these held the event loop for seconds in IDNA (no clock here: the refusal is what shows it).
    expect(isAbsoluteUrl(`http://a${marks(64_000)}.example/`)).toBe(false);
    expect(detects('ssrf', `http://a${marks(64_000)}.example/`)).toBe(false);
    expect(detects('ssrf', 'http://169.254.169.254/latest/meta-data/')).toBe(true);
  });
});
