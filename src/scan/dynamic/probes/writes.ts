/**
 * Probes that need write methods (only with `allowWrites`): each write operation is called once normally (creates
 * give the scan objects of its own), then with invalid bodies, injection payloads in body properties, without and
 * with forged credentials, as user B on user A's objects, as an ordinary user when administrative, and with
 * privileged properties added (mass assignment, checked by reading the object back). Deletes come last and only
 * touch objects the scan created.
 */
import { randomBytes } from 'node:crypto';
import { jsonBody, type Exchange } from '../client.ts';
import { bump, isSuccess, pathValues, ran, report, sampleBody, sendOperation, usualPrincipal, type ScanContext } from '../context.ts';
import { isObject } from '../../../openapi/pointer.ts';
import { objectShape, resolveSchema, typesOf } from '../../../openapi/schema-info.ts';
import { topLevelObjects } from '../discovery.ts';
import type { ScanOperation } from '../plan.ts';
import { evidenceOf, locationOf } from '../findings.ts';
import { DYNAMIC_RULES as R } from '../rules.ts';
import { nameWords } from '../signatures.ts';
import { byDepth, probeAuthentication, probeBfla, probeBola, remember } from './access.ts';
import type { Canary } from './canary.ts';
import { injectableProperties, probeBodyValidation, probeInjection } from './injection.ts';

export async function probeWrites(ctx: ScanContext, canary: Canary | undefined): Promise<void> {
  const plan = ctx.plan;
  if (!plan || !ctx.client.allowWrites) return;
  const writes = byDepth(plan.operations.filter((op) => !op.safe && op.method !== 'TRACE'));
  const rank = (op: ScanOperation): number => (op.method === 'POST' ? 0 : op.method === 'DELETE' ? 2 : 1);
  const ordered = [...writes].sort((a, b) => rank(a) - rank(b));
  for (const op of ordered) {
    ctx.phase = `writes: ${op.method} ${op.template}`;
    if (op.method === 'DELETE') await deleteProbes(ctx, op);
    else await writeProbes(ctx, op, canary);
  }
}

async function writeProbes(ctx: ScanContext, op: ScanOperation, canary: Canary | undefined): Promise<void> {
  const principal = usualPrincipal(ctx, op);
  const idsOf = [`${principal}:created`, principal];
  const sample = sampleBody(ctx, op);
  const text = sample === undefined ? undefined : JSON.stringify(sample);
  const normal = await sendOperation(ctx, op, principal, { idsOf, body: text, purpose: op.method === 'POST' ? 'create' : 'baseline' });
  ctx.baselines.set(op.key, normal);
  if (op.method === 'POST' && isSuccess(normal)) {
    remember(ctx, principal, op, normal);
    remember(ctx, `${principal}:created`, op, normal);
  }
  // Mass assignment first: later probes write hostile and oversized values that would spoil the read-back.
  if (isObject(sample)) await probeMassAssignment(ctx, op, sample);
  await probeAuthentication(ctx, op, text);
  await probeBfla(ctx, op, text);
  if (op.method !== 'POST') await probeBola(ctx, op, { body: text });
  if (isObject(sample)) {
    await probeBodyValidation(ctx, op, sample);
    for (const property of injectableProperties(ctx, op, sample)) {
      await probeInjection(ctx, op, { kind: 'body', property, body: sample }, normal, canary, { timing: false });
    }
  }
}

async function deleteProbes(ctx: ScanContext, op: ScanOperation): Promise<void> {
  const principal = usualPrincipal(ctx, op);
  const created = `${principal}:created`;
  const hasOwn = op.pathParams.length > 0 && op.pathParams.every((p) => ctx.discovery.valuesFor(created, op.template, p.name).length > 0);
  if (op.pathParams.length > 0 && !hasOwn) {
    // Never delete objects the scan did not create.
    bump(ctx, 'deletesSkippedNoOwnObject');
    return;
  }
  await probeBola(ctx, op, { createdOnly: true });
  await probeBfla(ctx, op);
  await probeAuthentication(ctx, op);
  const normal = await sendOperation(ctx, op, principal, { idsOf: [created], purpose: 'baseline' });
  ctx.baselines.set(op.key, normal);
}

const PRIVILEGED = /^(is_)?(admin|administrator|superuser|super_admin|root|staff)$|^(roles?|permissions?|privileges?|scopes?|groups?|authorities)$|^(is_)?(verified|approved|trusted)$|^email_verified$|^(account_)?balance$|^credits?$|^credit_limit$|^(price|discount|fee)$|^(owner|owner_id|user_id|tenant|tenant_id|org_id|organization_id)$|^(plan|tier|subscription|level|status)$/;

export function privilegedName(name: string): boolean {
  return PRIVILEGED.test(nameWords(name).join('_'));
}

const ESCALATING = /admin|root|super|owner|paid|approved|premium|enterprise|verified|unlimited|gold|platinum/i;

/** A value for a privileged property that differs from what the object holds. */
function injectedValue(ctx: ScanContext, name: string, schemaNode: unknown, pointer: string, before: unknown): unknown {
  const plan = ctx.plan!;
  const { value: schema, pointer: at } = resolveSchema(plan.model.document, schemaNode, pointer);
  const differs = (v: unknown): boolean => JSON.stringify(v) !== JSON.stringify(before);
  if (isObject(schema) && Array.isArray(schema.enum)) {
    const options = schema.enum.filter(differs);
    return options.find((v) => typeof v === 'string' && ESCALATING.test(v)) ?? options[0];
  }
  const types = typesOf(plan.model.document, plan.model.version, schema, at);
  if (types.has('boolean')) return before === true ? false : true;
  if (types.has('integer') || types.has('number')) return (typeof before === 'number' ? before : 0) + 31337;
  if (types.has('array')) {
    const items = isObject(schema) ? resolveSchema(plan.model.document, schema.items, `${at}/items`).value : undefined;
    const choices = isObject(items) && Array.isArray(items.enum) ? items.enum : ['admin'];
    return [choices.find((v) => typeof v === 'string' && ESCALATING.test(v)) ?? choices[0]];
  }
  if (nameWords(name).includes('role')) return 'admin';
  return `rampart-${randomBytes(4).toString('hex')}`;
}

/** The operation that reads what a write operation wrote. */
function readOperation(ctx: ScanContext, op: ScanOperation): ScanOperation | undefined {
  const operations = ctx.plan?.operations ?? [];
  if (op.method === 'PUT' || op.method === 'PATCH') return operations.find((o) => o.method === 'GET' && o.template === op.template);
  return operations.find((o) => {
    if (o.method !== 'GET' || !o.template.startsWith(`${op.template}/`)) return false;
    const rest = o.template.slice(op.template.length + 1);
    return /^\{[^{}/]+\}$/.test(rest);
  });
}

function objectOf(exchange: Exchange): Record<string, unknown> | undefined {
  const body = jsonBody(exchange);
  if (!isObject(body)) return undefined;
  return topLevelObjects(body).length === 1 ? (topLevelObjects(body)[0] as Record<string, unknown>) : body;
}

export async function probeMassAssignment(ctx: ScanContext, op: ScanOperation, sample: Record<string, unknown>): Promise<void> {
  const plan = ctx.plan;
  if (!plan || !op.jsonRequest || op.admin || !['POST', 'PUT', 'PATCH'].includes(op.method) || !ctx.credentials.has('userA')) return;
  const document = plan.model.document;
  const reader = readOperation(ctx, op);
  const readSchema = reader?.jsonResponse ?? op.jsonResponse;
  const requestShape = objectShape(document, op.jsonRequest.schema, op.jsonRequest.pointer);
  const candidates = new Map<string, { node: unknown; pointer: string }>();
  if (readSchema) {
    for (const [name, located] of objectShape(document, readSchema.schema, readSchema.pointer).properties) {
      const inRequest = requestShape.properties.get(name);
      const readOnly = inRequest && isObject(resolveSchema(document, inRequest.value, inRequest.pointer).value) && (resolveSchema(document, inRequest.value, inRequest.pointer).value as Record<string, unknown>).readOnly === true;
      if ((!inRequest || readOnly) && privilegedName(name)) candidates.set(name, { node: located.value, pointer: located.pointer });
    }
  }
  for (const [name, located] of requestShape.properties) {
    const schema = resolveSchema(document, located.value, located.pointer).value;
    if (isObject(schema) && schema.readOnly === true && privilegedName(name)) candidates.set(name, { node: located.value, pointer: located.pointer });
  }
  if (candidates.size === 0) return;
  ran(ctx, R.massAssignment);
  const values = pathValues(ctx, op, ['userA:created', 'userA']);
  // What the object holds without the injected properties: for a create, what the normal create answered (its
  // defaults), so a default that happens to equal the injected value is not taken for acceptance.
  let before: Record<string, unknown> | undefined;
  if (op.method === 'POST') {
    const normal = ctx.baselines.get(op.key);
    if (normal && isSuccess(normal)) before = objectOf(normal);
  } else if (reader) {
    const read = await sendOperation(ctx, reader, 'userA', { params: values, purpose: 'read-back' });
    if (isSuccess(read)) before = objectOf(read);
  }
  const injected: Record<string, unknown> = {};
  for (const [name, { node, pointer }] of candidates) {
    const value = injectedValue(ctx, name, node, pointer, before?.[name]);
    if (value !== undefined) injected[name] = value;
  }
  const write = await sendOperation(ctx, op, 'userA', { params: values, body: JSON.stringify({ ...sample, ...injected }), purpose: 'mass-assignment' });
  if (!isSuccess(write)) return;
  let after: Record<string, unknown> | undefined;
  let evidence = write;
  if (op.method === 'POST') {
    const created = objectOf(write);
    if (created) {
      remember(ctx, 'userA:created', op, write);
      const param = reader?.pathParams[reader.pathParams.length - 1];
      const id = created[param?.name ?? 'id'] ?? created.id;
      if (reader && param && (typeof id === 'string' || typeof id === 'number')) {
        const read = await sendOperation(ctx, reader, 'userA', { params: { ...values, [param.name]: String(id) }, purpose: 'read-back' });
        if (isSuccess(read)) {
          after = objectOf(read);
          evidence = read;
        }
      } else {
        after = created;
      }
    }
  } else if (reader) {
    const read = await sendOperation(ctx, reader, 'userA', { params: values, purpose: 'read-back' });
    if (isSuccess(read)) {
      after = objectOf(read);
      evidence = read;
    }
  } else {
    after = objectOf(write);
  }
  if (!after) return;
  const accepted = Object.keys(injected).filter((name) => JSON.stringify(after![name]) === JSON.stringify(injected[name]) && JSON.stringify(before?.[name]) !== JSON.stringify(injected[name]));
  if (accepted.length === 0) return;
  const message = `${op.method} ${op.template} accepts ${accepted.join(', ')} from the client, and a later read returns the injected value`;
  report(ctx, R.massAssignment, write, message, op.key, `sent: ${JSON.stringify(Object.fromEntries(accepted.map((a) => [a, injected[a]])))}`);
  if (evidence !== write) ctx.collector.add(R.massAssignment, { location: locationOf(write, ctx.masker), message, group: op.key, evidence: () => evidenceOf(evidence, ctx.masker, 'the read-back') });
  // Put the object back as it was, so the rest of the scan (and the API's owner) is not left with an escalated account.
  if (before && op.method !== 'POST') {
    const restore = Object.fromEntries(accepted.map((name) => [name, before![name]]));
    await sendOperation(ctx, op, 'userA', { params: values, body: JSON.stringify(op.method === 'PUT' ? { ...sample, ...restore } : restore), purpose: 'restore' });
  }
}
