import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { alertsConfigSchema, parseAlertsConfig } from './schema.ts';

const SECRET = 'a'.repeat(32);
const ok = { webhook: 'https://hooks.example.com/rampart', secret: SECRET };

describe('alerts config', () => {
  it('fills the defaults and resolves durations', () => {
    const parsed = parseAlertsConfig([ok]);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.destinations).toEqual([
      {
        name: 'alerts[0]',
        webhook: 'https://hooks.example.com/rampart',
        secret: SECRET,
        minSeverity: 'medium',
        format: 'json',
        types: undefined,
        groupWindowMs: 60_000,
        repeatIntervalMs: 900_000,
        timeoutMs: 10_000,
        maxAttempts: 6,
        backoffInitialMs: 1000,
        backoffMaxMs: 300_000,
        concurrency: 2,
        queueSize: 1000,
        maxGroups: 1000,
        deadLetterMax: 1000,
        deadLetterFile: undefined,
      },
    ]);
  });

  it('takes the sketch form and an empty list', () => {
    expect(parseAlertsConfig([{ ...ok, minSeverity: 'medium' }]).ok).toBe(true);
    expect(parseAlertsConfig([]).ok).toBe(true);
    expect(parseAlertsConfig(undefined).ok).toBe(true);
  });

  it('allows plain http to loopback in production, and anywhere in development', () => {
    expect(parseAlertsConfig([{ ...ok, webhook: 'http://127.0.0.1:9000/hook' }]).ok).toBe(true);
    expect(parseAlertsConfig([{ ...ok, webhook: 'http://[::1]:9000/hook' }]).ok).toBe(true);
    expect(parseAlertsConfig([{ ...ok, webhook: 'http://hooks.internal/hook' }], 'development').ok).toBe(true);
  });

  it.each([
    ['no secret', { webhook: ok.webhook }, 'alerts[0].secret: is required'],
    ['short secret', { ...ok, secret: 'short' }, 'alerts[0].secret: must be at least 32 characters'],
    ['no webhook', { secret: SECRET }, 'alerts[0].webhook: is required'],
    ['ftp webhook', { ...ok, webhook: 'ftp://example.com/x' }, 'alerts[0].webhook: has an invalid format'],
    ['not a URL', { ...ok, webhook: 'https://' }, 'alerts[0].webhook: is not a URL'],
    ['plain http to a remote host', { ...ok, webhook: 'http://hooks.example.com/x' }, 'alerts[0].webhook: must be https in production'],
    ['credentials in the URL', { ...ok, webhook: 'https://user:pass@hooks.example.com/x' }, 'alerts[0].webhook: must not carry a user name or password'],
    ['unknown format', { ...ok, format: 'xml' }, 'alerts[0].format: must be one of'],
    ['unknown severity', { ...ok, minSeverity: 'urgent' }, 'alerts[0].minSeverity: must be one of'],
    ['bad type pattern', { ...ok, types: ['Anomaly.*'] }, 'alerts[0].types[0]: has an invalid format'],
    ['type with a wildcard in the middle', { ...ok, types: ['anomaly.*.x'] }, 'alerts[0].types[0]: has an invalid format'],
    ['empty type list', { ...ok, types: [] }, 'alerts[0].types'],
    ['attempts 0', { ...ok, maxAttempts: 0 }, 'alerts[0].maxAttempts'],
    ['attempts 100', { ...ok, maxAttempts: 100 }, 'alerts[0].maxAttempts'],
    ['timeout of 1 ms', { ...ok, timeout: 1 }, 'alerts[0].timeout: must be at least 100ms'],
    ['backoff max below initial', { ...ok, backoff: { initial: '10s', max: '1s' } }, 'alerts[0].backoff.max: must be at least backoff.initial'],
    ['queue of a million', { ...ok, queueSize: 1_000_000 }, 'alerts[0].queueSize'],
    ['unknown setting', { ...ok, retries: 3 }, 'alerts[0].retries: is not a known setting'],
    ['bad name', { ...ok, name: '../etc' }, 'alerts[0].name: has an invalid format'],
  ])('refuses %s', (_name, destination, message) => {
    const parsed = parseAlertsConfig([destination]);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errors.some((e) => e.startsWith(message))).toBe(true);
    // The secret never appears in an error message.
    expect(parsed.errors.join('\n')).not.toContain(SECRET);
  });

  it('refuses two destinations with one name, and more than 32 destinations', () => {
    const dup = parseAlertsConfig([
      { ...ok, name: 'ops' },
      { ...ok, name: 'ops' },
    ]);
    expect(dup.ok).toBe(false);
    if (!dup.ok) expect(dup.errors).toContain('alerts[1].name: "ops" is used by another destination');
    expect(parseAlertsConfig(Array.from({ length: 33 }, () => ok)).ok).toBe(false);
  });

  it('is not an object form', () => {
    expect(parseAlertsConfig({ webhook: ok.webhook, secret: SECRET }).ok).toBe(false);
  });

  it('is a valid JSON Schema', () => {
    expect(new Ajv({ strict: false }).validateSchema(alertsConfigSchema)).toBe(true);
  });
});
