/**
 * Injection (checklist item 4): SQL, NoSQL, OS command, path traversal and SSRF to loopback, in query and path
 * parameters (and in JSON body properties of write operations with `allowWrites`).
 *
 * Detection:
 * - error signatures (signatures.ts) that the operation's normal answer does not contain (differential, so an API
 *   that always mentions "SQL" in its documentation strings is not reported);
 * - time delays: a sleep payload is sent once per parameter; when the answer is slower than the baseline by most of
 *   the delay, the payload and a zero-second control are each sent three times, and the finding needs the delay in
 *   at least two of the three (load spikes do not repeat on cue);
 * - SSRF: the URL of a loopback canary (canary.ts) with a token unique to the parameter; the finding needs the
 *   canary to be fetched with that token (the target must run on the scanning host: CI, a local staging copy).
 */
import { jsonBody, type Exchange } from '../client.ts';
import { bump, isSuccess, paramSample, ran, report, sendOperation, usualPrincipal, type ScanContext } from '../context.ts';
import type { ParameterModel } from '../../../openapi/model.ts';
import { isObject } from '../../../openapi/pointer.ts';
import { objectShape, resolveSchema, typesOf } from '../../../openapi/schema-info.ts';
import type { ScanOperation } from '../plan.ts';
import { DYNAMIC_RULES as R } from '../rules.ts';
import { findNoSqlError, findShellError, findSqlError, findSystemFile, nameWords } from '../signatures.ts';
import type { Canary } from './canary.ts';

/** Where a payload goes: a query or path parameter, or a top-level property of a JSON body. */
export type InjectionPoint =
  | { readonly kind: 'param'; readonly param: ParameterModel }
  | { readonly kind: 'body'; readonly property: string; readonly body: Record<string, unknown> };

function pointName(point: InjectionPoint): string {
  return point.kind === 'param' ? `${point.param.in} parameter ${point.param.name}` : `body property ${point.property}`;
}

function pointKey(op: ScanOperation, point: InjectionPoint): string {
  return `${op.key}:${point.kind === 'param' ? `${point.param.in}.${point.param.name}` : `body.${point.property}`}`;
}

const URL_WORDS = new Set(['url', 'uri', 'link', 'href', 'callback', 'webhook', 'endpoint', 'feed', 'redirect', 'src', 'source', 'target', 'image', 'avatar', 'icon', 'dest', 'destination', 'host']);

/** Whether a value is probably fetched by the service (name or format says URL). */
function urlLike(name: string, schema: unknown): boolean {
  if (isObject(schema) && (schema.format === 'uri' || schema.format === 'url' || schema.format === 'iri')) return true;
  return nameWords(name).some((w) => URL_WORDS.has(w) && w !== 'host' && w !== 'source' && w !== 'target');
}

/** String-valued parameters without an enum: where text payloads can go. */
export function injectableParams(ctx: ScanContext, op: ScanOperation): ParameterModel[] {
  const plan = ctx.plan;
  if (!plan) return [];
  return op.model.parameters.filter((p) => {
    if (p.in !== 'query' && p.in !== 'path') return false;
    // A parameter whose value is a serialised JSON document (`content: application/json`) is text on the wire.
    if (!p.schema || (p.contentType !== undefined && /json/i.test(p.contentType))) return true;
    const { value: schema, pointer } = resolveSchema(plan.model.document, p.schema.schema, p.schema.pointer);
    if (isObject(schema) && Array.isArray(schema.enum)) return false;
    const types = typesOf(plan.model.document, plan.model.version, schema, pointer);
    return types.size === 0 || types.has('string');
  });
}

/** String-valued top-level properties of a JSON body sample. */
export function injectableProperties(ctx: ScanContext, op: ScanOperation, body: Record<string, unknown>): string[] {
  const plan = ctx.plan;
  if (!plan || !op.jsonRequest) return [];
  const shape = objectShape(plan.model.document, op.jsonRequest.schema, op.jsonRequest.pointer);
  return Object.keys(body).filter((name) => {
    const declared = shape.properties.get(name);
    if (!declared) return false;
    const { value: schema } = resolveSchema(plan.model.document, declared.value, declared.pointer);
    return !(isObject(schema) && Array.isArray(schema.enum)) && typeof body[name] === 'string';
  });
}

interface Sent {
  readonly exchange: Exchange;
}

async function sendWith(ctx: ScanContext, op: ScanOperation, point: InjectionPoint, value: unknown, purpose: string, rawName?: string): Promise<Sent> {
  const principal = usualPrincipal(ctx, op);
  const idsOf = [`${principal}:created`, principal];
  if (point.kind === 'body') {
    const body = JSON.stringify({ ...point.body, [point.property]: value });
    return { exchange: await sendOperation(ctx, op, principal, { idsOf, body, purpose }) };
  }
  const param = point.param;
  if (param.in === 'path') return { exchange: await sendOperation(ctx, op, principal, { idsOf, params: { [param.name]: String(value) }, purpose }) };
  if (rawName !== undefined) {
    // Parameter-name payloads (`name[$ne]=x`, as qs and PHP parse them) replace the parameter.
    return { exchange: await sendOperation(ctx, op, principal, { idsOf, rawQuery: `${encodeURIComponent(rawName).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${encodeURIComponent(String(value))}`, omitQuery: [param.name], purpose }) };
  }
  return { exchange: await sendOperation(ctx, op, principal, { idsOf, query: { [param.name]: String(value) }, purpose }) };
}

function normalValue(ctx: ScanContext, point: InjectionPoint): string {
  if (point.kind === 'body') return String(point.body[point.property] ?? 'rampart');
  return paramSample(ctx, point.param);
}

/** Error-based, timing-based and SSRF probes for one injection point. */
export async function probeInjection(
  ctx: ScanContext,
  op: ScanOperation,
  point: InjectionPoint,
  base: Exchange | undefined,
  canary: Canary | undefined,
  options: { readonly timing?: boolean } = {},
): Promise<void> {
  ran(ctx, R.sqlInjection, R.nosqlInjection, R.commandInjection, R.pathTraversal);
  const normal = normalValue(ctx, point);
  const group = pointKey(op, point);
  const where = `${op.method} ${op.template}, ${pointName(point)}`;
  const baseBody = base?.body ?? '';

  // SQL: a lone quote breaks a query built by string concatenation.
  if (!findSqlError(baseBody)) {
    for (const payload of [`${normal}'`, `${normal}"`]) {
      const { exchange } = await sendWith(ctx, op, point, payload, 'injection');
      const match = findSqlError(exchange.body);
      if (match) {
        report(ctx, R.sqlInjection, exchange, `${where}: a quote causes a ${match.kind} error`, group, `matched: ${match.text}`);
        break;
      }
    }
  }

  // NoSQL: an operator object where a scalar is expected; as a parameter name for query parameters.
  if (!findNoSqlError(baseBody)) {
    const attempts: Array<() => Promise<Sent>> = [
      () => sendWith(ctx, op, point, point.kind === 'body' ? { $rampart: 1 } : '{"$rampart":1}', 'injection'),
    ];
    if (point.kind === 'param' && point.param.in === 'query') attempts.push(() => sendWith(ctx, op, point, normal, 'injection', `${point.param.name}[$rampart]`));
    for (const attempt of attempts) {
      const { exchange } = await attempt();
      const match = findNoSqlError(exchange.body);
      if (match) {
        report(ctx, R.nosqlInjection, exchange, `${where}: a query operator reaches the ${match.kind} query`, group, `matched: ${match.text}`);
        break;
      }
    }
  }

  // OS command, error-based: a command that does not exist makes the shell complain.
  let commandFound = false;
  if (!findShellError(baseBody)) {
    const { exchange } = await sendWith(ctx, op, point, `${normal};rampartprobe${op.key.length}`, 'injection');
    const match = findShellError(exchange.body);
    if (match) {
      report(ctx, R.commandInjection, exchange, `${where}: shell metacharacters run a command (${match.kind} error)`, group, `matched: ${match.text}`);
      commandFound = true;
    }
  }

  // Path traversal: the same file every system has, through enough `../` to reach the root.
  if (point.kind === 'param' && !findSystemFile(baseBody)) {
    for (const payload of ['../../../../../../../../../../etc/passwd', '..\\..\\..\\..\\..\\..\\..\\..\\windows\\win.ini']) {
      const { exchange } = await sendWith(ctx, op, point, payload, 'injection');
      const match = findSystemFile(exchange.body);
      if (match) {
        report(ctx, R.pathTraversal, exchange, `${where}: ../ sequences read ${match.kind}`, group);
        break;
      }
    }
  }

  // SSRF to loopback.
  const name = point.kind === 'param' ? point.param.name : point.property;
  const schema = point.kind === 'param' ? point.param.schema?.schema : undefined;
  if (canary && urlLike(name, schema)) {
    ran(ctx, R.ssrf);
    const token = canary.token(group);
    const { exchange } = await sendWith(ctx, op, point, canary.url(token), 'injection');
    canary.sent(token, exchange, where);
    if (canary.hit(token) || exchange.body.includes(canary.marker(token))) {
      report(ctx, R.ssrf, exchange, `${where}: the service fetched a loopback URL given in the request`, group, 'the scanner\'s loopback canary received the request');
      canary.reported(token);
    }
  }

  // Timing: SQL sleeps for the common databases, and shell sleeps.
  const delay = ctx.tuning.timingDelaySeconds;
  if (options.timing === false || delay <= 0 || (base && !isSuccess(base) && base.status >= 500)) return;
  const wait = Math.max(1, Math.ceil(delay));
  const sqlTiming: Array<(s: number) => string> = [
    (s) => `${normal}' AND SLEEP(${s}) AND '1'='1`,
    (s) => `${normal}'||pg_sleep(${s})||'`,
    (s) => `${normal}'; WAITFOR DELAY '0:0:${s === 0 ? 0 : wait}'--`,
  ];
  const commandTiming: Array<(s: number) => string> = [
    (s) => `${normal};sleep ${s}`,
    (s) => `${normal}|sleep ${s}`,
    (s) => `${normal}$(sleep ${s})`,
    (s) => `${normal}\`sleep ${s}\``,
  ];
  if (!ctx.collector.has(R.sqlInjection.id, group)) {
    for (const make of sqlTiming) if (await timed(ctx, op, point, make, base, R.sqlInjection, where, group, 'SQL sleep')) break;
  }
  if (!commandFound) {
    for (const make of commandTiming) if (await timed(ctx, op, point, make, base, R.commandInjection, where, group, 'shell sleep')) break;
  }
}

/**
 * One sleep payload: a screening request compared with the operation's normal answer; only when it was slow, three
 * zero-delay controls and three payloads, and the delay must show in two of the three against the slowest control.
 */
async function timed(
  ctx: ScanContext,
  op: ScanOperation,
  point: InjectionPoint,
  make: (seconds: number) => string,
  base: Exchange | undefined,
  rule: typeof R.sqlInjection,
  where: string,
  group: string,
  label: string,
): Promise<boolean> {
  const delay = ctx.tuning.timingDelaySeconds;
  const delayMs = delay * 1000;
  const screen = await sendWith(ctx, op, point, make(delay), 'timing');
  if (screen.exchange.durationMs < (base?.durationMs ?? 0) + 0.8 * delayMs) return false;
  bump(ctx, 'timingConfirmations');
  const controls: number[] = [];
  for (let i = 0; i < 3; i++) controls.push((await sendWith(ctx, op, point, make(0), 'timing')).exchange.durationMs);
  const threshold = Math.max(...controls) + 0.8 * delayMs;
  let slow = 0;
  let last: Exchange = screen.exchange;
  for (let i = 0; i < 3; i++) {
    const repeat = await sendWith(ctx, op, point, make(delay), 'timing');
    last = repeat.exchange;
    if (repeat.exchange.durationMs >= threshold) slow++;
  }
  if (slow < 2) return false;
  report(ctx, rule, last, `${where}: an injected ${label} of ${delay} s delays the answer (${slow} of 3 repeats)`, group, `${slow} of 3 repeats took at least ${Math.round(threshold)} ms; zero-delay controls took at most ${Math.round(Math.max(...controls))} ms`);
  return true;
}

/** Values of the wrong type for typed parameters; 5xx means the value reached code that did not expect it. */
export async function probeWrongTypes(ctx: ScanContext, op: ScanOperation): Promise<void> {
  const plan = ctx.plan;
  if (!plan) return;
  ran(ctx, R.invalidInput5xx);
  const principal = usualPrincipal(ctx, op);
  for (const param of op.model.parameters) {
    if ((param.in !== 'query' && param.in !== 'path') || !param.schema) continue;
    const types = typesOf(plan.model.document, plan.model.version, param.schema.schema, param.schema.pointer);
    if (types.size === 0 || types.has('string') || !['integer', 'number', 'boolean'].some((t) => types.has(t))) continue;
    const value = 'rampart-not-a-number';
    const exchange =
      param.in === 'path'
        ? await sendOperation(ctx, op, principal, { params: { [param.name]: value }, purpose: 'validation' })
        : await sendOperation(ctx, op, principal, { query: { [param.name]: value }, purpose: 'validation' });
    if (exchange.status >= 500) {
      report(ctx, R.invalidInput5xx, exchange, `${op.method} ${op.template}: a non-numeric ${param.in} parameter ${param.name} causes ${exchange.status}`, op.key);
      return;
    }
  }
}

/** Wrong types, malformed JSON and an oversized body for a write operation with a JSON body. */
export async function probeBodyValidation(ctx: ScanContext, op: ScanOperation, body: Record<string, unknown>): Promise<void> {
  ran(ctx, R.invalidInput5xx);
  const principal = usualPrincipal(ctx, op);
  const idsOf = [`${principal}:created`, principal];
  const wrong: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) wrong[name] = typeof value === 'string' ? { rampart: [1] } : 'rampart-wrong-type';
  if (Array.isArray(body)) return;
  const oversized = { ...body };
  const target = Object.keys(body).find((name) => typeof body[name] === 'string') ?? 'rampartPadding';
  oversized[target] = 'A'.repeat(ctx.tuning.oversizedBytes);
  const cases: Array<[string, string]> = [
    ['values of the wrong type', JSON.stringify(wrong)],
    ['a malformed JSON body', '{"rampart": '],
    [`a ${Math.round(ctx.tuning.oversizedBytes / 1024)} KiB value in ${target}`, JSON.stringify(oversized)],
  ];
  for (const [what, text] of cases) {
    const exchange = await sendOperation(ctx, op, principal, { idsOf, body: text, purpose: 'validation' });
    if (exchange.status >= 500) {
      report(ctx, R.invalidInput5xx, exchange, `${op.method} ${op.template}: ${what} causes ${exchange.status}`, op.key);
      return;
    }
  }
}

/** The object a create answered with (for SSRF/async checks and discovery). */
export function createdObject(exchange: Exchange): Record<string, unknown> | undefined {
  const body = jsonBody(exchange);
  return isObject(body) ? body : undefined;
}
