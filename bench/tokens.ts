/**
 * Bearer tokens for the authenticated benchmarks (bench/jwt.ts, bench/policies.ts): TOKENS distinct ES256 tokens
 * of one static key, a file with one per line, and a wrk Lua script that sends them in turn, one per request, so a
 * verified-token cache cannot turn the run into a cache benchmark.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { BENCH_DIR } from './harness.ts';

export const TOKENS = 1000;

export interface BenchTokens {
  readonly tokens: readonly string[];
  /** Public JWK of the signing key (kid `bench`, ES256). */
  readonly jwk: Record<string, unknown>;
  /** wrk Lua script rotating the tokens. */
  readonly script: string;
}

export async function benchTokens(): Promise<BenchTokens> {
  const workDir = fs.mkdtempSync(path.join(BENCH_DIR, '.tokens-'));
  process.on('exit', () => fs.rmSync(workDir, { recursive: true, force: true }));
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' };
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i++) {
    tokens.push(
      await new SignJWT({ roles: ['customer'] })
        .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
        .setIssuer('https://idp.bench')
        .setAudience('bench-api')
        .setSubject(`user-${i}`)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(privateKey),
    );
  }
  const tokenFile = path.join(workDir, 'tokens.txt');
  fs.writeFileSync(tokenFile, tokens.join('\n') + '\n');
  const script = path.join(workDir, 'rotate-tokens.lua');
  fs.writeFileSync(
    script,
    `-- Sends the ${TOKENS} tokens in turn, one per request.
local tokens = {}
local i = 0
function init(args)
  for line in io.lines(${JSON.stringify(tokenFile)}) do tokens[#tokens + 1] = line end
end
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
`,
  );
  return { tokens, jwk, script };
}

/** The issuer entry matching `benchTokens()`' tokens. */
export function benchIssuer(jwk: Record<string, unknown>): Record<string, unknown> {
  return { issuer: 'https://idp.bench', audiences: ['bench-api'], algorithms: ['ES256'], keys: [{ kid: 'bench', alg: 'ES256', jwk }], roles: { claim: 'roles' } };
}
