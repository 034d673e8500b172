/**
 * TLS test helpers: a throw-away self-signed certificate made with the openssl CLI, HTTPS requests that trust it,
 * and handshake probes (Node's tls and `openssl s_client`) that report what was negotiated instead of throwing.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Agent, request } from 'undici';
import { tempDir } from './helpers.ts';

export interface TestCertificate {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM of the certificate, to trust it as its own CA. */
  readonly cert: string;
}

/**
 * An ECDSA P-256 certificate for `localhost` and `127.0.0.1`, valid for one day. ECDSA on purpose: the gateway's
 * TLS 1.2 list offers ECDHE-ECDSA and ECDHE-RSA suites, and a cipher probe means something only when the
 * certificate's key type could serve the suite offered (see `opensslHandshake` callers).
 */
export function createSelfSignedCertificate(dir: string = tempDir()): TestCertificate {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-nodes', '-days', '1',
      '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', keyFile, '-out', certFile,
    ],
    { stdio: 'pipe' },
  );
  return { dir, certFile, keyFile, cert: readFileSync(certFile, 'utf8') };
}

export interface HttpsAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** An undici Agent that trusts `ca` (and nothing else). Close it when done. */
export function trustingAgent(ca: string): Agent {
  return new Agent({ connect: { ca } });
}

export async function httpsGet(
  url: string,
  agent: Agent,
  headers: Record<string, string> = {},
): Promise<HttpsAnswer> {
  const res = await request(url, { dispatcher: agent, headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

export type HandshakeResult =
  | { readonly ok: true; readonly protocol: string; readonly cipher: string }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** Runs a TLS handshake with Node's client and reports the outcome (never rejects). */
export function nodeHandshake(port: number, options: ConnectionOptions): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, code: 'TIMEOUT', message: 'handshake did not finish' });
    }, 5000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const result: HandshakeResult = { ok: true, protocol: socket.getProtocol() ?? '', cipher: socket.getCipher().name };
      socket.destroy();
      resolve(result);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, code: error.code ?? 'ERROR', message: error.message });
    });
  });
}

export interface OpenSslResult {
  /** The handshake finished: s_client printed the negotiated protocol and cipher suite. */
  readonly completed: boolean;
  readonly protocol: string | undefined;
  readonly cipher: string | undefined;
  /** `Verification: OK` against the CA file. */
  readonly verified: boolean;
  readonly exitCode: number;
  readonly output: string;
}

/**
 * `openssl s_client -brief` against 127.0.0.1:port with stdin closed at once. Success is read from the output
 * ("Protocol version:" / "Ciphersuite:" are only printed once the handshake completed), not from the exit code:
 * after a TLS 1.3 handshake s_client may exit 1 on the peer's close without close_notify.
 * Asynchronous on purpose: the server under test runs on this same event loop.
 */
export function opensslHandshake(port: number, args: readonly string[], caFile?: string): Promise<OpenSslResult> {
  const argv = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-brief', ...(caFile ? ['-CAfile', caFile] : []), ...args];
  return new Promise((resolve) => {
    const child = execFile('openssl', argv, { timeout: 10_000 }, (error, stdout, stderr) => {
      const output = `${stdout}\n${stderr}`;
      const protocol = /^Protocol version:\s*(\S+)/m.exec(output)?.[1];
      const cipher = /^Ciphersuite:\s*(\S+)/m.exec(output)?.[1];
      const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ completed: protocol !== undefined && cipher !== undefined, protocol, cipher, verified: /^Verification: OK/m.test(output), exitCode, output });
    });
    child.stdin?.end();
  });
}

/** RFC 9325 §4.2: only AEAD ciphers (GCM, CCM, ChaCha20-Poly1305) are recommended. */
export function isAeadCipher(name: string): boolean {
  return /GCM|CHACHA20|CCM/i.test(name);
}
