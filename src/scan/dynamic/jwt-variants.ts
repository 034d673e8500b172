/**
 * Forged variants of a real token, to see what the API checks (issue 8: missing authentication with invalid,
 * expired, `alg: none` and wrong-signature tokens). Each keeps the real token's claims, so a server that skips a
 * check accepts it as the real user:
 *
 * - `wrong-signature`: same header (alg, kid) and claims, signed with a fresh random key of the same algorithm.
 * - `alg-none`: header `alg: "none"` and no signature (RFC 7519 §6, "Unsecured JWTs"; RFC 8725 §2.1).
 * - `expired`: `exp` an hour ago (and `iat`/`nbf` before it), signed with a fresh random key. Only a server that
 *   verifies neither signature nor expiry accepts it; the scanner cannot sign with the issuer's key.
 * - `garbage`: a random string of the same length (also for opaque tokens and API keys).
 */
import { randomBytes } from 'node:crypto';
import { CompactSign, base64url, generateKeyPair, generateSecret } from 'jose';

export type TokenVariant = 'garbage' | 'wrong-signature' | 'alg-none' | 'expired';

interface DecodedJwt {
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
  readonly payloadPart: string;
}

const decoder = new TextDecoder();

/** Header and claims of a compact JWS whose payload is a JSON object; undefined for anything else. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] === '' || parts[1] === '') return undefined;
  try {
    const header = JSON.parse(decoder.decode(base64url.decode(parts[0]!))) as unknown;
    const claims = JSON.parse(decoder.decode(base64url.decode(parts[1]!))) as unknown;
    if (!isRecord(header) || !isRecord(claims) || typeof header.alg !== 'string') return undefined;
    return { header, claims, payloadPart: parts[1]! };
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const encoder = new TextEncoder();

function encodeJson(value: unknown): string {
  return base64url.encode(encoder.encode(JSON.stringify(value)));
}

async function randomKeyFor(alg: string): Promise<{ key: CryptoKey | Uint8Array; alg: string }> {
  if (/^HS(256|384|512)$/.test(alg)) return { key: await generateSecret(alg, { extractable: false }) as CryptoKey, alg };
  if (/^(RS|PS)(256|384|512)$/.test(alg) || /^ES(256|384|512)$/.test(alg) || alg === 'EdDSA' || alg === 'Ed25519') {
    const { privateKey } = await generateKeyPair(alg);
    return { key: privateKey, alg };
  }
  // An algorithm jose cannot sign with: HS256 with a random key is still a signature the issuer never made.
  return { key: await generateSecret('HS256') as CryptoKey, alg: 'HS256' };
}

async function resign(header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> {
  const { key, alg } = await randomKeyFor(String(header.alg));
  return new CompactSign(encoder.encode(JSON.stringify(claims))).setProtectedHeader({ ...header, alg }).sign(key);
}

/** A forged variant of `token`, or undefined when the variant needs a JWT and the token is not one. */
export async function forgeToken(token: string, variant: TokenVariant, nowSeconds: number = Math.floor(Date.now() / 1000)): Promise<string | undefined> {
  if (variant === 'garbage') return randomLike(token);
  const jwt = decodeJwt(token);
  if (!jwt) return undefined;
  switch (variant) {
    case 'wrong-signature':
      return resign(jwt.header, jwt.claims);
    case 'alg-none':
      return `${encodeJson({ ...jwt.header, alg: 'none' })}.${jwt.payloadPart}.`;
    case 'expired': {
      const claims: Record<string, unknown> = { ...jwt.claims, exp: nowSeconds - 3600 };
      if ('iat' in claims) claims.iat = nowSeconds - 7200;
      if ('nbf' in claims) claims.nbf = nowSeconds - 7200;
      return resign(jwt.header, claims);
    }
  }
}

/** A random string with the token's length and alphabet (base64url), keeping a readable prefix like `sk_live_`. */
function randomLike(token: string): string {
  const prefix = /^[A-Za-z]{1,8}[_-](?:[A-Za-z]{1,8}[_-])?/.exec(token)?.[0] ?? '';
  const length = Math.max(16, Math.min(token.length, 512) - prefix.length);
  return prefix + randomBytes(length).toString('base64url').slice(0, length);
}
