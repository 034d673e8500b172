/**
 * Answers of the login and MFA endpoints. Successful answers are JSON with `cache-control: no-store` (they carry
 * tokens: RFC 6749 §5.1); errors are problems from the catalogue (RFC 9457) with nothing more specific than their
 * generic title, the reason going to the log under the correlation id.
 */
import { BodyError, readJson } from '../../gateway/body.ts';
import type { GatewayContext } from '../../gateway/context.ts';
import { sendDirect, sendProblem } from '../../gateway/respond.ts';
import type { ErrorCode } from '../../errors/catalogue.ts';

const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'application/json',
  'cache-control': 'no-store',
  pragma: 'no-cache',
});

/** The parts of the gateway's request context these endpoints use (tests build exactly this). */
export type EndpointContext = Pick<
  GatewayContext,
  'req' | 'res' | 'requestId' | 'method' | 'clientAddress' | 'responseHeaders' | 'locals' | 'principal' | 'errorCode' | 'errorDetail'
> & { path: string; query: string; secure: boolean; routeId: string; params: Readonly<Record<string, string>> };

export function sendJson(ctx: EndpointContext, status: number, body: unknown): void {
  sendDirect(ctx.res, status, ctx.requestId, ctx.responseHeaders, JSON_HEADERS, JSON.stringify(body));
}

export function sendIdentityProblem(ctx: EndpointContext, code: ErrorCode, detail: string, headers?: Readonly<Record<string, string>>): void {
  ctx.errorCode = code;
  ctx.errorDetail = detail;
  sendProblem(ctx.res, code, ctx.requestId, ctx.responseHeaders, headers);
}

const ALLOW_POST = Object.freeze({ allow: 'POST' });

/** Refuses anything but POST with 405 (credentials never travel in a GET URL). True when refused. */
export function refuseUnlessPost(ctx: EndpointContext): boolean {
  if (ctx.method === 'POST') return false;
  sendIdentityProblem(ctx, 'RAMPART_ERR_METHOD_NOT_ALLOWED', `${ctx.method.slice(0, 16)} on an identity endpoint`, ALLOW_POST);
  return true;
}

/**
 * The JSON object body with exactly the allowed members, each a string: the hardened reader refuses duplicate and
 * prototype keys, wrong media types and oversized bodies; here unknown members are refused too (no mass
 * assignment: a `roles` or `mfa` member in a login body means a client probing, not a mistake to ignore).
 * Answers the problem itself and resolves undefined on any failure.
 */
export async function readStringFields<K extends string>(
  ctx: EndpointContext,
  maxBytes: number,
  allowed: readonly K[],
): Promise<Partial<Record<K, string>> | undefined> {
  let body: unknown;
  try {
    body = await readJson(ctx, maxBytes, 4);
  } catch (error) {
    if (error instanceof BodyError) {
      sendIdentityProblem(ctx, error.code, error.message);
      return undefined;
    }
    throw error;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', 'body is not a JSON object');
    return undefined;
  }
  const out: Partial<Record<K, string>> = {};
  for (const [key, value] of Object.entries(body)) {
    if (!(allowed as readonly string[]).includes(key)) {
      sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', `unexpected member "${key.slice(0, 64)}"`);
      return undefined;
    }
    if (typeof value !== 'string') {
      sendIdentityProblem(ctx, 'RAMPART_ERR_BAD_REQUEST', `member "${key}" is not a string`);
      return undefined;
    }
    out[key as K] = value;
  }
  return out;
}
