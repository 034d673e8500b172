/**
 * Transport probes (checklist item 3) against the fixture served over HTTPS with a throw-away CA (`--ca`): the
 * vulnerable twin accepts TLS 1.0/1.1 and sends no HSTS; the hardened twin does neither; a certificate that does not
 * verify for the target stops the scan before any HTTP request is sent.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOpenApi } from '../src/openapi/load.ts';
import { runDynamicScan, type DynamicScanResult } from '../src/scan/dynamic/index.ts';
import { OPENAPI_FILE, startVulnerableApi, type VulnerableApiHandle } from './fixtures/vulnerable-api/server.ts';
import { tempDir } from './helpers.ts';
import { createSelfSignedCertificate } from './tls-helpers.ts';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

async function start(hardened: boolean, cert: { cert: string; key: string }): Promise<VulnerableApiHandle> {
  const api = await startVulnerableApi({ hardened, tls: cert });
  cleanup.push(() => api.close());
  return api;
}

/** A read-only, anonymous scan: enough to see the transport, quick. */
function scan(api: VulnerableApiHandle, ca: string | undefined): Promise<DynamicScanResult> {
  return runDynamicScan({ target: api.url, specFile: OPENAPI_FILE, ca, allowWrites: false, budget: 2000, ratePerSecond: 1000, rateLimitBurst: 0, timingDelaySeconds: 0 });
}

function tlsPairs(result: DynamicScanResult): string[] {
  return result.findings
    .filter((f) => f.rule.id.startsWith('tls.'))
    .flatMap((f) => f.locations.map((l) => (l.kind === 'http' ? `${f.rule.id} ${l.operation ?? `${l.method} ${l.path}`}` : '')))
    .sort();
}

describe('TLS probes', () => {
  const certificate = createSelfSignedCertificate();
  const tls = { cert: certificate.cert, key: readFileSync(certificate.keyFile, 'utf8') };

  it('find TLS 1.0/1.1 and missing HSTS on the vulnerable twin', async () => {
    const api = await start(false, tls);
    const result = await scan(api, certificate.cert);
    const loaded = await loadOpenApi(OPENAPI_FILE);
    if (!loaded.ok) throw new Error('fixture contract does not load');
    const reads = loaded.api.model.operations.filter((op) => op.method.toUpperCase() === 'GET').map((op) => op.key);
    expect(tlsPairs(result)).toEqual(['tls.weak-protocol TLS /', ...reads.map((op) => `tls.hsts-missing ${op}`)].sort());
    expect(result.findings.find((f) => f.rule.id === 'tls.weak-protocol')!.message).toMatch(/accepts TLS 1\.[01]/);
    expect(result.partial).toBe(false);
    expect(result.stats.tlsVersionUntestable).toBeUndefined();
    expect(result.rules.map((r) => r.id)).toEqual(expect.arrayContaining(['tls.weak-protocol', 'tls.hsts-missing', 'tls.certificate-invalid']));
  });

  it('find nothing on the hardened twin (TLS 1.2 minimum, HSTS)', async () => {
    const api = await start(true, tls);
    const result = await scan(api, certificate.cert);
    expect(result.findings.map((f) => f.rule.id)).toEqual([]);
    expect(result.partial).toBe(false);
  });

  it('stop before any HTTP request when the certificate is for another host, or not trusted', async () => {
    const dir = tempDir();
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=other.example',
        '-addext', 'subjectAltName=DNS:other.example', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      { stdio: 'pipe' },
    );
    const other = { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
    const api = await start(true, other);
    const wrongHost = await scan(api, other.cert);
    expect(tlsPairs(wrongHost)).toEqual(['tls.certificate-invalid TLS /']);
    expect(wrongHost.findings[0]!.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(wrongHost.partial).toBe(true);
    expect(wrongHost.stats.stoppedByCertificate).toBe(1);
    // Without --ca the self-signed certificate is not trusted either.
    const untrusted = await scan(await start(true, tls), undefined);
    expect(tlsPairs(untrusted)).toEqual(['tls.certificate-invalid TLS /']);
    expect(untrusted.findings[0]!.message).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
    expect(api.stats.requests).toBe(0);
  });
});
