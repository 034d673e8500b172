/**
 * The pii policy's response-body handlers, called directly with a body view like the gateway's (decoded bytes,
 * JSON parsed with the hardened parser, `setJson` to rewrite). End-to-end tests through a gateway: test/pii.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { pino } from 'pino';
import { parseStrictJson } from '../../gateway/body.ts';
import { SharedResourcePool } from '../../gateway/runtime.ts';
import { LoggingSecurityEvents, RecordingSecurityEvents } from '../../observe/events.ts';
import { PARSE_FAILED, type PolicyHandlers, type RequestContext, type UpstreamBodyView } from '../types.ts';
import { piiPolicy, type PiiConfig } from './index.ts';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, allowUnionTypes: true });
const validate = ajv.compile(piiPolicy.schema);

function issuesOf(raw: Record<string, unknown>) {
  const config = structuredClone(raw);
  if (!validate(config)) return [{ path: 'schema', message: ajv.errorsText(validate.errors) }];
  return piiPolicy.check!(config as unknown as PiiConfig, 'routes[0].pii', { id: 'r', public: true, methods: undefined, tls: false });
}

function build(raw: Record<string, unknown>) {
  const config = structuredClone(raw);
  if (!validate(config)) throw new Error(ajv.errorsText(validate.errors));
  const lines: string[] = [];
  // No pid, hostname or time in the lines: the tests look for fragments of detected values (`078`, `415`) in them,
  // which a process id or a timestamp could hold by chance.
  const logger = pino({ level: 'debug', base: undefined, timestamp: false }, { write: (line: string) => lines.push(line) });
  // As in the gateway, the events also go to the log (one line per event), so `lines` holds all the log output.
  const events = new RecordingSecurityEvents(new LoggingSecurityEvents(logger));
  const handlers = piiPolicy.create(config as unknown as PiiConfig, { logger, events, routeId: 'users', development: false, shared: new SharedResourcePool() }) as PolicyHandlers;
  return { handlers, events, lines };
}

/** A body view as the gateway builds it: the JSON is parsed by the same hardened parser. */
class View implements UpstreamBodyView {
  readonly status = 200;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly mediaType: string;
  readonly raw: Buffer;
  json: unknown;
  changed = false;
  constructor(mediaType: string, body: string) {
    this.mediaType = mediaType;
    this.headers = { 'content-type': mediaType };
    this.raw = Buffer.from(body);
    if (body.length > 0 && (mediaType === 'application/json' || mediaType.endsWith('+json'))) {
      try {
        this.json = parseStrictJson(body, 128);
      } catch {
        this.json = PARSE_FAILED;
      }
    }
  }
  setJson(value: unknown): void {
    this.json = value;
    this.changed = true;
  }
}

function ctx(method = 'GET'): RequestContext {
  return { req: { headers: {} } as RequestContext['req'], requestId: 'req-9', method, path: '/users/1', query: '', clientAddress: '127.0.0.1', secure: false, routeId: 'users', params: {}, principal: undefined, responseHeaders: [], locals: {} };
}

const BODY = { id: 1, name: 'Ann', email: 'ann@example.com', card: '4111 1111 1111 1111', cardNumber: 5555555555554444, phones: ['+1 415 555 2671'], note: 'ok' };
const VALUES = ['ann@example.com', '4111 1111 1111 1111', '5555555555554444', '415 555 2671'];

describe('pii policy', () => {
  it('has its place and defaults', () => {
    expect(piiPolicy).toMatchObject({ name: 'pii', phase: 'validate', order: 30 });
    const config: Record<string, unknown> = {};
    expect(validate(config)).toBe(true);
    expect(config).toEqual({ mode: 'mask', detectors: ['email', 'phone', 'card', 'iban', 'ssn', 'jwt', 'private-key', 'cloud-key'], allow: [], phoneRegions: ['US'] });
  });

  it.each([
    [{ mode: 'redact' }, 'schema'],
    [{ detectors: ['passport'] }, 'schema'],
    [{ phoneRegions: ['us'] }, 'schema'],
    [{ phoneRegions: ['XX'] }, 'routes[0].pii.phoneRegions[0]'],
    [{ allow: ['users[x].email'] }, 'routes[0].pii.allow[0]'],
    [{ allow: ['/'] }, 'routes[0].pii.allow[0]'],
  ])('refuses config %j at %s', (raw, path) => {
    expect(issuesOf(raw).map((i) => i.path)).toContain(path);
  });

  it('asks for every response body except HEAD', () => {
    const { handlers } = build({});
    expect(handlers.wantsResponseBody!(ctx('GET'))).toBe(true);
    expect(handlers.wantsResponseBody!(ctx('HEAD'))).toBe(false);
  });

  it('mask: rewrites the JSON (types kept), emits pii.detected without values', () => {
    const { handlers, events, lines } = build({ mode: 'mask' });
    const view = new View('application/json', JSON.stringify(BODY));
    expect(handlers.onResponseBody!(ctx(), view)).toBeUndefined();
    expect(view.changed).toBe(true);
    expect(view.json).toEqual({ ...BODY, email: 'a***@example.com', card: '**** **** **** 1111', cardNumber: 4444, phones: ['[redacted:phone]'] });
    expect(events.events).toEqual([
      {
        type: 'pii.detected',
        severity: 'high',
        requestId: 'req-9',
        routeId: 'users',
        clientAddress: '127.0.0.1',
        details: {
          action: 'masked',
          more: 0,
          findings: [
            { detector: 'email', location: '/email', part: 'value' },
            { detector: 'card', location: '/card', part: 'value' },
            { detector: 'card', location: '/cardNumber', part: 'value' },
            { detector: 'phone', location: '/phones/0', part: 'value' },
          ],
        },
      },
    ]);
    const everything = JSON.stringify(events.events) + lines.join('');
    for (const value of VALUES) expect(everything).not.toContain(value);
  });

  it('block: refuses with a generic 502 problem naming detector and location only', () => {
    const { handlers, events } = build({ mode: 'block' });
    const view = new View('application/json', JSON.stringify(BODY));
    const outcome = handlers.onResponseBody!(ctx(), view);
    expect(outcome).toEqual({ kind: 'problem', code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE', detail: 'pii: email at /email: response refused', headers: undefined });
    expect(view.changed).toBe(false);
    expect(events.events[0]!.details).toMatchObject({ action: 'blocked' });
  });

  it('log: passes the body on unchanged and records the event', () => {
    const { handlers, events } = build({ mode: 'log' });
    const view = new View('application/json', JSON.stringify(BODY));
    expect(handlers.onResponseBody!(ctx(), view)).toBeUndefined();
    expect(view.changed).toBe(false);
    expect(events.events[0]).toMatchObject({ type: 'pii.detected', severity: 'medium', details: { action: 'logged' } });
  });

  // An upstream map keyed by PII: the masked member name must not come back through the locations of the findings
  // below it, in the event, its log line or the block-mode problem detail (logged as "request answered with a
  // problem"). The locations name the key `*`.
  const KEYED = { contacts: { 'ann@example.com': { phone: '+1 415 555 2671', cards: ['4111 1111 1111 1111'] } }, '078-05-1120\n{"msg":"forged"}': { ok: true, n: 5555555555554444 } };
  const KEYED_VALUES = ['ann@', '415', '4111', '078', '5555', 'forged', 'example.com'];
  const KEYED_FINDINGS = [
    { detector: 'email', location: '/contacts', part: 'key' },
    { detector: 'phone', location: '/contacts/*/phone', part: 'value' },
    { detector: 'card', location: '/contacts/*/cards/0', part: 'value' },
    { detector: 'ssn', location: '', part: 'key' },
    { detector: 'card', location: '/*/n', part: 'value' },
  ];
  it.each([
    ['mask', 'masked', undefined],
    ['block', 'blocked', 'pii: email at /contacts (member name): response refused'],
    ['log', 'logged', undefined],
  ])('%s: a member name that is PII appears in no location, event, log line or problem', (mode, action, detail) => {
    const { handlers, events, lines } = build({ mode, phoneRegions: ['US'] });
    const view = new View('application/json', JSON.stringify(KEYED));
    const outcome = handlers.onResponseBody!(ctx(), view);
    expect(outcome).toEqual(detail === undefined ? undefined : { kind: 'problem', code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE', detail, headers: undefined });
    expect(events.events).toHaveLength(1);
    expect(events.events[0]!.details).toEqual({ action, more: 0, findings: KEYED_FINDINGS });
    expect(lines.some((line) => line.includes('security event pii.detected'))).toBe(true);
    const everything = JSON.stringify(events.events) + lines.join('') + JSON.stringify(outcome ?? null);
    for (const value of KEYED_VALUES) expect(everything).not.toContain(value);
    if (mode === 'mask') for (const value of KEYED_VALUES.slice(0, 5)) expect(JSON.stringify(view.json)).not.toContain(value);
  });

  it('honours the allow-list and the detector list', () => {
    const { handlers, events } = build({ allow: ['email', '/phones'], detectors: ['email', 'phone', 'ssn'] });
    const view = new View('application/json', JSON.stringify(BODY));
    expect(handlers.onResponseBody!(ctx(), view)).toBeUndefined();
    expect(view.changed).toBe(false); // emails and phones allowed; cards not detected by this list
    expect(events.events).toEqual([]);
  });

  it('leaves clean bodies, empty bodies and binary media types alone', () => {
    const { handlers, events } = build({ mode: 'block' });
    const clean = new View('application/json', '{"id":1,"items":[{"sku":"A-1","qty":2}],"total":"12.50"}');
    expect(handlers.onResponseBody!(ctx(), clean)).toBeUndefined();
    expect(handlers.onResponseBody!(ctx(), new View('application/json', ''))).toBeUndefined();
    expect(handlers.onResponseBody!(ctx(), new View('image/png', 'ann@example.com'))).toBeUndefined();
    expect(events.events).toEqual([]);
  });

  it('fails closed on JSON that does not parse, except in log mode', () => {
    for (const body of ['{"a":1,"a":2}', '{"email":"ann@example.com"', '{"__proto__":{}}']) {
      expect(build({ mode: 'mask' }).handlers.onResponseBody!(ctx(), new View('application/json', body))).toMatchObject({ code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE' });
      expect(build({ mode: 'block' }).handlers.onResponseBody!(ctx(), new View('application/json', body))).toMatchObject({ code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE' });
      expect(build({ mode: 'log' }).handlers.onResponseBody!(ctx(), new View('application/json', body))).toBeUndefined();
    }
  });

  it('scans text bodies; mask cannot rewrite them, so it refuses rather than leak', () => {
    const text = 'Dear Ann, your card 4111 1111 1111 1111 is on file.';
    const masked = build({ mode: 'mask' });
    expect(masked.handlers.onResponseBody!(ctx(), new View('text/plain', text))).toMatchObject({ code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE', detail: 'pii: card at (body): text/plain body cannot be masked, response refused' });
    expect(masked.events.events[0]!.details).toMatchObject({ action: 'blocked', findings: [{ detector: 'card', location: '', part: 'value' }] });
    expect(build({ mode: 'log' }).handlers.onResponseBody!(ctx(), new View('text/html', text))).toBeUndefined();
    expect(build({ mode: 'mask' }).handlers.onResponseBody!(ctx(), new View('text/plain', 'nothing here'))).toBeUndefined();
  });
});
