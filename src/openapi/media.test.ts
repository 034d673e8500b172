import { describe, expect, it } from 'vitest';
import { acceptable, mediaTypeOf, selectMedia } from './media.ts';

describe('media types', () => {
  it.each([
    ['application/JSON; charset=utf-8', 'application/json'],
    ['text/plain', 'text/plain'],
    ['', ''],
    ['nonsense', ''],
    ['a/b/c', ''],
  ])('Content-Type %j → %j', (header, expected) => expect(mediaTypeOf(header)).toBe(expected));

  const declared = [{ mediaType: '*/*' }, { mediaType: 'application/*' }, { mediaType: 'application/json' }];
  it.each([
    ['application/json', 'application/json'],
    ['application/xml', 'application/*'],
    ['text/plain', '*/*'],
  ])('%s selects the most specific declared type %s', (type, expected) => expect(selectMedia(declared, type)?.mediaType).toBe(expected));

  it('selects nothing when nothing covers the type', () => expect(selectMedia([{ mediaType: 'application/json' }], 'text/plain')).toBeUndefined());

  it.each([
    [undefined, ['application/json'], true],
    ['', ['application/json'], true],
    ['application/json', ['application/json'], true],
    ['*/*', ['text/csv'], true],
    ['text/*', ['text/csv'], true],
    ['text/html', ['application/json'], false],
    ['application/json;q=0', ['application/json'], false],
    ['*/*, application/json;q=0', ['application/json'], false],
    ['*/*, application/json;q=0', ['application/json', 'text/csv'], true],
    ['application/*;q=0.5, */*;q=0', ['application/json'], true],
    ['text/html', [], true],
    ['application/json', ['application/*'], true],
    ['text/html', ['application/*'], false],
    ['application/json;q=2', ['application/json'], false],
    ['garbage', ['application/json'], false],
  ])('Accept %j for %j → %s', (header, produces, expected) => expect(acceptable(header, produces)).toBe(expected));
});
