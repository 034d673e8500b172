/**
 * Who may call what (checklist items 1, 2 and 11):
 *
 * - baseline: every readable operation once as its usual principal (and list-like ones as user B too), which fills
 *   the id discovery and gives later probes a normal answer to compare with;
 * - authentication: each operation that the document says needs credentials, without any, then with forged
 *   variants of the real token (garbage, wrong signature, `alg: none`, expired) in the same place;
 * - token lifetime: the tokens the scan used, `exp` missing or beyond the allowed lifetime;
 * - BOLA: user B asks for objects whose ids only user A was shown;
 * - BFLA: user A calls administrative operations.
 */
import { jsonBody, type Exchange } from '../client.ts';
import {
  bump,
  isSuccess,
  ran,
  report,
  reportAt,
  sendOperation,
  usualPrincipal,
  type Principal,
  type ScanContext,
} from '../context.ts';
import type { PrincipalName } from '../auth-file.ts';
import { locationOf } from '../findings.ts';
import { decodeJwt, forgeToken, type TokenVariant } from '../jwt-variants.ts';
import type { ScanOperation } from '../plan.ts';
import { DYNAMIC_RULES as R } from '../rules.ts';

/** Safe operations first by depth (collections before their members), then by template. */
export function byDepth(operations: readonly ScanOperation[]): ScanOperation[] {
  return [...operations].sort((a, b) => a.pathParams.length - b.pathParams.length || a.template.localeCompare(b.template) || a.method.localeCompare(b.method));
}

export async function baseline(ctx: ScanContext, op: ScanOperation): Promise<Exchange> {
  const principal = usualPrincipal(ctx, op);
  const exchange = await sendOperation(ctx, op, principal, { purpose: 'baseline' });
  ctx.baselines.set(op.key, exchange);
  remember(ctx, principal, op, exchange);
  // User B's own objects: what B sees in collections and single objects is not A's private data.
  if (op.pathParams.length === 0 && !op.admin && principal === 'userA' && ctx.credentials.has('userB')) {
    const other = await sendOperation(ctx, op, 'userB', { purpose: 'baseline' });
    remember(ctx, 'userB', op, other);
  }
  return exchange;
}

export function remember(ctx: ScanContext, principal: string, op: ScanOperation, exchange: Exchange): void {
  if (!isSuccess(exchange)) return;
  const body = jsonBody(exchange);
  if (body !== undefined) ctx.discovery.record(principal, op.template, body);
}

const VARIANT_RULE = {
  garbage: R.invalidToken,
  'wrong-signature': R.invalidToken,
  'alg-none': R.algNone,
  expired: R.expiredToken,
} as const;

const VARIANT_TEXT: Readonly<Record<TokenVariant, string>> = {
  garbage: 'a random token',
  'wrong-signature': 'a token signed with a random key',
  'alg-none': 'an unsigned token (alg "none")',
  expired: 'a token that expired an hour ago (signed with a random key)',
};

async function forged(ctx: ScanContext, principal: PrincipalName, variant: TokenVariant): Promise<string | undefined> {
  const token = await ctx.credentials.token(principal);
  if (token === undefined) return undefined;
  const key = `${principal}\u0000${variant}\u0000${token}`;
  if (!ctx.forged.has(key)) ctx.forged.set(key, await forgeToken(token, variant));
  return ctx.forged.get(key);
}

/**
 * Missing authentication and forged tokens on one operation. `body` is the request body for write operations.
 * Only operations the document marks as needing credentials are judged.
 */
export async function probeAuthentication(ctx: ScanContext, op: ScanOperation, body?: string): Promise<void> {
  if (op.security !== 'required') return;
  ran(ctx, R.authMissing);
  const principal = usualPrincipal(ctx, op);
  const idsOf = principal === 'anonymous' ? 'userA' : principal;
  const anonymous = await sendOperation(ctx, op, 'anonymous', { idsOf: [`${idsOf}:created`, idsOf], purpose: 'auth', body });
  if (isSuccess(anonymous)) {
    report(ctx, R.authMissing, anonymous, `${op.method} ${op.template} answers ${anonymous.status} without credentials`, op.key);
    return;
  }
  if (principal === 'anonymous') return;
  const usual = ctx.baselines.get(op.key);
  // A forged token proves something only where the real one works.
  if (op.safe && (!usual || !isSuccess(usual))) return;
  const place = ctx.credentials.place(principal);
  if (!place) return;
  ran(ctx, R.invalidToken);
  for (const variant of ['garbage', 'wrong-signature', 'alg-none', 'expired'] as const) {
    const value = await forged(ctx, principal, variant);
    if (value === undefined) continue;
    ran(ctx, VARIANT_RULE[variant]);
    const exchange = await sendOperation(ctx, op, principal, {
      idsOf: [`${idsOf}:created`, idsOf],
      forged: { place, value, label: `forged:${variant}` },
      purpose: 'auth',
      body,
    });
    if (isSuccess(exchange)) {
      report(ctx, VARIANT_RULE[variant], exchange, `${op.method} ${op.template} accepts ${VARIANT_TEXT[variant]}`, op.key);
    }
  }
}

/** Tokens without `exp`, or living longer than allowed (JWT `exp` − `iat`, or the login answer's `expires_in`). */
export function checkTokenLifetimes(ctx: ScanContext): void {
  const max = ctx.tuning.maxTokenLifetimeSeconds;
  const seen = new Set<string>();
  for (const token of ctx.credentials.issued) {
    ran(ctx, R.tokenNoExpiry);
    const claims = decodeJwt(token.value)?.claims;
    let problem: string | undefined;
    if (claims) {
      const exp = claims.exp;
      const iat = typeof claims.iat === 'number' ? claims.iat : Math.floor(token.obtainedAt / 1000);
      if (typeof exp !== 'number') problem = 'a JWT without exp';
      else if (exp - iat > max) problem = `a JWT valid for ${formatSeconds(exp - iat)}`;
    } else if (token.expiresIn !== undefined && token.expiresIn > max) {
      problem = `a token valid for ${formatSeconds(token.expiresIn)} (expires_in)`;
    }
    if (problem === undefined) continue;
    const source = token.exchange ? `the login of ${token.principal}` : `the auth file (${token.principal})`;
    const key = `${problem}\u0000${token.exchange?.path ?? 'file'}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const location = token.exchange ? locationOf(token.exchange, ctx.masker) : { kind: 'http' as const, method: 'GET', path: '/' };
    reportAt(ctx, R.tokenNoExpiry, location, `${source} yields ${problem}`, 'token', `longest lifetime allowed: ${formatSeconds(max)}`);
  }
}

function formatSeconds(seconds: number): string {
  const unit = (value: number, name: string): string => `${value} ${name}${value === 1 ? '' : 's'}`;
  if (seconds >= 86_400) return unit(Math.round(seconds / 8640) / 10, 'day');
  if (seconds >= 3600) return unit(Math.round(seconds / 360) / 10, 'hour');
  return unit(Math.round(seconds), 'second');
}

/**
 * BOLA on one operation with path parameters: for each parameter, an id user A was shown and user B was not; user A
 * must be able to read it (otherwise it proves nothing), user B must not.
 */
export async function probeBola(ctx: ScanContext, op: ScanOperation, options: { body?: string; createdOnly?: boolean } = {}): Promise<void> {
  if (op.admin || op.pathParams.length === 0 || op.security === 'public') return;
  if (!ctx.credentials.has('userA') || !ctx.credentials.has('userB')) return;
  ran(ctx, R.bola);
  const sourceA = options.createdOnly ? 'userA:created' : 'userA';
  for (const param of [...op.pathParams].reverse()) {
    const seenByB = new Set(ctx.discovery.valuesFor('userB', op.template, param.name));
    const privateIds = ctx.discovery.valuesFor(sourceA, op.template, param.name).filter((id) => !seenByB.has(id));
    for (const id of privateIds.slice(0, 2)) {
      const params = { [param.name]: id };
      // Deleting is checked only on objects the scan created itself, and only as user B (A's copy is the control).
      if (op.safe) {
        const owner = await sendOperation(ctx, op, 'userA', { params, idsOf: sourceA, purpose: 'bola-owner' });
        if (!isSuccess(owner)) continue;
      }
      const intruder = await sendOperation(ctx, op, 'userB', { params, idsOf: sourceA, purpose: 'bola', body: options.body });
      if (isSuccess(intruder) && (op.method === 'DELETE' || mentions(intruder, id) || !op.safe)) {
        report(ctx, R.bola, intruder, `user B can ${op.safe ? 'read' : op.method === 'DELETE' ? 'delete' : 'change'} user A's object through ${op.method} ${op.template} (${param.name})`, op.key);
        return;
      }
      bump(ctx, 'bolaChecks');
      break;
    }
  }
}

function mentions(exchange: Exchange, id: string): boolean {
  return exchange.body.includes(id);
}

/** BFLA on one administrative operation: user A (an ordinary user) must be refused. */
export async function probeBfla(ctx: ScanContext, op: ScanOperation, body?: string): Promise<void> {
  if (!op.admin || op.security === 'public' || !ctx.credentials.has('userA')) return;
  ran(ctx, R.bfla);
  const idsOf: Principal[] = ctx.credentials.has('admin') ? ['admin', 'userA'] : ['userA'];
  const exchange = await sendOperation(ctx, op, 'userA', { idsOf: idsOf as string[], purpose: 'bfla', body });
  if (isSuccess(exchange)) report(ctx, R.bfla, exchange, `an ordinary user (user A) gets ${exchange.status} from the administrative operation ${op.method} ${op.template}`, op.key);
}
