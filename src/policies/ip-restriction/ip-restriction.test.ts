import { SharedResourcePool } from '../../gateway/runtime.ts';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, PROBLEM_CONTENT_TYPE, problemBody } from '../../errors/catalogue.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import type { Outcome, PolicyHandlers, RequestContext, RouteInfo } from '../types.ts';
import { ipRestrictionPolicy, parseAddressEntry, type IpRestrictionConfig } from './index.ts';

const ajv = new Ajv({ strict: true, useDefaults: true });
const validateConfig = ajv.compile(ipRestrictionPolicy.schema);
const route: RouteInfo = { id: 'admin', public: false, methods: undefined, tls: true };

function configOf(input: Record<string, unknown>): IpRestrictionConfig {
  const copy = structuredClone(input);
  if (!validateConfig(copy)) throw new Error(`invalid test config: ${ajv.errorsText(validateConfig.errors)}`);
  return copy as unknown as IpRestrictionConfig;
}

function build(input: Record<string, unknown>, events = new RecordingSecurityEvents()): PolicyHandlers {
  return ipRestrictionPolicy.create(configOf(input), {
    logger: pino({ level: 'silent' }),
    events,
    routeId: 'admin',
    development: false,
    shared: new SharedResourcePool(),
  }) as PolicyHandlers;
}

function contextFor(clientAddress: string, req = { headers: {} } as IncomingMessage): RequestContext {
  return {
    req,
    requestId: 'req-3',
    method: 'GET',
    path: '/admin',
    query: '',
    clientAddress,
    secure: true,
    routeId: 'admin',
    params: {},
    principal: undefined,
    responseHeaders: [],
    locals: {},
  };
}

const LISTS = {
  /** Private networks only, with one host carved out. */
  internal: { allow: ['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8', '127.0.0.1'], deny: ['10.66.0.0/16', '10.1.2.3'] },
  /** Block two networks, allow the rest. */
  blocklist: { deny: ['203.0.113.0/24', '2001:db8:bad::/48'] },
  /** An allow list in IPv4-mapped IPv6 notation. */
  mappedAllow: { allow: ['::ffff:10.0.0.0/104'] },
  /** Only IPv6. */
  v6only: { allow: ['2001:db8::/32'] },
} satisfies Record<string, Record<string, unknown>>;

const TABLE: Array<[list: keyof typeof LISTS, address: string, allowed: boolean]> = [
  ['internal', '10.0.0.1', true],
  ['internal', '10.255.255.255', true],
  ['internal', '11.0.0.1', false],
  ['internal', '9.255.255.255', false],
  ['internal', '192.168.1.10', true],
  ['internal', '192.169.0.1', false],
  ['internal', '127.0.0.1', true],
  ['internal', '127.0.0.2', false],
  ['internal', '10.66.1.1', false], // deny wins over the wider allow
  ['internal', '10.1.2.3', false],
  ['internal', '10.1.2.4', true],
  ['internal', '::ffff:10.0.0.1', true], // dual-stack listener form of an IPv4 peer
  ['internal', '::ffff:a00:1', true], // the same, hex notation
  ['internal', '::FFFF:10.0.0.1', true],
  ['internal', '::ffff:10.66.0.9', false], // mapped form cannot dodge the deny list
  ['internal', '::ffff:10.1.2.3', false],
  ['internal', '::ffff:11.0.0.1', false],
  ['internal', '::10.0.0.1', false], // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1) is not IPv4-mapped
  ['internal', 'fd12:3456::1', true],
  ['internal', 'fe80::1%eth0', false],
  ['internal', '::1', false],
  ['internal', 'not-an-address', false], // fail closed
  ['internal', '', false],
  ['internal', '10.0.0.1.evil', false],
  ['blocklist', '203.0.113.9', false],
  ['blocklist', '::ffff:203.0.113.9', false],
  ['blocklist', '203.0.114.1', true],
  ['blocklist', '2001:db8:bad:1::1', false],
  ['blocklist', '2001:DB8:BAD::1', false],
  ['blocklist', '2001:db8:bad0::1', true],
  ['blocklist', '198.51.100.1', true],
  ['blocklist', 'garbage', false], // fail closed even with a deny-only list
  ['mappedAllow', '10.9.8.7', true], // IPv4 peer against a mapped IPv6 rule
  ['mappedAllow', '::ffff:10.9.8.7', true],
  ['mappedAllow', '11.0.0.1', false],
  ['v6only', '2001:db8::1', true],
  ['v6only', '2001:db9::1', false],
  ['v6only', '10.0.0.1', false],
  ['v6only', 'fe80::1%25eth0', false],
];

describe('ip-restriction: address table', () => {
  it.each(TABLE)('%s: %s → allowed %s', (list, address, allowed) => {
    const events = new RecordingSecurityEvents();
    const outcome = build(LISTS[list], events).onRequest!(contextFor(address)) as Outcome;
    if (allowed) {
      expect(outcome).toBeUndefined();
      expect(events.events).toEqual([]);
    } else {
      expect(outcome).toMatchObject({ kind: 'problem', code: 'RAMPART_ERR_ADDRESS_DENIED' });
      expect(events.events).toMatchObject([{ type: 'address.denied', severity: 'low', routeId: 'admin', clientAddress: address }]);
    }
  });

  it('ignores the zone id of a link-local client address when matching', () => {
    const handlers = build({ allow: ['fe80::/10'] });
    expect(handlers.onRequest!(contextFor('fe80::1%eth0'))).toBeUndefined();
  });

  it('lets an IPv6 ::/0 rule cover IPv4 clients too (they are ::ffff:0:0/96 inside it)', () => {
    expect(build({ deny: ['::/0'] }).onRequest!(contextFor('192.0.2.1'))).toMatchObject({ kind: 'problem' });
    expect(build({ deny: ['0.0.0.0/0'] }).onRequest!(contextFor('2001:db8::1'))).toBeUndefined();
  });
});

describe('ip-restriction: configuration', () => {
  it('requires at least one non-empty list in the schema and in create()', () => {
    expect(validateConfig({})).toBe(false);
    expect(validateConfig({ allow: [], deny: [] })).toBe(false);
    expect(validateConfig({ allow: ['10.0.0.0/8'] })).toBe(true);
    expect(validateConfig({ deny: ['10.0.0.0/8'], other: 1 })).toBe(false);
    expect(() =>
      ipRestrictionPolicy.create({ allow: [], deny: [] }, { logger: pino({ level: 'silent' }), events: new RecordingSecurityEvents(), routeId: 'x', development: false, shared: new SharedResourcePool() }),
    ).toThrow(/both empty/);
  });

  it('documents every property with a default', () => {
    const properties = (ipRestrictionPolicy.schema as { properties: Record<string, Record<string, unknown>> }).properties;
    for (const [name, property] of Object.entries(properties)) {
      expect(property.description, name).toBeTypeOf('string');
      expect(property, name).toHaveProperty('default');
    }
  });

  it('declares its place in the pipeline', () => {
    expect(ipRestrictionPolicy).toMatchObject({ name: 'ip-restriction', phase: 'edge', order: 5 });
  });

  it.each([
    ['10.0.0.0/8', { ok: true, address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
    ['192.0.2.7', { ok: true, address: '192.0.2.7', prefix: 32, family: 'ipv4' }],
    ['10.1.2.3/8', { ok: true, address: '10.0.0.0', prefix: 8, family: 'ipv4', maskedFrom: '10.1.2.3' }],
    ['2001:db8::1/32', { ok: true, address: '2001:db8::', prefix: 32, family: 'ipv6', maskedFrom: '2001:db8::1' }],
    ['::ffff:10.1.2.3/104', { ok: true, address: '::ffff:a00:0', prefix: 104, family: 'ipv6', maskedFrom: '::ffff:10.1.2.3' }],
    ['2001:db8::', { ok: true, address: '2001:db8::', prefix: 128, family: 'ipv6' }],
  ])('parses %s', (value, expected) => {
    expect(parseAddressEntry(value)).toEqual(expected);
  });
});

const CHECKS: Array<[name: string, config: Record<string, unknown>, issues: Array<[path: string, kind: 'error' | 'warning', fragment: string]>]> = [
  ['valid lists', LISTS.internal, []],
  ['IPv4 prefix out of range', { allow: ['10.0.0.0/8', '10.0.0.0/33'] }, [['allow[1]', 'error', 'out of range']]],
  ['IPv6 prefix out of range', { deny: ['2001:db8::/129'] }, [['deny[0]', 'error', 'out of range']]],
  ['negative prefix', { deny: ['10.0.0.0/-1'] }, [['deny[0]', 'error', 'not a number']]],
  ['empty prefix', { deny: ['10.0.0.0/'] }, [['deny[0]', 'error', 'not a number']]],
  ['two slashes', { deny: ['10.0.0.0/8/8'] }, [['deny[0]', 'error', 'more than one']]],
  ['host name', { allow: ['localhost'] }, [['allow[0]', 'error', 'not an IPv4 or IPv6 address']]],
  ['IPv4 with a leading zero (octal ambiguity)', { allow: ['010.0.0.1'] }, [['allow[0]', 'error', 'not an IPv4']]],
  ['IPv4 with too many octets', { allow: ['10.0.0.0.1/8'] }, [['allow[0]', 'error', 'not an IPv4']]],
  ['zone id', { allow: ['fe80::1%eth0'] }, [['allow[0]', 'error', 'zone']]],
  ['whitespace', { allow: [' 10.0.0.0/8'] }, [['allow[0]', 'error', 'not an IPv4']]],
  ['host bits set', { allow: ['10.1.2.3/8'] }, [['allow[0]', 'warning', '10.0.0.0/8']]],
  ['everything', { deny: ['0.0.0.0/0'] }, [['deny[0]', 'warning', 'every IPv4 address']]],
  ['allowed and denied at once', { allow: ['10.0.0.0/8'], deny: ['10.0.0.0/8'] }, [['deny[0]', 'warning', 'allow[0]']]],
  ['the same range written differently', { allow: ['10.0.0.0/8'], deny: ['10.9.9.9/8'] }, [['deny[0]', 'warning', 'host bits'], ['deny[0]', 'warning', 'allow[0]']]],
];

describe('ip-restriction: check', () => {
  it.each(CHECKS)('%s', (_name, config, expected) => {
    const found = ipRestrictionPolicy.check!(configOf(config), 'routes[4].ip-restriction', route);
    expect(found.map((issue) => `${issue.path}: ${issue.message}`)).toHaveLength(expected.length);
    expected.forEach(([path, kind, fragment], index) => {
      const issue = found[index]!;
      expect(issue.path).toBe(`routes[4].ip-restriction.${path}`);
      expect(issue.rule).toBeUndefined();
      expect(issue.severity ?? 'error').toBe(kind);
      expect(issue.message).toContain(fragment);
    });
  });

  it('reports an empty policy that slipped past the schema', () => {
    expect(ipRestrictionPolicy.check!({ allow: [], deny: [] }, 'routes[0].ip-restriction', route)).toMatchObject([
      { path: 'routes[0].ip-restriction', message: expect.stringContaining('at least one entry') },
    ]);
  });
});

describe('ip-restriction on a real server', () => {
  let server: Server;
  let port: number;

  /** Starts a server whose stand-in gateway answers problems like the real one; the socket peer is the client address. */
  async function start(config: Record<string, unknown>): Promise<void> {
    const handlers = build(config);
    server = createServer((req, res) => {
      const ctx = contextFor(req.socket.remoteAddress ?? '', req);
      const outcome = handlers.onRequest!(ctx) as Outcome;
      if (outcome !== undefined && typeof outcome !== 'symbol' && outcome.kind === 'problem') {
        res.writeHead(ERRORS[outcome.code].status, { 'content-type': PROBLEM_CONTENT_TYPE }).end(problemBody(outcome.code, ctx.requestId));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('upstream');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }

  async function stop(): Promise<void> {
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  }

  function get(): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/admin', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
        .on('error', reject)
        .end();
    });
  }

  describe('with loopback allowed', () => {
    beforeAll(() => start({ allow: ['127.0.0.0/8'] }));
    afterAll(stop);
    it('lets the loopback client through', async () => {
      expect(await get()).toEqual({ status: 200, body: 'upstream' });
    });
  });

  describe('with loopback denied', () => {
    beforeAll(() => start({ allow: ['127.0.0.0/8'], deny: ['127.0.0.1'] }));
    afterAll(stop);
    it('answers 403 with the address-denied problem', async () => {
      const answer = await get();
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'RAMPART_ERR_ADDRESS_DENIED', status: 403, title: 'Forbidden' });
    });
  });
});
