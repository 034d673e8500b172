/**
 * The cool-down of `contract.response-undeclared` (index.ts): one event per operation, status and severity per
 * `RESPONSE_EVENT_COOLDOWN_MS`, the repeats counted into the next event's `details.suppressed`. Driven through the
 * policy's own handlers with the conformance document and a clock the test moves (the gateway-level behaviour is in
 * test/contract-response-events.e2e.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import { CONTINUE, type PolicyHandlers, type RequestContext, type UpstreamBodyView } from '../types.ts';
import { RESPONSE_EVENT_COOLDOWN_MS, createContractHandlers } from './index.ts';
import type { ContractConfig } from './schema.ts';

const SPEC = fileURLToPath(new URL('../../../test/fixtures/contract/conformance-3.1.yaml', import.meta.url));

const config = {
  openapi: SPEC,
  undeclared: {},
  responses: {},
  passthroughUnknownOperations: false,
  maxBodySize: '1mb',
  maxDepth: 32,
  multipart: { maxParts: 20, maxPartSize: '1mb' },
  operations: {},
} as ContractConfig;

function context(path: string, n: number): RequestContext {
  return {
    req: { headers: {} },
    requestId: `req-${n}`,
    method: 'GET',
    path,
    query: '',
    clientAddress: '192.0.2.1',
    secure: false,
    routeId: 'users',
    params: {},
    principal: undefined,
    responseHeaders: [],
    locals: {},
  } as unknown as RequestContext;
}

/** An upstream answer as the gateway hands it to body policies (already parsed). */
function answer(status: number, value: Record<string, unknown>): UpstreamBodyView & { sent: () => unknown } {
  let json: unknown = value;
  return {
    status,
    headers: { 'content-type': 'application/json' },
    mediaType: 'application/json',
    raw: Buffer.from(JSON.stringify(value)),
    get json() {
      return json;
    },
    setJson(next: unknown) {
      json = next;
    },
    sent: () => json,
  };
}

async function setup() {
  let clock = 1_000;
  const events = new RecordingSecurityEvents();
  const deps = { logger: pino({ level: 'silent' }), events, routeId: 'users', development: true, shared: { get: <T,>(_k: string, c: () => T) => c() } };
  const handlers: PolicyHandlers = await createContractHandlers(config, deps as never, { now: () => clock });
  let n = 0;
  const respond = async (path: string, status: number, value: Record<string, unknown>) => {
    const ctx = context(path, ++n);
    expect(await handlers.onRequest!(ctx)).toBe(CONTINUE);
    const view = answer(status, value);
    expect(handlers.onResponseBody!(ctx, view)).toBe(CONTINUE);
    return view.sent();
  };
  const undeclared = () => events.events.filter((e) => e.type === 'contract.response-undeclared');
  return { respond, undeclared, advance: (ms: number) => (clock += ms) };
}

const leaky = { id: 7, email: 'bob@example.com', displayName: 'Bob', passwordHash: '$argon2id$v=19$x' };

describe('contract: response event cool-down', () => {
  it('emits the first occurrence, counts the repeats, and reports them with the next event after the cool-down', async () => {
    const { respond, undeclared, advance } = await setup();
    for (let i = 0; i < 5; i++) {
      expect(await respond('/users/7', 200, { ...leaky })).toEqual({ id: 7, email: 'bob@example.com', displayName: 'Bob' });
      advance(1_000);
    }
    expect(undeclared().map((e) => e.details)).toEqual([{ operation: 'getUser', status: 200, undeclared: ['/passwordHash'], removed: 1, mode: 'remove' }]);
    advance(RESPONSE_EVENT_COOLDOWN_MS);
    await respond('/users/7', 200, { ...leaky });
    expect(undeclared()).toHaveLength(2);
    expect(undeclared()[1]!.details).toMatchObject({ operation: 'getUser', status: 200, suppressed: 4 });
    expect(undeclared()[1]!.requestId).toBe('req-6');
  });

  it('keeps separate cool-downs per operation and status', async () => {
    const { respond, undeclared } = await setup();
    await respond('/users/7', 200, { ...leaky });
    await respond('/users/7', 200, { ...leaky });
    await respond('/users/7', 203, { ...leaky });
    await respond('/orders/summary', 200, { count: 1, total: 99 });
    await respond('/orders/summary', 200, { count: 1, total: 99 });
    expect(undeclared().map((e) => [e.details?.operation, e.details?.status, e.details?.undeclared])).toEqual([
      ['getUser', 200, ['/passwordHash']],
      ['getUser', 203, ['/id', '/email', '/displayName', '/passwordHash']],
      ['orderSummary', 200, ['/total']],
    ]);
  });

  it('a conforming answer raises nothing and is left as it is', async () => {
    const { respond, undeclared } = await setup();
    const clean = { id: 7, email: 'bob@example.com', displayName: 'Bob' };
    expect(await respond('/users/7', 200, clean)).toBe(clean);
    expect(undeclared()).toEqual([]);
  });
});
