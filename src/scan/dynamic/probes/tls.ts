/**
 * Transport checks (checklist item 3): plain HTTP on a network address, the certificate (validity, chain to a
 * trusted CA or `--ca`, host name), and TLS 1.0 / 1.1 handshakes (RFC 8996 deprecates both). HSTS is checked on
 * every HTTPS answer by the passive analyser.
 *
 * A certificate that does not verify stops the scan: nothing can be sent safely to a server that cannot be
 * authenticated, and credentials would go to whoever answers.
 */
import { connect, type ConnectionOptions } from 'node:tls';
import { isIP } from 'node:net';
import { trustedWith } from '../client.ts';
import { bump, ran, reportAt, type ScanContext } from '../context.ts';
import { DYNAMIC_RULES as R } from '../rules.ts';

type Handshake = { ok: true; protocol: string } | { ok: false; code: string; message: string };

const HANDSHAKE_TIMEOUT_MS = 10_000;

function handshake(options: ConnectionOptions, signal?: AbortSignal): Promise<Handshake> {
  return new Promise((resolve) => {
    let socket: ReturnType<typeof connect>;
    try {
      socket = connect(options);
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      resolve({ ok: false, code: err.code ?? 'ERR', message: err.message });
      return;
    }
    const finish = (result: Handshake): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish({ ok: false, code: 'ABORTED', message: 'aborted' });
    const timer = setTimeout(() => finish({ ok: false, code: 'TIMEOUT', message: 'handshake did not finish' }), HANDSHAKE_TIMEOUT_MS);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => finish({ ok: true, protocol: socket.getProtocol() ?? '' }));
    socket.once('error', (error: NodeJS.ErrnoException) => finish({ ok: false, code: error.code ?? 'ERR', message: error.message }));
  });
}

/** Certificate verification failures (OpenSSL X509 codes and Node's host name check). */
const CERTIFICATE_ERRORS = /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT|VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT_LOCALLY)|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|INVALID_CA)/;

/** Runs the transport checks; returns false when the scan must stop (certificate not valid). */
export async function probeTransport(ctx: ScanContext, ca: string | undefined, signal?: AbortSignal): Promise<boolean> {
  const origin = ctx.client.origin;
  ran(ctx, R.plainHttp);
  if (origin.protocol === 'http:') {
    if (ctx.loopback) bump(ctx, 'tlsNotAssessedLoopback');
    else reportAt(ctx, R.plainHttp, { kind: 'http', method: 'GET', path: '/' }, `${origin.origin} is served over plain HTTP`, undefined, 'the target URL uses http://');
    return true;
  }
  ran(ctx, R.badCertificate, R.weakTls);
  const host = origin.hostname.replace(/^\[|\]$/g, '');
  const port = Number(origin.port || 443);
  const base: ConnectionOptions = { host, port, ...(isIP(host) ? {} : { servername: host }), ...(ca ? { ca: trustedWith(ca) } : {}) };
  const location = { kind: 'http' as const, method: 'TLS', path: '/' };

  await ctx.client.takeSlot();
  const verified = await handshake({ ...base, rejectUnauthorized: true }, signal);
  ctx.client.checkAborted();
  if (!verified.ok) {
    if (CERTIFICATE_ERRORS.test(verified.code)) {
      reportAt(ctx, R.badCertificate, location, `the certificate of ${origin.host} does not verify (${verified.code})`, undefined, verified.message.slice(0, 300));
      bump(ctx, 'stoppedByCertificate');
      return false;
    }
    // Not a certificate problem (refused, timeout): the HTTP probes will show it.
    bump(ctx, 'tlsHandshakeFailed');
    return true;
  }

  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    await ctx.client.takeSlot();
    // SECLEVEL=0: OpenSSL 3 refuses to offer TLS < 1.2 at the default level; the point is to see what the server takes.
    const result = await handshake({ ...base, minVersion: version, maxVersion: version, ciphers: 'DEFAULT:@SECLEVEL=0', rejectUnauthorized: false }, signal);
    ctx.client.checkAborted();
    if (result.ok && result.protocol === version) {
      reportAt(ctx, R.weakTls, location, `the server accepts ${version === 'TLSv1' ? 'TLS 1.0' : 'TLS 1.1'}`, undefined, `negotiated ${result.protocol}`);
    } else if (!result.ok && /NO_PROTOCOLS_AVAILABLE/.test(result.code)) {
      // This Node/OpenSSL build cannot offer the version at all: say so instead of reporting a pass.
      bump(ctx, 'tlsVersionUntestable');
    }
  }
  return true;
}
