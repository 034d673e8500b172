import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { detectorsConfigSchema, parseDetectorsConfig } from './schema.ts';
import { DETECTOR_NAMES } from './types.ts';

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
