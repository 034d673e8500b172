/**
 * `mtls`: authentication by client certificate (checklist items 1 and 3; RFC 8705 §2 "mutual TLS client
 * authentication", PKI method). The listener verifies the chain against `tls.clientCa` during the handshake;
 * this policy reads the verdict and the certificate and maps one of its names (subject CN or a SAN) to a consumer.
 *
 * - No certificate: not this policy's credential (the route's next authenticator, or 401).
 * - A certificate the handshake did not verify (expired, self-signed, another CA, wrong usage): 401, and an
 *   `auth.failure` event with the OpenSSL reason, never the certificate itself.
 * - A verified certificate whose name maps to no consumer: 401 (deny by default).
 * Names are compared exactly (case-sensitive, as issued); a certificate with several SANs of the configured kind
 * must map through exactly one of them, so one certificate can never be two consumers.
 */
import type { TLSSocket, PeerCertificate } from 'node:tls';
import type { Outcome, PolicyDefinition, PolicyDeps, PolicyHandlers, Principal, RequestContext } from '../types.ts';
import { NOT_RESPONSIBLE, problem } from '../types.ts';
import { mtlsSchema, type MtlsConfig } from './schema.ts';

export { mtlsSchema, type MtlsConfig } from './schema.ts';

const SAN_PREFIX = { 'san-uri': 'URI:', 'san-dns': 'DNS:', 'san-email': 'email:' } as const;

/** The names of one kind a certificate carries. */
export function certificateNames(cert: PeerCertificate, identity: NonNullable<MtlsConfig['identity']>): string[] {
  if (identity === 'subject-cn') {
    const cn = cert.subject?.CN as string | string[] | undefined;
    return cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
  }
  const prefix = SAN_PREFIX[identity];
  const san = cert.subjectaltname;
  if (typeof san !== 'string' || san === '') return [];
  // Node joins entries with ", "; values containing that separator are quoted JSON strings (CVE-2021-44532 fix).
  const names: string[] = [];
  for (const entry of san.match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? []) {
    const trimmed = entry.trim();
    if (!trimmed.startsWith(prefix)) continue;
    let value = trimmed.slice(prefix.length);
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    names.push(value);
  }
  return names;
}

function peerCertificate(ctx: RequestContext): { socket: TLSSocket; cert: PeerCertificate } | undefined {
  const socket = ctx.req.socket as TLSSocket;
  if (socket.encrypted !== true || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate();
  // An empty object means the client sent no certificate.
  if (cert === null || cert === undefined || Object.keys(cert).length === 0) return undefined;
  return { socket, cert };
}

export function createMtlsHandlers(config: MtlsConfig, deps: PolicyDeps): PolicyHandlers {
  const identity = config.identity ?? 'san-uri';
  const principals = new Map<string, Principal>();
  for (const [name, entry] of Object.entries(config.principals)) {
    principals.set(
      name,
      Object.freeze({
        subject: entry.consumer,
        kind: 'consumer',
        method: 'mtls',
        roles: Object.freeze([...(entry.roles ?? [])]),
        ...(entry.tenant === undefined ? {} : { tenant: entry.tenant }),
      }) as Principal,
    );
  }
  const refuse = (ctx: RequestContext, reason: string, details: Record<string, unknown>): Outcome => {
    deps.events.emit({
      type: 'auth.failure',
      severity: 'medium',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { method: 'mtls', reason, ...details },
    });
    return problem('RAMPART_ERR_INVALID_CREDENTIAL', `mtls: ${reason}`);
  };
  return {
    credentialSource: 'tls-client-certificate',
    hasCredential: (ctx) => peerCertificate(ctx) !== undefined,
    onRequest(ctx: RequestContext): Outcome {
      const peer = peerCertificate(ctx);
      if (peer === undefined) return NOT_RESPONSIBLE;
      if (!peer.socket.authorized) {
        return refuse(ctx, 'client certificate not trusted', { error: String(peer.socket.authorizationError ?? 'unverified'), fingerprint: peer.cert.fingerprint256 });
      }
      const matched = certificateNames(peer.cert, identity).filter((name) => principals.has(name));
      if (matched.length !== 1) {
        return refuse(ctx, matched.length === 0 ? 'certificate names no configured consumer' : 'certificate names several consumers', {
          fingerprint: peer.cert.fingerprint256,
        });
      }
      ctx.principal = principals.get(matched[0]!)!;
      return undefined;
    },
  };
}

export const mtlsPolicy: PolicyDefinition<MtlsConfig> = {
  name: 'mtls',
  phase: 'authenticate',
  order: 5,
  authenticates: true,
  schema: mtlsSchema,
  check(_config, path, route) {
    return route.tls ? [] : [{ path, message: 'mutual TLS needs the route to be served on a TLS listener with tls.clientCa', severity: 'warning' }];
  },
  create: (config, deps) => createMtlsHandlers(config, deps),
};
