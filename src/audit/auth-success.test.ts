/**
 * Per-window counting of authentication successes (auth-success.ts) with an injected clock: one aggregated event
 * per (route, principal, credential, address) with its count and first/last times, hostile key parts that must
 * not merge two principals, the bound on open keys, and what close() does.
 */
import { describe, expect, it } from 'vitest';
import type { SecurityEvent } from '../observe/events.ts';
import { AuthSuccessWindows } from './auth-success.ts';

function success(subject: string, options: { route?: string; client?: string; credentialId?: string; method?: string; requestId?: string } = {}): SecurityEvent {
  return {
    type: 'auth.succeeded',
    severity: 'info',
    requestId: options.requestId ?? `req-${subject}`,
    routeId: options.route ?? 'orders',
    clientAddress: options.client ?? '203.0.113.7',
    details: {
      subject,
      kind: 'user',
      method: options.method ?? 'jwt',
      ...(options.credentialId === undefined ? {} : { credentialId: options.credentialId }),
    },
  };
}

function setup(options: { maxKeys?: number; windowMs?: number } = {}) {
  let now = 1_000_000;
  const written: SecurityEvent[][] = [];
  const windows = new AuthSuccessWindows({
    windowMs: options.windowMs ?? 60_000,
    maxKeys: options.maxKeys ?? 100,
    now: () => now,
    write: (events) => written.push(events),
  });
  return { windows, written, advance: (ms: number) => (now += ms) };
}

describe('AuthSuccessWindows', () => {
  it('writes one event per key with the count, the first and last time, and the first request id', () => {
    const { windows, written, advance } = setup();
    windows.add(success('alice', { requestId: 'a1' }));
    advance(1000);
    windows.add(success('bob', { requestId: 'b1' }));
    advance(1000);
    windows.add(success('alice', { requestId: 'a2' }));
    advance(500);
    windows.add(success('alice', { requestId: 'a3' }));
    expect(written).toEqual([]);
    expect(windows.size).toBe(2);
    advance(500);
    windows.closeWindow();
    expect(written).toHaveLength(1);
    const [alice, bob] = written[0]!;
    expect(alice).toMatchObject({
      type: 'auth.succeeded',
      requestId: 'a1',
      routeId: 'orders',
      clientAddress: '203.0.113.7',
      details: { subject: 'alice', kind: 'user', method: 'jwt', record: 'per-window', count: 3, firstAt: 1_000_000, lastAt: 1_002_500, windowStart: 1_000_000, windowEnd: 1_003_000 },
    });
    expect(bob).toMatchObject({ requestId: 'b1', details: { subject: 'bob', count: 1, firstAt: 1_001_000, lastAt: 1_001_000 } });
    // The next window starts where this one ended, and an empty window writes nothing.
    windows.closeWindow();
    expect(written).toHaveLength(1);
    windows.add(success('alice'));
    windows.closeWindow();
    expect(written[1]).toHaveLength(1);
    expect(written[1]![0]!.details).toMatchObject({ count: 1, windowStart: 1_003_000 });
  });

  it('keeps route, address, credential and method apart', () => {
    const { windows, written } = setup();
    const variants = [
      success('alice'),
      success('alice', { route: 'admin' }),
      success('alice', { client: '198.51.100.1' }),
      success('alice', { credentialId: 'key-1' }),
      success('alice', { credentialId: 'key-2' }),
      success('alice', { method: 'api-key' }),
    ];
    for (const event of [...variants, ...variants]) windows.add(event);
    windows.closeWindow();
    expect(written[0]).toHaveLength(variants.length);
    expect(written[0]!.map((e) => e.details?.['count'])).toEqual(variants.map(() => 2));
  });

  // Parts chosen so that naive joining (with or without a separator) or truncation would make two keys equal.
  const hostile: Array<[string, SecurityEvent, SecurityEvent]> = [
    ['a NUL shifting a part into the next', success('x', { credentialId: 'c\u0000203.0.113.7', client: '' }), success('x', { credentialId: 'c', client: '\u0000203.0.113.7' })],
    ['a subject holding the address', success('203.0.113.7bob', { client: '' }), success('bob', { client: '203.0.113.7' })],
    ['length-prefix look-alikes', success('3:abc'), success('abc', { credentialId: '3:' })],
    ['an empty credential and none', success('carol', { credentialId: '' }), success('carol')],
    ['long subjects with a common start', success('u'.repeat(300) + 'A'), success('u'.repeat(300) + 'B')],
    ['quotes and commas that a JSON join would need to escape', success('a","b', { credentialId: 't', client: 'c' }), success('a', { credentialId: 't', client: 'b","c' })],
    ['null-looking parts', success('null', { credentialId: 't', route: 'null' }), success('null', { credentialId: 't', route: '' })],
    ['long credentials with a common start', success('dave', { credentialId: 'k'.repeat(1000) + '1' }), success('dave', { credentialId: 'k'.repeat(1000) + '2' })],
  ];
  it.each(hostile)('never merges two principals: %s', (_what, one, other) => {
    const { windows, written } = setup();
    windows.add(one);
    windows.add(other);
    windows.add(one);
    windows.closeWindow();
    expect(written[0]!.map((e) => e.details?.['count'])).toEqual([2, 1]);
  });

  it('counts one credential used from many addresses and routes, each key apart, in first-seen order', () => {
    const { windows, written } = setup({ maxKeys: 10_000 });
    const keys: Array<[string, string]> = [];
    for (let i = 0; i < 500; i++) keys.push([`198.51.${i >> 8}.${i & 255}`, i % 3 === 0 ? 'admin' : 'orders']);
    for (let round = 0; round < 3; round++) {
      for (const [client, route] of keys) windows.add(success('erin', { credentialId: 'tok-1', client, route }));
    }
    expect(windows.size).toBe(500);
    windows.closeWindow();
    expect(written[0]!.map((e) => [e.clientAddress, e.routeId, e.details?.['count']])).toEqual(keys.map(([client, route]) => [client, route, 3]));
  });

  it('closes the window early instead of holding more than maxKeys keys', () => {
    const { windows, written } = setup({ maxKeys: 3 });
    for (const name of ['a', 'b', 'c']) windows.add(success(name));
    windows.add(success('a'));
    expect(written).toEqual([]);
    windows.add(success('d'));
    expect(written).toHaveLength(1);
    expect(written[0]!.map((e) => [e.details?.['subject'], e.details?.['count']])).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 1],
    ]);
    expect(windows.size).toBe(1);
  });

  it('closes the window on its timer', async () => {
    const written: SecurityEvent[][] = [];
    const windows = new AuthSuccessWindows({ windowMs: 20, maxKeys: 10, now: Date.now, write: (events) => written.push(events) });
    windows.add(success('alice'));
    windows.add(success('alice'));
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(written).toHaveLength(1);
    expect(written[0]![0]!.details?.['count']).toBe(2);
    windows.close();
  });

  it('close() writes the open window and hands later successes back to the caller', () => {
    const { windows, written } = setup();
    expect(windows.add(success('alice'))).toBe(true);
    windows.close();
    expect(written).toHaveLength(1);
    expect(windows.add(success('alice'))).toBe(false);
    expect(written).toHaveLength(1);
  });

  it('refuses a window or a bound below 1', () => {
    expect(() => new AuthSuccessWindows({ windowMs: 0, maxKeys: 1, now: Date.now, write: () => undefined })).toThrow();
    expect(() => new AuthSuccessWindows({ windowMs: 1, maxKeys: 0, now: Date.now, write: () => undefined })).toThrow();
  });
});
