import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { AnomalyDetection } from './index.ts';
import { checkDetectorsConfig, detectorsConfigSchema, parseDetectorsConfig, resolveDetectorsState, type DetectorsConfig } from './schema.ts';
import { DETECTOR_NAMES } from './types.ts';
import { RecordingSecurityEvents } from '../observe/events.ts';
import type { CountersConfig } from '../storage/counters-config.ts';

describe('detectors config', () => {
  it('fills every default from an empty section, every detector on', () => {
    const parsed = parseDetectorsConfig({});
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    for (const name of DETECTOR_NAMES) expect(parsed.config[name].enabled).toBe(true);
    expect(parsed.config.bruteForce).toMatchObject({ threshold: 10, window: '5m', severity: 'high', maxTracked: 10_000 });
    expect(parsed.config.bolaEnumeration).toMatchObject({ distinctIds: 50, window: '5m', sequentialDenials: 20, denialStatuses: [403, 404] });
    expect(parsed.config.scraping).toMatchObject({ bucket: '1m', baseline: '1h', warmup: '30m', cooldown: '15m', minRequests: 120 });
    expect(parsed.config.scraping.ceiling).toBeUndefined();
    expect(parsed.config.adminActivity.rate).toMatchObject({ enabled: true, bucket: '10m', minRequests: 60 });
    expect(parseDetectorsConfig(undefined).ok).toBe(true);
  });

  it('takes the sketch form from config-sketch.yaml', () => {
    const parsed = parseDetectorsConfig({ bruteForce: {}, credentialStuffing: {}, bolaEnumeration: { distinctIds: 50, window: '5m' }, scraping: {}, errorSpike: {} });
    expect(parsed.ok).toBe(true);
  });

  it('does not change its input', () => {
    const input = { bruteForce: { threshold: 3 } };
    parseDetectorsConfig(input);
    expect(input).toEqual({ bruteForce: { threshold: 3 } });
  });

  it.each([
    ['unknown detector', { bruteforce: {} }, 'detectors.bruteforce: is not a known setting'],
    ['unknown setting', { bruteForce: { treshold: 3 } }, 'detectors.bruteForce.treshold: is not a known setting'],
    ['threshold of 1 (every failure an anomaly)', { bruteForce: { threshold: 1 } }, 'detectors.bruteForce.threshold'],
    ['negative threshold', { credentialStuffing: { distinctAccounts: -5 } }, 'detectors.credentialStuffing.distinctAccounts'],
    ['string threshold', { bruteForce: { threshold: '10' } }, 'detectors.bruteForce.threshold'],
    ['bad duration', { bruteForce: { window: '5 minutes' } }, 'detectors.bruteForce.window'],
    ['sub-second window', { bruteForce: { window: '10ms' } }, 'detectors.bruteForce.window: must be at least 1s'],
    ['bucket longer than baseline', { scraping: { bucket: '2h', baseline: '1h' } }, 'detectors.scraping.baseline: must be at least the bucket'],
    ['unknown severity', { bruteForce: { severity: 'urgent' } }, 'detectors.bruteForce.severity'],
    ['cap of zero', { tokenSharing: { maxTracked: 0 } }, 'detectors.tokenSharing.maxTracked'],
    ['cap beyond a million', { tokenSharing: { maxTracked: 10_000_000 } }, 'detectors.tokenSharing.maxTracked'],
    ['5xx as a denial status', { bolaEnumeration: { denialStatuses: [500] } }, 'detectors.bolaEnumeration.denialStatuses[0]'],
    ['absolute rate above 1', { errorSpike: { absoluteRate: 2 } }, 'detectors.errorSpike.absoluteRate'],
    ['absolute rate of 0', { errorSpike: { absoluteRate: 0 } }, 'detectors.errorSpike.absoluteRate'],
    ['unknown class', { errorSpike: { classes: ['3xx'] } }, 'detectors.errorSpike.classes[0]'],
    ['utc offset beyond 14h', { adminActivity: { utcOffsetMinutes: 900 } }, 'detectors.adminActivity.utcOffsetMinutes'],
    ['not an object', 'on', 'detectors'],
    ['an array', [], 'detectors'],
  ])('refuses %s', (_name, value, path) => {
    const parsed = parseDetectorsConfig(value);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errors.some((e) => e.startsWith(path))).toBe(true);
  });

  it('refuses a prototype-polluting key and leaves Object.prototype alone', () => {
    const parsed = parseDetectorsConfig(JSON.parse('{"__proto__": {"polluted": true}, "bruteForce": {}}'));
    expect(parsed.ok).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('is a valid JSON Schema with a description on every setting', () => {
    expect(new Ajv({ strict: false }).validateSchema(detectorsConfigSchema)).toBe(true);
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      if (props === undefined) return;
      for (const [key, child] of Object.entries(props)) {
        if (typeof child.description !== 'string' && !['zScore', 'bucket', 'baseline', 'ratio', 'minRequests', 'enabled'].includes(key)) missing.push(`${path}.${key}`);
        walk(child, `${path}.${key}`);
      }
    };
    walk(detectorsConfigSchema as unknown as Record<string, unknown>, 'detectors');
    expect(missing).toEqual([]);
  });
});

describe('detectors.state', () => {
  const memoryCounters: CountersConfig = { store: 'memory', onFailure: 'closed', keyPrefix: 'rampart:', timeoutMs: 500, lease: undefined };
  const redisCounters: CountersConfig = { store: 'redis://:secret@cache.internal:6380/2', onFailure: 'local', keyPrefix: 'acme:', timeoutMs: 250, lease: undefined };
  const parse = (state: unknown): DetectorsConfig => {
    const parsed = parseDetectorsConfig({ state });
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    return parsed.config;
  };

  it('defaults to memory', () => {
    const parsed = parseDetectorsConfig({});
    expect(parsed.ok && parsed.config.state).toBe('memory');
    expect(resolveDetectorsState(undefined, redisCounters)).toEqual({ store: 'memory' });
    expect(resolveDetectorsState('memory', redisCounters)).toEqual({ store: 'memory' });
  });

  it('`redis` reuses the Redis of counters.store, with its key prefix and timeout', () => {
    expect(resolveDetectorsState(parse('redis').state, redisCounters)).toEqual({
      store: 'redis',
      url: 'redis://:secret@cache.internal:6380/2',
      keyPrefix: 'acme:',
      syncIntervalMs: 500,
      timeoutMs: 250,
    });
    expect(resolveDetectorsState(parse({ redis: {} }).state, redisCounters)).toMatchObject({ url: redisCounters.store, keyPrefix: 'acme:' });
  });

  it('its own url, prefix, interval and timeout win over the counters section', () => {
    const state = parse({ redis: { url: 'rediss://other:6379', keyPrefix: 'det:', syncInterval: '250ms', timeout: '1s' } }).state;
    expect(resolveDetectorsState(state, redisCounters)).toEqual({ store: 'redis', url: 'rediss://other:6379', keyPrefix: 'det:', syncIntervalMs: 250, timeoutMs: 1000 });
    expect(resolveDetectorsState(state, undefined)).toMatchObject({ url: 'rediss://other:6379', keyPrefix: 'det:' });
    expect(resolveDetectorsState(parse({ redis: { url: 'redis://h' } }).state, undefined)).toMatchObject({ keyPrefix: 'rampart:', timeoutMs: 500 });
  });

  it('`redis` without a Redis to name is a config error, and AnomalyDetection refuses it', () => {
    const config = parse('redis');
    const message = 'detectors.state: Redis without a url needs counters.store to be a Redis URL (or give detectors.state.redis.url)';
    expect(resolveDetectorsState(config.state, memoryCounters)).toBe(message);
    expect(resolveDetectorsState(config.state, undefined)).toBe(message);
    expect(checkDetectorsConfig(config, memoryCounters)).toEqual([message]);
    expect(checkDetectorsConfig(config, redisCounters)).toEqual([]);
    expect(() => new AnomalyDetection(config, { clock: () => 0, sink: new RecordingSecurityEvents() })).toThrow(message);
  });

  it.each([
    ['another store name', 'postgres', 'detectors.state'],
    ['an http url', { redis: { url: 'http://cache:6379' } }, 'detectors.state'],
    ['a url with a space', { redis: { url: 'redis://a b' } }, 'detectors.state'],
    ['an unknown setting', { redis: { host: 'cache' } }, 'detectors.state'],
    ['a key prefix with a space', { redis: { keyPrefix: 'a b' } }, 'detectors.state'],
    ['a key prefix with a glob', { redis: { keyPrefix: 'a*' } }, 'detectors.state'],
    ['a 10 ms sync interval', { redis: { syncInterval: '10ms' } }, 'detectors.state.redis.syncInterval: must be between 50ms and 10s'],
    ['a one-minute sync interval', { redis: { syncInterval: '1m' } }, 'detectors.state.redis.syncInterval: must be between 50ms and 10s'],
    ['a zero timeout', { redis: { timeout: 0 } }, 'detectors.state.redis.timeout: must be at least 1ms'],
    ['redis beside other keys', { redis: {}, memory: true }, 'detectors.state'],
  ])('refuses %s', (_name, state, path) => {
    const parsed = parseDetectorsConfig({ state });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errors.some((e) => e.startsWith(path)), parsed.errors.join('; ')).toBe(true);
  });
});
