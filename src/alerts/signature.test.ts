import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signAlert, verifyAlertSignature } from './signature.ts';

const SECRET = 'whsec_0123456789abcdef0123456789abcdef';
const OTHER = 'whsec_fedcba9876543210fedcba9876543210';
const BODY = '{"type":"anomaly.brute-force","count":3}';
const T = 1_767_614_400; // 2026-01-05T12:00:00Z
const now = () => T * 1000;

describe('signAlert', () => {
  it('is HMAC-SHA256 over `${t}.${body}` in the Stripe layout', () => {
    const expected = createHmac('sha256', SECRET).update(`${T}.${BODY}`).digest('hex');
    expect(signAlert(BODY, SECRET, T)).toBe(`t=${T},v1=${expected}`);
    expect(signAlert(Buffer.from(BODY), SECRET, T)).toBe(`t=${T},v1=${expected}`);
  });

  it('refuses a timestamp that is not unix seconds', () => {
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => signAlert(BODY, SECRET, bad)).toThrow(RangeError);
  });
});

describe('verifyAlertSignature', () => {
  const header = signAlert(BODY, SECRET, T);

  it('accepts the body it signed, as a string or as raw bytes', () => {
    expect(verifyAlertSignature(header, BODY, SECRET, { now })).toEqual({ ok: true, timestamp: T });
    expect(verifyAlertSignature(header, Buffer.from(BODY), SECRET, { now })).toEqual({ ok: true, timestamp: T });
  });

  it('accepts either secret during a rotation, and a header with several v1 and unknown schemes', () => {
    expect(verifyAlertSignature(header, BODY, [OTHER, SECRET], { now }).ok).toBe(true);
    const other = signAlert(BODY, OTHER, T).split(',v1=')[1];
    expect(verifyAlertSignature(`${header},v1=${other},v0=abc`, BODY, OTHER, { now }).ok).toBe(true);
  });

  it('honours the tolerance both ways', () => {
    expect(verifyAlertSignature(header, BODY, SECRET, { now: () => (T + 300) * 1000 }).ok).toBe(true);
    expect(verifyAlertSignature(header, BODY, SECRET, { now: () => (T + 301) * 1000 })).toEqual({ ok: false, reason: 'timestamp' });
    expect(verifyAlertSignature(header, BODY, SECRET, { now: () => (T - 301) * 1000 })).toEqual({ ok: false, reason: 'timestamp' });
    expect(verifyAlertSignature(header, BODY, SECRET, { now: () => (T + 3600) * 1000, toleranceSeconds: 3600 }).ok).toBe(true);
  });

  const v1 = header.split(',v1=')[1]!;
  const cases: Array<[string, string | string[] | undefined, string, string, string]> = [
    ['no header', undefined, BODY, SECRET, 'missing'],
    ['empty header', '', BODY, SECRET, 'missing'],
    ['two headers', [header, header], BODY, SECRET, 'malformed'],
    ['no timestamp', `v1=${v1}`, BODY, SECRET, 'malformed'],
    ['no signature', `t=${T}`, BODY, SECRET, 'malformed'],
    ['two timestamps', `t=${T},t=${T},v1=${v1}`, BODY, SECRET, 'malformed'],
    ['timestamp not digits', `t=${T}.5,v1=${v1}`, BODY, SECRET, 'malformed'],
    ['negative timestamp', `t=-${T},v1=${v1}`, BODY, SECRET, 'malformed'],
    ['huge timestamp', `t=${'9'.repeat(40)},v1=${v1}`, BODY, SECRET, 'malformed'],
    ['signature upper case', `t=${T},v1=${v1.toUpperCase()}`, BODY, SECRET, 'malformed'],
    ['signature too short', `t=${T},v1=${v1.slice(2)}`, BODY, SECRET, 'malformed'],
    ['signature not hex', `t=${T},v1=${'z'.repeat(64)}`, BODY, SECRET, 'malformed'],
    ['part without =', `t=${T},v1${v1}`, BODY, SECRET, 'malformed'],
    ['empty key', `=${T},v1=${v1}`, BODY, SECRET, 'malformed'],
    ['too many signatures', `t=${T}` + `,v1=${v1}`.repeat(9), BODY, SECRET, 'malformed'],
    ['header of 10 kB', `t=${T},v1=${v1},x=${'a'.repeat(10_000)}`, BODY, SECRET, 'malformed'],
    ['body changed', header, BODY.replace('3', '4'), SECRET, 'signature'],
    ['body with a trailing newline', header, `${BODY}\n`, SECRET, 'signature'],
    ['timestamp changed (replay with a fresh t)', `t=${T + 1},v1=${v1}`, BODY, SECRET, 'signature'],
    ['wrong secret', header, BODY, OTHER, 'signature'],
    ['empty secret', header, BODY, '', 'signature'],
    ['signature of another body', signAlert('{}', SECRET, T), BODY, SECRET, 'signature'],
    ['v0 only (unknown scheme)', `t=${T},v0=${v1}`, BODY, SECRET, 'malformed'],
  ];

  it.each(cases)('refuses %s', (_name, value, body, secret, reason) => {
    expect(verifyAlertSignature(value, body, secret, { now })).toEqual({ ok: false, reason });
    // And still verifies a good one afterwards.
    expect(verifyAlertSignature(header, BODY, SECRET, { now }).ok).toBe(true);
  });

  it('tolerates spaces around the parts', () => {
    expect(verifyAlertSignature(` t=${T} , v1=${v1} `, BODY, SECRET, { now }).ok).toBe(true);
  });
});
