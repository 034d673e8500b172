import { describe, expect, it } from 'vitest';
import { PII_DETECTOR_IDS, PiiScanner, luhnValid, maskText, type PiiDetectorId, type PiiResult } from './index.ts';

const scanner = new PiiScanner({ detectors: [...PII_DETECTOR_IDS], allow: [], phoneRegions: ['US', 'GB', 'DE'] });

function kinds(s: string): PiiDetectorId[] {
  return scanner.scanString(s).map((span) => span.detector);
}

function masked(s: string): string {
  return maskText(s, scanner.scanString(s));
}

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('detectors', () => {
  const positives: Array<[PiiDetectorId, string]> = [
    ['email', 'john.doe@example.com'],
    ['email', "o'brien+news@sub.example.co.uk"],
    ['email', 'write to info@müller.de today'],
    ['phone', '+1 415 555 2671'],
    ['phone', '+14155552671'],
    ['phone', '+44 20 7946 0958'],
    ['phone', '+49 30 901820'],
    ['phone', '(415) 555-2671'],
    ['phone', '415.555.2671'],
    ['phone', '020 7946 0958'],
    ['card', '4111 1111 1111 1111'],
    ['card', '4111-1111-1111-1111'],
    ['card', '4111111111111111'],
    ['card', '5555 5555 5555 4444'],
    ['card', '2223 0031 2200 3222'],
    ['card', '3782 822463 10005'],
    ['card', '6011 1111 1111 1117'],
    ['card', '3530111333300000'],
    ['card', '4222222222222'],
    ['iban', 'DE89 3704 0044 0532 0130 00'],
    ['iban', 'DE89370400440532013000'],
    ['iban', 'GB82 WEST 1234 5698 7654 32'],
    ['iban', 'FR1420041010050500013M02606'],
    ['iban', 'NL91ABNA0417164300'],
    ['ssn', '078-05-1120'],
    ['ssn', '123 45 6789'],
    ['jwt', JWT],
    ['jwt', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'],
    ['private-key', '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----'],
    ['private-key', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----'],
    ['private-key', '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI (truncated'],
    ['cloud-key', 'AKIAIOSFODNN7EXAMPLE'],
    ['cloud-key', 'ASIAY34FZKBOKMUTVV7A'],
    ['cloud-key', `ghp_${'A1b2C3d4E5'.repeat(3)}abcdef`],
    ['cloud-key', `github_pat_11ABCDEFG0123456789_${'x'.repeat(59)}`],
    ['cloud-key', 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx'],
    ['cloud-key', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'],
    ['cloud-key', 'AIzaSyA-1b2c3d4e5f6g7h8i9j0k_lmnopqrstu'],
  ];
  it.each(positives)('%s: %j', (kind, value) => {
    expect(kinds(value)).toEqual([kind]);
  });

  const negatives = [
    'hello world',
    'order 1234567890',
    '4155552671', // a bare digit run is an id, not a phone number
    '123456789', // a bare 9-digit run is not an SSN
    '4111111111111112', // Luhn fails
    '1234 5678 9012 3456', // Luhn fails
    '0000 0000 0000 0000', // no issuer
    '9111 1111 1111 1111',
    '41111111111111112', // 17 digits, Visa lengths are 13/16/19
    'DE89370400440532013001', // mod-97 fails
    'DE00 0000 0000 0000 0000 00',
    'ES12 ABC',
    '666-12-3456',
    '000-12-3456',
    '900-12-3456',
    '123-00-4567',
    '123-45-0000',
    '12-345-6789',
    '2024-05-01',
    '2024-05-01T10:20:30Z',
    '10.15.7',
    '203.0.113.7',
    '$1,299.99',
    '550e8400-e29b-41d4-a716-446655440000',
    'eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiJ4In0.sig', // header without alg
    'eyJhbGciOiJIUzI1NiJ9', // one segment
    'user@localhost',
    'a@b',
    '@example.com',
    'AKIAIOSFODNN7EXAMPL', // 15 after the prefix
    'XAKIAIOSFODNN7EXAMPLE',
    'sk_test_4eC39HqLyjWDarjtT1zdp7dc',
    'ghp_short',
    '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----',
    '-----BEGIN CERTIFICATE-----',
    'Version 3.14.15.92',
    'ISBN 978-3-16-148410-0',
  ];
  it.each(negatives)('passes %j', (value) => {
    expect(kinds(value)).toEqual([]);
  });

  it('finds several values in one string, in order, without overlaps (higher precedence wins)', () => {
    const text = `Call +1 415 555 2671 or mail jane@example.com; card 4111 1111 1111 1111; token ${JWT}`;
    expect(kinds(text)).toEqual(['phone', 'email', 'card', 'jwt']);
    // A card number is not also reported as a phone number; a key's base64 is not scanned for other values.
    expect(kinds('4111 1111 1111 1111')).toEqual(['card']);
    expect(kinds('-----BEGIN PRIVATE KEY-----\n+14155552671 john@example.com\n-----END PRIVATE KEY-----')).toEqual(['private-key']);
  });

  it('splits two card numbers written in a row', () => {
    expect(kinds('4111 1111 1111 1111 5555 5555 5555 4444')).toEqual(['card', 'card']);
  });

  it('computes Luhn', () => {
    expect(luhnValid('79927398713')).toBe(true);
    expect(luhnValid('79927398710')).toBe(false);
  });

  it('only counts national phone formats of the configured regions', () => {
    const usOnly = new PiiScanner({ detectors: ['phone'], allow: [], phoneRegions: ['US'] });
    expect(usOnly.scanString('020 7946 0958')).toEqual([]);
    expect(usOnly.scanString('+44 20 7946 0958').map((s) => s.detector)).toEqual(['phone']);
  });

  it('stays bounded and correct on long hostile strings', () => {
    const walls = ['1 '.repeat(100_000), '@'.repeat(200_000), 'a@'.repeat(100_000), 'eyJ.'.repeat(50_000), '-----BEGIN '.repeat(20_000), 'AKIA'.repeat(50_000), 'DE89 '.repeat(40_000), '4111 '.repeat(40_000)];
    for (const wall of walls) expect(() => scanner.scanString(wall)).not.toThrow();
    const needle = `${'x '.repeat(50_000)}john@example.com`;
    expect(kinds(needle)).toEqual(['email']);
  });
});

describe('masking', () => {
  it.each([
    ['4111 1111 1111 1111', '**** **** **** 1111'],
    ['4111-1111-1111-1111', '****-****-****-1111'],
    ['4111111111111111', '************1111'],
    ['Card: 378282246310005.', 'Card: ***********0005.'],
    ['john.doe@example.com', 'j***@example.com'],
    ['Mail: a@example.org!', 'Mail: a***@example.org!'],
    ['IBAN DE89370400440532013000 EUR', 'IBAN [redacted:iban] EUR'],
    ['SSN 078-05-1120', 'SSN [redacted:ssn]'],
    ['call +1 415 555 2671 now', 'call [redacted:phone] now'],
    [`Bearer ${JWT}`, 'Bearer [redacted:jwt]'],
    ['key=AKIAIOSFODNN7EXAMPLE', 'key=[redacted:cloud-key]'],
  ])('%j → %j', (input, output) => {
    expect(masked(input)).toBe(output);
  });

  it('never changes JSON types, copies only what changes, and reports pointers, never values', () => {
    const body = {
      id: 42,
      active: true,
      none: null,
      user: { name: 'Ann', email: 'ann@example.com', card: 4111111111111111, tags: ['x', 'ann@example.com'] },
      untouched: { a: 1, b: ['c'] },
      list: [{ phone: '+1 415 555 2671' }, { phone: 'n/a' }],
    };
    const result: PiiResult = { findings: [], more: 0 };
    const out = scanner.process(body, true, result) as typeof body;
    expect(out).toEqual({
      id: 42,
      active: true,
      none: null,
      user: { name: 'Ann', email: 'a***@example.com', card: 1111, tags: ['x', 'a***@example.com'] },
      untouched: { a: 1, b: ['c'] },
      list: [{ phone: '[redacted:phone]' }, { phone: 'n/a' }],
    });
    expect(typeof out.user.card).toBe('number');
    expect(out.untouched).toBe(body.untouched); // not copied
    expect(body.user.email).toBe('ann@example.com'); // input not mutated
    expect(result.findings).toEqual([
      { detector: 'email', location: '/user/email', part: 'value' },
      { detector: 'card', location: '/user/card', part: 'value' },
      { detector: 'email', location: '/user/tags/1', part: 'value' },
      { detector: 'phone', location: '/list/0/phone', part: 'value' },
    ]);
    expect(JSON.stringify(result)).not.toMatch(/ann@|4111|415/);
  });

  it('detect-only mode returns the same value', () => {
    const body = { email: 'ann@example.com' };
    const result: PiiResult = { findings: [], more: 0 };
    expect(scanner.process(body, false, result)).toBe(body);
    expect(result.findings).toHaveLength(1);
  });

  it('masks member names and keeps colliding names apart', () => {
    const result: PiiResult = { findings: [], more: 0 };
    const out = scanner.process({ 'ann@example.com': 1, 'amy@example.com': 2, other: 3 }, true, result);
    expect(out).toEqual({ 'a***@example.com': 1, 'a***@example.com (2)': 2, other: 3 });
    expect(result.findings).toEqual([
      { detector: 'email', location: '', part: 'key' },
      { detector: 'email', location: '', part: 'key' },
    ]);
  });

  // A member name that is PII is masked in the output; it must not come back as a segment of the location of what is
  // found below it (those locations go to the pii.detected event and its log line). Hostile inputs: maps keyed by
  // PII at several depths, under arrays, with `/` and `~` (RFC 6901 escapes), a line break (log injection), and a
  // tail past the 64-character segment cut; a key without PII keeps its name (the control row). `detected`: what the
  // detectors found, in neither the findings nor the masked output; `hostile`: the rest of such a key, not in the
  // findings either.
  type Row = [name: string, body: unknown, findings: PiiResult['findings'], detected: string[], hostile: string[]];
  const keyedByPii: Row[] = [
    [
      'map keyed by email',
      { contacts: { 'ann@example.com': { phone: '+1 415 555 2671' } } },
      [
        { detector: 'email', location: '/contacts', part: 'key' },
        { detector: 'phone', location: '/contacts/*/phone', part: 'value' },
      ],
      ['ann@', '415'],
      ['example.com'],
    ],
    [
      'PII keys two levels deep (email, then a card number)',
      { 'ann@example.com': { '4111 1111 1111 1111': { ssn: '078-05-1120', n: 4222222222222 } } },
      [
        { detector: 'email', location: '', part: 'key' },
        { detector: 'card', location: '/*', part: 'key' },
        { detector: 'ssn', location: '/*/*/ssn', part: 'value' },
        { detector: 'card', location: '/*/*/n', part: 'value' },
      ],
      ['ann@', '4111', '078', '4222'],
      ['example.com', '1111'],
    ],
    [
      'email key inside an array of maps',
      { users: [{ 'amy@example.com': { cards: ['5555 5555 5555 4444'] } }] },
      [
        { detector: 'email', location: '/users/0', part: 'key' },
        { detector: 'card', location: '/users/0/*/cards/0', part: 'value' },
      ],
      ['amy@', '5555'],
      ['example.com'],
    ],
    [
      'key with RFC 6901 specials and a line break (log injection)',
      { 'a/b~c ann@example.com\n{"level":60,"msg":"forged"}': ['x', 'bob@example.com'] },
      [
        { detector: 'email', location: '', part: 'key' },
        { detector: 'email', location: '/*/1', part: 'value' },
      ],
      ['ann@', 'bob@'],
      ['forged', 'a~1b', '\\n', 'example.com'],
    ],
    [
      'long key: the PII is within the first 64 characters a location keeps',
      { [`ann@example.com ${'x'.repeat(100)}`]: { card: 4111111111111111 } },
      [
        { detector: 'email', location: '', part: 'key' },
        { detector: 'card', location: '/*/card', part: 'value' },
      ],
      ['ann@', '4111'],
      ['xxxx', 'example.com'],
    ],
    [
      'control: a key without PII keeps its name',
      { contacts: { ann: { phone: '+1 415 555 2671' } } },
      [{ detector: 'phone', location: '/contacts/ann/phone', part: 'value' }],
      ['415'],
      [],
    ],
  ];
  describe.each([true, false])('member names that are PII never appear in locations (mask %s)', (mask) => {
    it.each(keyedByPii)('%s', (_name, body, findings, detected, hostile) => {
      const result: PiiResult = { findings: [], more: 0 };
      const out = scanner.process(body, mask, result);
      expect(result.findings).toEqual(findings);
      const recorded = JSON.stringify(result);
      for (const fragment of [...detected, ...hostile]) expect(recorded).not.toContain(fragment);
      if (!mask) expect(out).toBe(body);
      else for (const fragment of detected) expect(JSON.stringify(out)).not.toContain(fragment);
    });
  });

  it('numbers many colliding masked names in order, around names that already carry a number', () => {
    // An answer whose keys are 20,000 emails that mask alike (this once cost quadratic work: each name tried every
    // number from 2 again), with literal names that take some numbers first.
    const body: Record<string, number> = { 'a***@x.co (3)': -3 };
    for (let i = 0; i < 20_000; i++) body[`a${i}@x.co`] = i;
    body['a***@x.co (5)'] = -5;
    const result: PiiResult = { findings: [], more: 0 };
    const out = scanner.process(body, true, result) as Record<string, number>;
    const keys = Object.keys(out);
    expect(keys).toHaveLength(20_002);
    expect(new Set(keys).size).toBe(20_002);
    expect(keys.slice(0, 5)).toEqual(['a***@x.co (3)', 'a***@x.co', 'a***@x.co (2)', 'a***@x.co (4)', 'a***@x.co (5)']);
    expect(out['a***@x.co (4)']).toBe(2);
    // The literal "(5)" came after the fourth masked name took it: it gets the next number of its own name.
    expect(out['a***@x.co (5) (2)']).toBe(-5);
    expect(out['a***@x.co (20000)']).toBe(19_998);
    expect(JSON.stringify(out)).not.toMatch(/a\d+@x\.co/);
  });

  it('allow-lists by pointer or dotted path, with everything below', () => {
    const allowing = new PiiScanner({ detectors: [...PII_DETECTOR_IDS], allow: ['/contact', 'users[].email'], phoneRegions: ['US'] });
    const result: PiiResult = { findings: [], more: 0 };
    const body = { contact: { email: 'x@example.com', phone: '+1 415 555 2671' }, users: [{ email: 'a@example.com', card: '4111 1111 1111 1111' }] };
    const out = allowing.process(body, true, result);
    expect(out).toEqual({ contact: body.contact, users: [{ email: 'a@example.com', card: '**** **** **** 1111' }] });
    expect(result.findings).toEqual([{ detector: 'card', location: '/users/0/card', part: 'value' }]);
  });

  it('counts findings beyond the listed maximum', () => {
    const result: PiiResult = { findings: [], more: 0 };
    scanner.process(Array.from({ length: 40 }, (_, i) => `u${i}@example.com`), false, result);
    expect(result.findings).toHaveLength(16);
    expect(result.more).toBe(24);
  });

  it('runs only the configured detectors', () => {
    const cardsOnly = new PiiScanner({ detectors: ['card'], allow: [], phoneRegions: ['US'] });
    expect(cardsOnly.scanString('ann@example.com 4111 1111 1111 1111').map((s) => s.detector)).toEqual(['card']);
    const result: PiiResult = { findings: [], more: 0 };
    const emailsOnly = new PiiScanner({ detectors: ['email'], allow: [], phoneRegions: ['US'] });
    expect(emailsOnly.process({ card: 4111111111111111 }, true, result)).toEqual({ card: 4111111111111111 });
  });
});
