import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import { CompactSign, SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey as JoseKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyHandlers } from '../types.ts';
import { createJwtHandlers, jwtPolicy, principalHasMfa, type JwtConfig } from './index.ts';
import { JwksServer, TestClock, contextFor, policyDeps, send, startPolicyServer } from './test-harness.ts';

const ajv = new Ajv({ strict: false, useDefaults: true, allowUnionTypes: true });
const validateConfig = ajv.compile(jwtPolicy.schema);

function jwtConfig(input: Record<string, unknown>): JwtConfig {
  const copy = structuredClone(input);
  if (!validateConfig(copy)) throw new Error(`invalid test config: ${ajv.errorsText(validateConfig.errors)}`);
  return copy as unknown as JwtConfig;
}

const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'orders-api';
const INVALID_TOKEN = { 'www-authenticate': 'Bearer realm="rampart", error="invalid_token"' };
const INVALID_REQUEST = { 'www-authenticate': 'Bearer error="invalid_request"' };
const HMAC_SECRET = 'a-test-secret-of-at-least-32-bytes-long!';

const b64u = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

const clock = new TestClock();
const jwks = new JwksServer();
let issuerKey: { publicKey: JoseKey; privateKey: JoseKey };
let attackerKey: { publicKey: JoseKey; privateKey: JoseKey };
let issuerPem: string;
let issuerJwk: JWK;
let attackerJwk: JWK;
let base: string;
let closeServer: () => Promise<void>;
const deps = policyDeps();

/** A token of the issuer, valid now, with `claims` and `header` merged over the defaults (undefined removes). */
async function token(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: JoseKey = issuerKey.privateKey): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: clock.seconds, exp: clock.seconds + 600, jti: randomUUID(), ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...header } as { alg: string })
    .sign(key);
}

/** Signs exactly the given header and payload texts with ES256 (for headers jose would not produce). */
async function signRaw(headerJson: string, payloadJson: string, key: JoseKey = issuerKey.privateKey): Promise<string> {
  const input = `${b64u(headerJson)}.${b64u(payloadJson)}`;
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

function payloadJson(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: clock.seconds, exp: clock.seconds + 600, ...extra });
}

const bearer = (value: string): Array<[string, string]> => [['authorization', `Bearer ${value}`]];

beforeAll(async () => {
  issuerKey = await generateKeyPair('ES256', { extractable: true });
  attackerKey = await generateKeyPair('ES256', { extractable: true });
  issuerPem = await exportSPKI(issuerKey.publicKey);
  issuerJwk = { ...(await exportJWK(issuerKey.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  attackerJwk = await exportJWK(attackerKey.publicKey);
  await jwks.start();
  jwks.keys = [issuerJwk];

  const common = { name: 'corp-idp', issuer: ISSUER, audiences: [AUDIENCE], jwksUrl: jwks.url };
  const options = { now: clock.now };
  const handlers: Record<string, PolicyHandlers> = {
    main: await createJwtHandlers(
      jwtConfig({ ...common, roles: { claim: 'realm_access.roles' }, tenant: { claim: 'org_id' }, mfa: { amrContains: ['mfa', 'otp'] } }),
      deps,
      options,
    ),
    strict: await createJwtHandlers(
      jwtConfig({ ...common, requireTyp: 'at+jwt', maxTokenAge: 600, requiredClaims: ['exp', 'sub'], tenant: { claim: 'org_id' } }),
      deps,
      options,
    ),
    query: await createJwtHandlers(jwtConfig({ ...common, allowQueryToken: true }), deps, options),
    static: await createJwtHandlers(
      jwtConfig({ name: 'static', issuer: ISSUER, audiences: [AUDIENCE], keys: [{ kid: 's1', alg: 'ES256', pem: issuerPem }] }),
      deps,
      options,
    ),
    hmac: await createJwtHandlers(
      jwtConfig({ name: 'hmac', issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['HS256'], keys: [{ alg: 'HS256', secret: HMAC_SECRET }] }),
      deps,
      options,
    ),
  };
  const started = await startPolicyServer((name) => handlers[name] ?? handlers.main!);
  base = started.url;
  closeServer = started.close;
});

afterAll(async () => {
  await closeServer();
  await deps.shared.close();
  await jwks.close();
});

interface HostileRequest {
  readonly headers: Array<[string, string]>;
  readonly query?: string;
  readonly policy?: string;
}

/** Each entry must be refused; `conflict` ones with 400 invalid_request, the others with 401 invalid_token. */
/** `reason` is the internal detail (log only) the refusal must carry, to prove each one is refused for its own reason. */
const HOSTILE: Array<{ name: string; reason: string; conflict?: boolean; make: () => Promise<HostileRequest> }> = [
  { name: 'alg none, empty signature', reason: 'empty signature', make: async () => ({ headers: bearer(`${b64u('{"alg":"none","kid":"k1"}')}.${b64u(payloadJson())}.`) }) },
  { name: 'alg None', reason: 'alg "None" refused (RFC 8725 §3.1)', make: async () => ({ headers: bearer(`${b64u('{"alg":"None","kid":"k1"}')}.${b64u(payloadJson())}.AAAA`) }) },
  { name: 'alg NONE', reason: 'alg "NONE" refused (RFC 8725 §3.1)', make: async () => ({ headers: bearer(`${b64u('{"alg":"NONE","kid":"k1"}')}.${b64u(payloadJson())}.AAAA`) }) },
  { name: 'alg none with a signature part', reason: 'alg "none" refused (RFC 8725 §3.1)', make: async () => ({ headers: bearer(`${b64u('{"alg":"none"}')}.${b64u(payloadJson())}.c2ln`) }) },
  {
    name: 'HS256 signed with the issuer public key PEM as secret (key confusion)',
    reason: 'alg "HS256" is not allowed for this issuer',
    make: async () => ({ headers: bearer(await token({}, { alg: 'HS256' }, new TextEncoder().encode(issuerPem) as unknown as JoseKey)) }),
  },
  {
    name: 'HS256 signed with the issuer public JWK as secret',
    reason: 'alg "HS256" is not allowed for this issuer',
    make: async () => ({ headers: bearer(await token({}, { alg: 'HS256' }, new TextEncoder().encode(JSON.stringify(issuerJwk)) as unknown as JoseKey)) }),
  },
  {
    name: 'HS256 against the static PEM issuer',
    reason: 'alg "HS256" is not allowed for this issuer',
    make: async () => ({ policy: 'static', headers: bearer(await token({}, { alg: 'HS256', kid: 's1' }, new TextEncoder().encode(issuerPem) as unknown as JoseKey)) }),
  },
  { name: 'wrong signature (attacker key, issuer kid)', reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED: signature verification failed', make: async () => ({ headers: bearer(await token({}, {}, attackerKey.privateKey)) }) },
  { name: 'truncated signature', reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED: signature verification failed', make: async () => ({ headers: bearer((await token()).slice(0, -12)) }) },
  {
    name: 'signature of another token',
    reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED: signature verification failed',
    make: async () => {
      const [h, p] = (await token({ sub: 'mallory' })).split('.');
      const signature = (await token()).split('.')[2];
      return { headers: bearer(`${h}.${p}.${signature}`) };
    },
  },
  { name: 'expired', reason: 'ERR_JWT_EXPIRED: "exp" claim timestamp check failed', make: async () => ({ headers: bearer(await token({ iat: clock.seconds - 7200, exp: clock.seconds - 3600 })) }) },
  { name: 'expired just beyond the clock skew', reason: 'ERR_JWT_EXPIRED: "exp" claim timestamp check failed', make: async () => ({ headers: bearer(await token({ exp: clock.seconds - 31 })) }) },
  { name: 'exp missing', reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED: missing required "exp" claim', make: async () => ({ headers: bearer(await token({ exp: undefined })) }) },
  { name: 'exp as a string', reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED: "exp" claim must be a number', make: async () => ({ headers: bearer(await token({ exp: String(clock.seconds + 600) })) }) },
  { name: 'nbf in the future beyond the skew', reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED: "nbf" claim timestamp check failed', make: async () => ({ headers: bearer(await token({ nbf: clock.seconds + 120 })) }) },
  { name: 'iat in the future beyond the skew', reason: '"iat" is in the future', make: async () => ({ headers: bearer(await token({ iat: clock.seconds + 120 })) }) },
  { name: 'iat older than maxTokenAge', reason: 'ERR_JWT_EXPIRED: "iat" claim timestamp check failed (too far in the past)', make: async () => ({ policy: 'strict', headers: bearer(await token({ iat: clock.seconds - 3600 }, { typ: 'at+jwt' })) }) },
  { name: 'wrong iss', reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "iss" claim value', make: async () => ({ headers: bearer(await token({ iss: 'https://evil.example' })) }) },
  { name: 'iss missing', reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED: missing required "iss" claim', make: async () => ({ headers: bearer(await token({ iss: undefined })) }) },
  { name: 'wrong aud', reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "aud" claim value', make: async () => ({ headers: bearer(await token({ aud: 'billing-api' })) }) },
  { name: 'aud array without ours', reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "aud" claim value', make: async () => ({ headers: bearer(await token({ aud: ['billing-api', 'orders-api-v2'] })) }) },
  { name: 'unknown kid', reason: 'unknown kid', make: async () => ({ headers: bearer(await token({}, { kid: 'k-unknown' })) }) },
  { name: 'kid with path traversal', reason: 'unknown kid', make: async () => ({ headers: bearer(await token({}, { kid: '../../../../etc/passwd' })) }) },
  { name: 'kid with SQL', reason: 'unknown kid', make: async () => ({ headers: bearer(await token({}, { kid: "k1' OR '1'='1" })) }) },
  { name: 'kid not a string', reason: 'kid is not a short string', make: async () => ({ headers: bearer(await signRaw('{"alg":"ES256","kid":["k1"]}', payloadJson())) }) },
  { name: 'no kid with a JWKS', reason: 'token has no kid (required with a JWKS)', make: async () => ({ headers: bearer(await token({}, { kid: undefined })) }) },
  { name: 'alg not on the allow-list', reason: 'alg "ES384" is not allowed for this issuer', make: async () => ({ headers: bearer(await signRaw('{"alg":"ES384","kid":"k1"}', payloadJson())) }) },
  { name: 'token over 8 KB', reason: 'token longer than 8192 bytes', make: async () => ({ headers: bearer(await token({ filler: 'x'.repeat(9000) })) }) },
  { name: 'invalid base64url in the header', reason: 'header is not base64url', make: async () => ({ headers: bearer(`e*J${(await token()).slice(3)}`) }) },
  {
    name: 'invalid base64url in the payload',
    reason: 'payload is not base64url',
    make: async () => {
      const [h, p, s] = (await token()).split('.');
      return { headers: bearer(`${h}.${p!.slice(0, 5)}+/${p!.slice(7)}.${s}`) };
    },
  },
  {
    name: 'base64 padding in the signature',
    reason: 'signature is not base64url',
    make: async () => ({ headers: bearer(`${await token()}==`) }),
  },
  // 'eyJhbGciOiJFUzI1NiJ9' is {"alg":"ES256"}; one more character makes a length no byte string encodes to.
  { name: 'impossible base64url length', reason: 'header is not base64url', make: async () => ({ headers: bearer(`eyJhbGciOiJFUzI1NiJ9A.${b64u(payloadJson())}.AAAA`) }) },
  { name: 'header is not JSON', reason: 'header is not JSON', make: async () => ({ headers: bearer(await signRaw('{alg:ES256,kid:k1}', payloadJson())) }) },
  { name: 'header is a JSON array', reason: 'header is not a JSON object', make: async () => ({ headers: bearer(await signRaw('["ES256"]', payloadJson())) }) },
  { name: 'header is not UTF-8', reason: 'header is not UTF-8', make: async () => ({ headers: bearer(`${Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64url')}.${b64u(payloadJson())}.AAAA`) }) },
  {
    name: 'payload is not JSON (validly signed)',
    reason: 'ERR_JWT_INVALID: JWT Claims Set must be a top-level JSON object',
    make: async () => ({ headers: bearer(await new CompactSign(new TextEncoder().encode('not json')).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(issuerKey.privateKey)) }),
  },
  { name: 'JSON bomb: deeply nested header', reason: 'header nests too deep', make: async () => ({ headers: bearer(await signRaw(`{"alg":"ES256","kid":"k1","x":${'['.repeat(500)}${']'.repeat(500)}}`, payloadJson())) }) },
  { name: 'JSON bomb: deeply nested payload, forged', reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED: signature verification failed', make: async () => ({ headers: bearer(await signRaw('{"alg":"ES256","kid":"k1"}', payloadJson({ x: JSON.parse(`${'['.repeat(2000)}${']'.repeat(2000)}`) }), attackerKey.privateKey)) }) },
  { name: 'JSON bomb: huge array over the size limit', reason: 'token longer than 8192 bytes', make: async () => ({ headers: bearer(await token({ roles: Array.from({ length: 5000 }, () => 1) })) }) },
  { name: 'duplicate alg header (ES256 then none)', reason: 'header member "alg" appears twice', make: async () => ({ headers: bearer(await signRaw('{"alg":"ES256","alg":"none","kid":"k1"}', payloadJson())) }) },
  { name: 'duplicate alg header, validly signed (none then ES256)', reason: 'header member "alg" appears twice', make: async () => ({ headers: bearer(await signRaw('{"alg":"none","kid":"k1","alg":"ES256"}', payloadJson())) }) },
  { name: 'duplicate header member hidden by an escape', reason: 'header member "kid" appears twice', make: async () => ({ headers: bearer(await signRaw('{"alg":"ES256","kid":"k9","\\u006bid":"k1"}', payloadJson())) }) },
  { name: 'crit with an unknown extension', reason: 'ERR_JOSE_NOT_SUPPORTED: Extension Header Parameter "exp2" is not recognized', make: async () => ({ headers: bearer(await signRaw('{"alg":"ES256","kid":"k1","crit":["exp2"],"exp2":1}', payloadJson())) }) },
  { name: 'crit b64:false (unencoded payload)', reason: 'ERR_JWT_INVALID: JWTs MUST NOT use unencoded payload', make: async () => ({ headers: bearer(await signRaw('{"alg":"ES256","kid":"k1","crit":["b64"],"b64":false}', payloadJson())) }) },
  { name: 'embedded jwk header with the attacker key', reason: 'header parameter "jwk" refused: the token may not choose its key', make: async () => ({ headers: bearer(await token({}, { jwk: attackerJwk, kid: undefined }, attackerKey.privateKey)) }) },
  { name: 'jku pointing elsewhere (even validly signed)', reason: 'header parameter "jku" refused: the token may not choose its key', make: async () => ({ headers: bearer(await token({}, { jku: 'https://evil.example/jwks.json' })) }) },
  { name: 'x5u header', reason: 'header parameter "x5u" refused: the token may not choose its key', make: async () => ({ headers: bearer(await token({}, { x5u: 'https://evil.example/cert.pem' })) }) },
  { name: 'x5c header', reason: 'header parameter "x5c" refused: the token may not choose its key', make: async () => ({ headers: bearer(await token({}, { x5c: ['MIIBszCCAVmgAwIBAgIUJ'] })) }) },
  { name: 'typ mismatch when at+jwt is required', reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "typ" JWT header value', make: async () => ({ policy: 'strict', headers: bearer(await token({}, { typ: 'JWT' })) }) },
  { name: 'typ missing when at+jwt is required', reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "typ" JWT header value', make: async () => ({ policy: 'strict', headers: bearer(await token()) }) },
  { name: 'sub with CR/LF', reason: 'subject contains control characters', make: async () => ({ headers: bearer(await token({ sub: 'alice\r\nx-user-roles: admin' })) }) },
  { name: 'sub longer than 256 characters', reason: 'subject longer than 256 characters', make: async () => ({ headers: bearer(await token({ sub: 'a'.repeat(257) })) }) },
  { name: 'sub not a string', reason: 'no subject (sub, client_id) or not a string', make: async () => ({ headers: bearer(await token({ sub: { id: 'alice' } })) }) },
  { name: 'no subject at all', reason: 'no subject (sub, client_id) or not a string', make: async () => ({ headers: bearer(await token({ sub: undefined })) }) },
  { name: 'roles with a control character', reason: 'roles: an entry contains control characters', make: async () => ({ headers: bearer(await token({ realm_access: { roles: ['customer', 'admin\u0000'] } })) }) },
  { name: 'role with a comma', reason: 'roles: an entry contains a comma', make: async () => ({ headers: bearer(await token({ realm_access: { roles: ['customer,admin'] } })) }) },
  { name: 'more than 64 roles', reason: 'roles: more than 64 entries', make: async () => ({ headers: bearer(await token({ realm_access: { roles: Array.from({ length: 65 }, (_, i) => `r${i}`) } })) }) },
  { name: 'tenant with a newline', reason: 'tenant contains control characters', make: async () => ({ headers: bearer(await token({ org_id: 'acme\n' })) }) },
  { name: 'tenant is an object', reason: 'tenant claim is not a string', make: async () => ({ policy: 'strict', headers: bearer(await token({ org_id: { id: 1 } }, { typ: 'at+jwt' })) }) },
  { name: 'HMAC issuer: wrong secret', reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED: signature verification failed', make: async () => ({ policy: 'hmac', headers: bearer(await token({}, { alg: 'HS256', kid: undefined }, new TextEncoder().encode('another-secret-of-at-least-32-bytes!!') as unknown as JoseKey)) }) },
  { name: 'HMAC issuer: ES256 token', reason: 'alg "ES256" is not allowed for this issuer', make: async () => ({ policy: 'hmac', headers: bearer(await token()) }) },
  { name: 'two Authorization headers', reason: 'more than one Authorization header', conflict: true, make: async () => ({ headers: [...bearer(await token()), ...bearer(await token())] }) },
  { name: 'Bearer plus Basic Authorization headers', reason: 'more than one Authorization header', conflict: true, make: async () => ({ headers: [...bearer(await token()), ['authorization', 'Basic YTpi']] }) },
  { name: 'bearer header plus access_token in the query', reason: 'bearer token in both the Authorization header and the query', conflict: true, make: async () => ({ headers: bearer(await token()), query: `access_token=${await token()}` }) },
  { name: 'token only in the query (not allowed)', reason: 'token in the query string (allowQueryToken is off)', conflict: true, make: async () => ({ headers: [], query: `access_token=${await token()}` }) },
  { name: 'token in the query under an encoded name', reason: 'token in the query string (allowQueryToken is off)', conflict: true, make: async () => ({ headers: [], query: `access%5Ftoken=${await token()}` }) },
  { name: 'access_token repeated in the query', reason: 'access_token repeated in the query', conflict: true, make: async () => ({ policy: 'query', headers: [], query: `access_token=${await token()}&access_token=${await token()}` }) },
  { name: 'Bearer with two spaces', reason: 'header is not base64url', make: async () => ({ headers: [['authorization', `Bearer  ${await token()}`]] }) },
  { name: 'Bearer with trailing garbage', reason: 'not a compact JWS (4 parts)', make: async () => ({ headers: [['authorization', `Bearer ${await token()} garbage.x`]] }) },
  { name: 'Bearer with a tab', reason: 'header is not base64url', make: async () => ({ headers: [['authorization', `Bearer\t${await token()}`]] }) },
  { name: 'empty bearer', reason: 'empty bearer token', make: async () => ({ headers: [['authorization', 'Bearer']] }) },
];

describe('jwt policy: hostile credentials', () => {
  it('has at least 35 hostile entries', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(35);
  });

  it.each(HOSTILE)('refuses: $name; the next valid token still verifies', async ({ reason, make, conflict }) => {
    const { headers, query, policy = 'main' } = await make();
    const answer = await send(`${base}/${policy}/orders${query ? `?${query}` : ''}`, headers);
    expect(answer.outcome).toBe('problem');
    if (conflict) {
      expect(answer.code).toBe('RAMPART_ERR_CREDENTIAL_CONFLICT');
      expect(answer.headers).toEqual(INVALID_REQUEST);
    } else {
      expect(answer.code).toBe('RAMPART_ERR_INVALID_CREDENTIAL');
      expect(answer.headers).toEqual(INVALID_TOKEN);
    }
    // The reason is for the log only; it never appears in what the client gets.
    expect(answer.detail).toContain(reason);
    expect(JSON.stringify(answer.headers)).not.toContain(answer.detail);

    const validHeader = policy === 'hmac'
      ? await token({}, { alg: 'HS256', kid: undefined }, new TextEncoder().encode(HMAC_SECRET) as unknown as JoseKey)
      : policy === 'static'
        ? await token({}, { kid: 's1' })
        : await token({}, policy === 'strict' ? { typ: 'at+jwt' } : {});
    const next = await send(`${base}/${policy}/orders`, bearer(validHeader));
    expect(next.outcome).toBe('continue');
    expect(next.principal?.subject).toBe('alice');
  });
});

describe('jwt policy: accepted forms and responsibility', () => {
  it('verifies a valid token, then answers from the cache synchronously', async () => {
    const jwt = await token({ realm_access: { roles: ['customer', 'support', 7] }, org_id: 'acme', scope: 'orders:read orders:write', amr: ['pwd', 'otp'], acr: 'urn:loa:2' });
    const first = await send(`${base}/main/orders`, bearer(jwt));
    expect(first).toMatchObject({
      outcome: 'continue',
      synchronous: false,
      hasCredential: true,
      principal: { subject: 'alice', kind: 'user', method: 'jwt', roles: ['customer', 'support'], tenant: 'acme', amr: ['pwd', 'otp'] },
    });
    expect(first.principal?.permissions.sort()).toEqual(['orders:read', 'orders:write']);
    const second = await send(`${base}/main/orders`, bearer(jwt));
    expect(second).toMatchObject({ outcome: 'continue', synchronous: true, principal: { subject: 'alice' } });
  });

  it('accepts the lowercase bearer scheme (RFC 9110 §11.1: schemes are case-insensitive)', async () => {
    const answer = await send(`${base}/main/orders`, [['authorization', `bearer ${await token()}`]]);
    expect(answer.outcome).toBe('continue');
  });

  it('accepts typ at+jwt and application/at+jwt where at+jwt is required (RFC 9068 §2.1)', async () => {
    for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT']) {
      const answer = await send(`${base}/strict/orders`, bearer(await token({}, { typ })));
      expect(answer.outcome, typ).toBe('continue');
    }
  });

  it('accepts a query token where allowQueryToken is on', async () => {
    const answer = await send(`${base}/query/orders?a=1&access_token=${await token()}`);
    expect(answer).toMatchObject({ outcome: 'continue', principal: { subject: 'alice' } });
  });

  it('verifies static PEM keys and HMAC secrets', async () => {
    expect((await send(`${base}/static/orders`, bearer(await token({}, { kid: 's1' }))))).toMatchObject({ outcome: 'continue' });
    const hs = await token({}, { alg: 'HS256', kid: undefined }, new TextEncoder().encode(HMAC_SECRET) as unknown as JoseKey);
    expect(await send(`${base}/hmac/orders`, bearer(hs))).toMatchObject({ outcome: 'continue' });
  });

  const NOT_MINE: Array<[string, Array<[string, string]>, string?]> = [
    ['no Authorization header', []],
    ['Basic credentials', [['authorization', 'Basic YWxpY2U6c2VjcmV0']]],
    ['an opaque bearer token (introspection\'s)', [['authorization', 'Bearer 2YotnFZFEjr1zCsicMWpAA']]],
    ['another scheme that starts with Bearer', [['authorization', 'Bearerish x.y.z']]],
    ['an API key header', [['x-api-key', 'rk_live_abc']]],
    ['an opaque token in the query', [], 'access_token=2YotnFZFEjr1zCsicMWpAA'],
  ];
  it.each(NOT_MINE)('is not responsible for %s', async (_name, headers, query) => {
    const answer = await send(`${base}/main/orders${query ? `?${query}` : ''}`, headers);
    expect(answer).toMatchObject({ outcome: 'not-responsible', hasCredential: false });
  });

  it('treats a client-credentials token without sub as a client', async () => {
    const answer = await send(`${base}/main/orders`, bearer(await token({ sub: undefined, client_id: 'billing-job' })));
    expect(answer.principal).toMatchObject({ subject: 'billing-job', kind: 'client' });
  });

  it('reads roles from a namespaced claim whose name has dots, and never from the prototype', async () => {
    const config = jwtConfig({ name: 'ns', issuer: ISSUER, audiences: [AUDIENCE], keys: [{ kid: 's1', alg: 'ES256', pem: issuerPem }], roles: { claim: 'https://example.test/roles' } });
    const handlers = await createJwtHandlers(config, policyDeps(), { now: clock.now });
    const server = await startPolicyServer(() => handlers);
    try {
      const namespaced = await send(`${server.url}/x`, bearer(await token({ 'https://example.test/roles': ['admin'] }, { kid: 's1' })));
      expect(namespaced.principal?.roles).toEqual(['admin']);
      const protoConfig = jwtConfig({ ...config, name: 'proto', roles: { claim: 'constructor.name' } });
      const protoHandlers = await createJwtHandlers(protoConfig, policyDeps(), { now: clock.now });
      const protoServer = await startPolicyServer(() => protoHandlers);
      const viaProto = await send(`${protoServer.url}/x`, bearer(await token({}, { kid: 's1' })));
      expect(viaProto.principal?.roles).toEqual([]);
      await protoServer.close();
    } finally {
      await server.close();
    }
  });

  it('records MFA per the issuer config (amr contains mfa or otp) and emits events for refusals', async () => {
    const shared = policyDeps();
    const config = jwtConfig({ name: 'mfa', issuer: ISSUER, audiences: [AUDIENCE], keys: [{ kid: 's1', alg: 'ES256', pem: issuerPem }], mfa: { amrContains: ['otp'], acrValues: ['phr'] } });
    const handlers = await createJwtHandlers(config, shared, { now: clock.now });
    const outcomes: boolean[] = [];
    for (const claims of [{ amr: ['pwd', 'otp'] }, { amr: ['pwd'] }, { acr: 'phr' }, {}]) {
      const ctx = contextFor({ headers: { authorization: `Bearer ${await token(claims, { kid: 's1' })}` }, rawHeaders: [], url: '/x', socket: {} } as never);
      const outcome = await handlers.onRequest!(ctx);
      expect(outcome).toBeUndefined();
      outcomes.push(principalHasMfa(ctx.principal!));
    }
    expect(outcomes).toEqual([true, false, true, false]);
    const ctx = contextFor({ headers: { authorization: `Bearer ${await token({ iss: 'https://evil.example' }, { kid: 's1' })}` }, rawHeaders: [], url: '/x', socket: {} } as never);
    await handlers.onRequest!(ctx);
    expect(shared.events.events.at(-1)).toMatchObject({ type: 'credential.rejected', details: { method: 'jwt', issuer: 'mfa' } });
    expect(JSON.stringify(shared.events.events)).not.toContain('eyJ'); // never the token itself
  });

  it('shares one verification between concurrent requests for one token, and cached principals are read-only', async () => {
    const jwt = await token({ scope: 'a b' });
    const answers = await Promise.all(Array.from({ length: 10 }, () => send(`${base}/main/orders`, bearer(jwt))));
    expect(answers.every((a) => a.outcome === 'continue')).toBe(true);
    const config = jwtConfig({ name: 'ro', issuer: ISSUER, audiences: [AUDIENCE], keys: [{ kid: 's1', alg: 'ES256', pem: issuerPem }] });
    const handlers = await createJwtHandlers(config, policyDeps(), { now: clock.now });
    const ctx = contextFor({ headers: { authorization: `Bearer ${await token({ scope: 'a b', realm: { x: 1 } }, { kid: 's1' })}` }, rawHeaders: [], url: '/x', socket: {} } as never);
    await handlers.onRequest!(ctx);
    const principal = ctx.principal!;
    expect(Object.isFrozen(principal)).toBe(true);
    expect(Object.isFrozen(principal.claims)).toBe(true);
    expect(Object.isFrozen((principal.claims as { realm: object }).realm)).toBe(true);
    expect(() => (principal.permissions as Set<string>).add('admin')).toThrow(TypeError);
    expect(principal.permissions?.has('admin')).toBe(false);
  });
});

describe('jwt policy: config check', () => {
  const route = { id: '*', public: false, methods: undefined, tls: true };
  const check = (input: Record<string, unknown>) => jwtPolicy.check!(jwtConfig({ name: 'x', issuer: ISSUER, audiences: [AUDIENCE], ...input }), 'issuers.x', route);

  it('accepts a JWKS over https and a loopback http JWKS', () => {
    expect(check({ jwksUrl: 'https://idp.example/jwks' })).toEqual([]);
    expect(check({ jwksUrl: 'http://127.0.0.1:8080/jwks' })).toEqual([]);
    expect(check({ jwksUrl: 'http://localhost/jwks' })).toEqual([]);
  });

  it.each([
    ['http JWKS on a remote host', { jwksUrl: 'http://idp.example/jwks' }, 'issuers.x.jwksUrl', /https/],
    ['HMAC with a JWKS', { jwksUrl: 'https://idp.example/jwks', algorithms: ['ES256', 'HS256'] }, 'issuers.x.algorithms', /never an HMAC algorithm with a public key/],
    ['HMAC with a static public key', { algorithms: ['HS256', 'ES256'], keys: [{ alg: 'ES256', pem: '-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----' }] }, 'issuers.x.algorithms', /never an HMAC/],
    ['HS256 key given a PEM', { algorithms: ['HS256'], keys: [{ alg: 'HS256', pem: '-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----' }] }, 'issuers.x.keys[0]', /needs a secret/],
    ['short HMAC secret', { algorithms: ['HS256'], keys: [{ alg: 'HS256', secret: 'short' }] }, 'issuers.x.keys[0].secret', /at least 32 bytes/],
    ['short HS512 secret', { algorithms: ['HS512'], keys: [{ alg: 'HS512', secret: 'x'.repeat(40) }] }, 'issuers.x.keys[0].secret', /at least 64 bytes/],
    ['neither jwksUrl nor keys', {}, 'issuers.x', /exactly one of jwksUrl and keys/],
    ['both jwksUrl and keys', { jwksUrl: 'https://idp.example/jwks', keys: [{ alg: 'ES256', pem: '-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----' }] }, 'issuers.x', /exactly one/],
    ['private key PEM', { keys: [{ alg: 'ES256', pem: '-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----' }] }, 'issuers.x.keys[0].pem', /private key/],
    ['private JWK', { keys: [{ alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' } }] }, 'issuers.x.keys[0].jwk', /private member/],
    ['key alg not allowed', { keys: [{ alg: 'RS512', pem: '-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----' }] }, 'issuers.x.keys[0].alg', /not in/],
  ])('refuses %s', (_name, input, path, message) => {
    const issues = check(input as Record<string, unknown>);
    expect(issues.some((i) => i.path === path && message.test(i.message) && i.severity === undefined), JSON.stringify(issues)).toBe(true);
  });

  it('refuses alg none and a clock skew over 300 s in the schema', () => {
    expect(validateConfig({ name: 'x', issuer: ISSUER, audiences: [AUDIENCE], jwksUrl: 'https://a/j', algorithms: ['none'] })).toBe(false);
    expect(validateConfig({ name: 'x', issuer: ISSUER, audiences: [AUDIENCE], jwksUrl: 'https://a/j', clockSkew: 301 })).toBe(false);
    expect(validateConfig({ name: 'x', issuer: ISSUER, audiences: [], jwksUrl: 'https://a/j' })).toBe(false);
    expect(validateConfig({ name: 'x', issuer: ISSUER, audiences: [AUDIENCE], jwksUrl: 'https://a/j', unknown: 1 })).toBe(false);
  });

  it('fills defaults', () => {
    const config = jwtConfig({ name: 'x', issuer: ISSUER, audiences: [AUDIENCE], jwksUrl: 'https://a/j' });
    expect(config).toMatchObject({
      algorithms: ['ES256', 'RS256'],
      clockSkew: 30,
      maxTokenAge: 0,
      requiredClaims: ['exp'],
      roles: { claim: 'roles' },
      mfa: { amrContains: ['mfa'], acrValues: [] },
      cache: { maxEntries: 10_000, maxBytes: 67_108_864, maxTtl: 300 },
      jwks: { minRefreshInterval: 30, defaultMaxAge: 600, maxMaxAge: 86_400, timeout: 5000, maxBytes: 1_048_576 },
      allowQueryToken: false,
      maxTokenBytes: 8192,
      realm: 'rampart',
    });
  });
});

