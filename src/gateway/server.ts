/**
 * The gateway process: listeners (HTTP, HTTPS, admin), the per-request path
 * (canonicalise → route → policy pipeline → proxy → access log), WebSocket handshakes through the same pipeline,
 * hot reload and graceful shutdown.
 */
import { createServer as createHttpServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { loadConfigFile, type GatewayConfig, type ListenerConfig } from '../config/load.ts';
import { describeConfigChange } from '../config/change.ts';
import { DENIED_RULE_KEY } from '../authz/engine.ts';
import { canonicalizeRequestTarget } from './canonical-path.ts';
import { GatewayContext } from './context.ts';
import { CONTINUE_KEY, releaseBody } from './body.ts';
import { Runtime, type CompiledRoute, type PolicyStep } from './runtime.ts';
import type { GatewayService, GatewayServices } from './services.ts';
import { openConfiguredStores, type ConfiguredStores } from '../storage/configured.ts';
import { createIdentityService } from '../identity/service.ts';
import type { IdentityAssertionSigner } from '../identity/assertion.ts';
import { IDENTITY_ASSERTION_KEY, forward, replaceTraceHeaders, upstreamRequestHeaders } from './proxy.ts';
import { DeprecationUsage } from './deprecation-usage.ts';
import { createDocsService } from '../docs/service.ts';
import { countersConfigOf } from '../storage/counters-config.ts';
import { openAuditFromConfig, type OpenedAudit } from '../audit/configured.ts';
import { parseMasterKey } from '../crypto/master-key.ts';
import { retentionOf } from '../audit/retention.ts';
import { RetentionSweeper } from '../privacy/subject/retention.ts';
import { resolveLogPrivacy } from '../privacy/log-privacy.ts';
import type { Privacy } from '../audit/privacy.ts';
import type { DurableSecurityEvents } from '../audit/sink.ts';
import { AnomalyDetection } from '../detect/index.ts';
import type { DetectorsConfig } from '../detect/schema.ts';
import { AlertDispatcher } from '../alerts/dispatcher.ts';
import { resolveAlertDestination, type AlertDestinationConfig } from '../alerts/schema.ts';
import { AUTHORIZED_OBJECT_KEY } from '../policies/authorize/index.ts';
import { deprecationAnswer, deprecationRefusal, requestedVersion, unknownPathVersion, versionProblem } from './versions.ts';
import { BANNER_HEADERS, HOP_BY_HOP, answerOutcome, sendDirect, sendProblem, setRefusedHeadersReporter } from './respond.ts';
import { normalizeAddress, resolveClientAddress } from './addresses.ts';
import { NOT_RESPONSIBLE, type Outcome, type Respond } from '../policies/types.ts';
import { ERRORS, PROBLEM_CONTENT_TYPE, problemBody, type ErrorCode } from '../errors/catalogue.ts';
import { GatewayMetrics, PIPELINE_AUTHENTICATION } from '../observe/metrics.ts';
import { consumerLabelOptionsOf } from '../observe/config.ts';
import { createTracing, tracingConfigOf, type Tracing } from '../observe/tracing.ts';
import { LoggingSecurityEvents, type SecurityEvent, type SecurityEvents } from '../observe/events.ts';
import { AccessLog, createAppLogger, flushLogger } from '../observe/logger.ts';
import { createCspReportHandler } from '../policies/security-headers/csp-report.ts';

/**
 * TLS 1.2 cipher suites: ECDHE key exchange with AEAD ciphers only (Mozilla "intermediate" profile, RFC 9325 §4.2).
 * TLS 1.3 suites are all AEAD and use Node's defaults; `honorCipherOrder` makes the server's order win.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** RFC 9110 §5.6.2 token characters, used for a request id accepted from a trusted proxy. */
const REQUEST_ID = /^[A-Za-z0-9._~:-]{1,128}$/;

/**
 * Well-known paths where frameworks publish API documentation (Swagger/OpenAPI JSON and YAML, springdoc's
 * /v3/api-docs, Swagger UI, ReDoc), as any segment of the canonical path, case-insensitively.
 */
export const DOCUMENTATION_PATH =
  /(?:^|\/)(?:swagger(?:\.json|\.ya?ml|-ui(?:\.html)?|-resources)|openapi\.(?:json|ya?ml)|api-docs|redoc)(?:\/|$)/i;
/** A Host header: reg-name / IPv4 / [IPv6] and an optional port (RFC 9110 §7.2, RFC 3986 §3.2.2). */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export interface GatewayOptions {
  readonly logger?: Logger;
  readonly accessLog?: AccessLog;
  readonly events?: SecurityEvents;
  /** The config file, for hot reload on change and SIGHUP. */
  readonly configFile?: string;
  /** Watch the config file and reload on change (default: true when configFile is set). */
  readonly watch?: boolean;
  /** Extra services for `upstream: rampart:NAME` routes (the built-in ones are always there). */
  readonly services?: GatewayServices;
  /** Stores to use instead of opening the configured ones (tests); the caller closes them. */
  readonly stores?: ConfiguredStores;
}

interface Listener {
  readonly config: ListenerConfig;
  readonly server: Server | HttpsServer;
}

export class Gateway {
  readonly logger: Logger;
  readonly accessLog: AccessLog;
  readonly events: SecurityEvents;
  readonly metrics: GatewayMetrics;
  #runtime: Runtime;
  #listeners: Listener[] = [];
  #admin: Server | undefined;
  #inFlight = 0;
  /** Calls to deprecated versions and routes per consumer; kept across reloads (admin /deprecations). */
  readonly deprecationUsage = new DeprecationUsage();
  #draining = false;
  #stopping: Promise<void> | undefined;
  #watcher: FSWatcher | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  #reloading: Promise<unknown> = Promise.resolve();
  readonly #configFile: string | undefined;
  readonly #services: GatewayServices;
  #closers: Array<() => Promise<void>> = [];
  #audit: OpenedAudit | undefined;
  #logPrivacy!: Privacy;
  #detection: AnomalyDetection | undefined;
  #stores: ConfiguredStores | undefined;
  #assertions: IdentityAssertionSigner | undefined;
  /** OpenTelemetry spans, when observability.tracing is configured (created once; a reload does not change it). */
  #tracing: Tracing | undefined;
  readonly #accessLogEnabled: boolean;
  readonly #debug: boolean;

  private constructor(
    runtime: Runtime,
    logger: Logger,
    accessLog: AccessLog,
    events: SecurityEvents,
    metrics: GatewayMetrics,
    configFile: string | undefined,
    services: GatewayServices,
  ) {
    this.#services = services;
    this.#runtime = runtime;
    this.metrics = metrics;
    this.logger = logger;
    this.accessLog = accessLog;
    this.events = events;
    this.#configFile = configFile;
    this.#accessLogEnabled = runtime.config.accessLog.enabled;
    this.#debug = logger.isLevelEnabled('debug');
    setRefusedHeadersReporter((names, requestId) => logger.error({ reqId: requestId, headers: names }, 'response headers Node refuses were dropped'));
  }

  /** Builds the runtime, binds every listener and returns once they accept connections. */
  static async start(config: GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
    // Headers that carry secret credentials on any route are redacted wherever a log line holds headers.
    const secretHeaders = [...new Set(config.routes.flatMap((r) => r.secretHeaders))].map((name) => `req.headers[${JSON.stringify(name)}]`);
    const logger =
      options.logger ?? createAppLogger({ level: config.logLevel, redact: [...config.accessLog.redact, ...secretHeaders], destination: 'stdout' });
    const accessLog = options.accessLog ?? new AccessLog({ redact: config.accessLog.redact, destination: config.accessLog.destination });
    // Client addresses in the access log and in security-event lines: hashed or truncated per privacy.addresses,
    // with the audit chain's key when there is one (src/privacy/log-privacy.ts).
    const logPrivacy = resolveLogPrivacy(config, logger);
    const logging = options.events ?? new LoggingSecurityEvents(logger, logPrivacy);
    // The audit chain and the events store (issue 6), when configured, see every event before the log does.
    const audit = await openAuditFromConfig(config, { logger, next: logging, baseDir: options.configFile ? dirname(options.configFile) : undefined });
    const baseEvents: SecurityEvents = audit?.events ?? logging;
    const metrics = new GatewayMetrics();
    // The consumer label's pseudonyms are the ones the logs and the audit chain use (same key).
    metrics.consumers.configure({ ...consumerLabelOptionsOf(config.document), pseudonym: (value) => logPrivacy.pseudonym(value) });
    // Alerts (signed webhooks, grouped) and anomaly detection see every event; detectors also see every finished
    // request (#finished). Their own anomaly.* events come back through `events`, so they are audited and alerted too.
    const destinations = (config.document.alerts as AlertDestinationConfig[] | undefined ?? []).map(resolveAlertDestination);
    const alerts =
      destinations.length === 0 ? undefined : new AlertDispatcher(destinations, { clock: Date.now, privacy: audit?.privacy ?? logPrivacy, log: (message, fields) => logger.warn(fields, message) });
    const fanOut = (event: SecurityEvent) => {
      metrics.securityEvents.inc([event.type]);
      alerts?.emit(event);
      // Declared below: the detectors need `events` as their sink, and nothing is emitted before both exist.
      detection.emit(event);
    };
    const events: SecurityEvents & Partial<DurableSecurityEvents> = {
      emit(event) {
        baseEvents.emit(event);
        fanOut(event);
      },
    };
    if (audit !== undefined) {
      // Routes that require audit wait for their record to be durable (and answer 503 when it cannot be).
      events.emitDurable = (event) => {
        const written = audit.events.emitDurable(event);
        fanOut(event);
        return written;
      };
    }
    // detectors.state: redis shares detector state through the Redis of counters.store; outages and returns are logged.
    const detection = new AnomalyDetection(config.document.detectors as DetectorsConfig, {
      clock: Date.now,
      sink: events,
      counters: countersConfigOf(config.document),
      log: logger.child({ component: 'detectors' }),
    });
    // Stores open only when a policy or service needs them (config.needsStores); the gateway owns what it opened.
    let stores = options.stores;
    const ownsStores = stores === undefined && config.needsStores;
    if (ownsStores) {
      stores = await openConfiguredStores(config, { logger });
      // A sealed value that does not open fails its record's reads only (docs/secrets.md), and it is also a security
      // event: nothing but damage or someone with write access to the store changes a sealed value, so it is counted,
      // stored and alerted on like tampering, not left to one log line at start.
      for (const damaged of stores.damagedSealedValues) {
        events.emit({
          type: 'store.sealed-value-damaged',
          severity: 'high',
          details: { table: damaged.table, recordId: damaged.recordId, reason: damaged.reason },
        });
      }
    }
    const services = new Map<string, GatewayService>([
      ['csp-report', cspReportService(config, events, logger)],
      ['docs', createDocsService(config.cspReport.path)],
    ]);
    const closers: Array<() => Promise<void>> = [];
    let assertions: IdentityAssertionSigner | undefined;
    let tracing: Tracing | undefined;
    try {
      // Loads the OpenTelemetry SDK only when tracing is configured; what is queued is sent at shutdown.
      tracing = await createTracing(tracingConfigOf(config.document), logger);
      if (tracing !== undefined) {
        // A collector that hangs delays the stop by the drain time at most (what is still queued is then lost).
        const opened = tracing;
        closers.push(() => Promise.race([opened.shutdown(), new Promise<void>((resolve) => setTimeout(resolve, config.drainTimeout).unref())]));
      }
      if (config.identity && stores) {
        const identity = await createIdentityService({
          config: config.identity,
          stores: stores.stores,
          pepper: stores.pepper,
          logger: logger.child({ service: 'identity' }),
          events,
          now: Date.now,
        });
        services.set('identity', identity);
        assertions = identity.assertions;
        closers.push(() => identity.close());
      }
    } catch (error) {
      if (ownsStores) await stores!.stores.close();
      await tracing?.shutdown().catch(() => undefined);
      await detection.close();
      await audit?.close();
      throw error;
    }
    for (const [name, service] of options.services ?? []) services.set(name, service);
    // Stop the detector sync, send what is pending and release Redis, before alerts and audit close.
    closers.push(() => detection.close());
    if (ownsStores) closers.push(() => stores!.stores.close());
    // Undelivered alerts get the drain time; the audit stores close last: what the others log on the way out is recorded.
    if (alerts !== undefined) closers.push(() => alerts.close(AbortSignal.timeout(config.drainTimeout)));
    if (audit !== undefined) closers.push(() => audit.close());
    let runtime: Runtime;
    try {
      runtime = await Runtime.build(config, { logger, events, metrics, services, stores: stores?.stores, pepper: stores?.pepper, assertions });
    } catch (error) {
      for (const close of closers) await close().catch(() => undefined);
      throw error;
    }
    const gateway = new Gateway(runtime, logger, accessLog, events, metrics, options.configFile, services);
    gateway.#closers = closers;
    gateway.#audit = audit;
    gateway.#logPrivacy = logPrivacy;
    // privacy.retention: expired and old sessions purged, deprecation usage forgotten, on a timer (the audit chain
    // and the events store prune themselves).
    const retention = retentionOf(config.document.privacy as Record<string, unknown> | undefined, config.document, []);
    if (stores !== undefined || retention.deprecationUsageMs !== undefined) {
      const sweeper = new RetentionSweeper(stores === undefined ? {} : { sessions: stores.stores.sessions }, retention, {
        onError: (error) => logger.error({ err: error }, 'retention sweep failed'),
        onRun: () => {
          if (retention.deprecationUsageMs !== undefined) gateway.deprecationUsage.forgetOlderThan(Date.now() - retention.deprecationUsageMs);
        },
      });
      sweeper.start();
      // Stopped first on shutdown, before the stores it sweeps close.
      closers.unshift(() => sweeper.stop());
    }
    gateway.#detection = detection;
    gateway.#stores = stores;
    gateway.#assertions = assertions;
    gateway.#tracing = tracing;
    if (config.mode === 'development') {
      logger.warn('DEVELOPMENT MODE: plain-HTTP listeners and other relaxed defaults are allowed; never run this in production');
    }
    try {
      await gateway.#bind();
    } catch (error) {
      await gateway.stop();
      throw error;
    }
    if (options.configFile && (options.watch ?? true)) gateway.#watch(options.configFile);
    return gateway;
  }

  get runtime(): Runtime {
    return this.#runtime;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Bound addresses, in config order; `admin` when an admin listener runs. */
  addresses(): { listeners: Array<{ host: string; port: number; tls: boolean }>; admin?: { host: string; port: number } } {
    const listeners = this.#listeners.map((l) => {
      const address = l.server.address() as AddressInfo;
      return { host: address.address, port: address.port, tls: l.config.tls !== undefined };
    });
    const adminAddress = this.#admin?.address() as AddressInfo | undefined;
    return { listeners, ...(adminAddress ? { admin: { host: adminAddress.address, port: adminAddress.port } } : {}) };
  }

  async #bind(): Promise<void> {
    const config = this.#runtime.config;
    for (const listenerConfig of config.listeners) {
      const server = this.#createServer(listenerConfig, config);
      this.#listeners.push({ config: listenerConfig, server });
      await listen(server, listenerConfig.port, listenerConfig.host);
    }
    if (config.admin) {
      this.#admin = createHttpServer((req, res) => this.#handleAdmin(req, res));
      await listen(this.#admin, config.admin.port, config.admin.host);
    }
  }

  #createServer(listener: ListenerConfig, config: GatewayConfig): Server | HttpsServer {
    const options = {
      maxHeaderSize: config.limits.maxHeaderBytes,
      requestTimeout: config.limits.requestTimeout,
      headersTimeout: config.limits.headersTimeout,
      keepAliveTimeout: config.limits.keepAliveTimeout,
      // Node checks the two timeouts above only this often (default 30 s): check often enough that a slow client
      // is cut close to its deadline.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(config.limits.headersTimeout, config.limits.requestTimeout) / 4))),
      // Duplicate headers are examined on rawHeaders; never let Node join or silently drop them for us.
      joinDuplicateHeaders: false,
      // Checked in checkHeaders() instead, so the refusal is a problem+json like every other.
      requireHostHeader: false,
      // Strict parsing: no lenient header or chunk syntax (request smuggling defence, CWE-444).
      insecureHTTPParser: false,
    };
    const handler = (req: IncomingMessage, res: ServerResponse) => this.#handle(req, res, listener);
    const server = listener.tls
      ? createHttpsServer(
          { ...options, ...this.#tlsOptions(listener) },
          handler,
        )
      : createHttpServer(options, handler);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.#clientError(err, socket));
    // Without these, Node answers an unknown Expect with a bare 417 and drops CONNECT without a word: both get a
    // problem+json with a correlation id like every other refusal.
    server.on('checkExpectation', handler);
    server.on('checkContinue', handler);
    server.on('connect', (_req: IncomingMessage, socket: Duplex) =>
      this.#rawProblem(socket, 'RAMPART_ERR_NOT_IMPLEMENTED', 'CONNECT (Rampart is not a forward proxy)', 'connect'),
    );
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#handleUpgrade(req, socket as Socket, head, listener));
    return server;
  }

  #tlsOptions(listener: ListenerConfig) {
    const tls = listener.tls!;
    const clientCa = tls.clientCa;
    return {
      cert: readFileSync(tls.cert),
      key: readFileSync(tls.key),
      minVersion: tls.minVersion,
      ciphers: TLS12_CIPHERS,
      honorCipherOrder: true,
      // Mutual TLS: ask for a client certificate verified against clientCa only (never the system roots). With
      // `request`, a client without a valid one still connects and the mtls policy answers 401 with the reason.
      ...(clientCa === undefined
        ? {}
        : { ca: clientCa.map((file) => readFileSync(file)), requestCert: true, rejectUnauthorized: tls.clientCert === 'require' }),
    };
  }

  /** Answers protocol-level errors (malformed request line or headers, oversized headers, timeouts) and closes. */
  #clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const errCode = err.code ?? '';
    // Bytes after a request that said `Connection: close`: RFC 9112 §9.6 says not to process them. Its answer may
    // still be on its way on this socket (a raw 400 here would be mixed into it and misreport a request the upstream
    // ran); Node closes the connection once that answer is sent.
    if (errCode === 'HPE_CLOSED_CONNECTION') return;
    if (errCode === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    let code: ErrorCode = 'RAMPART_ERR_MALFORMED_REQUEST';
    if (errCode === 'HPE_HEADER_OVERFLOW') code = 'RAMPART_ERR_HEADERS_TOO_LARGE';
    else if (errCode === 'ERR_HTTP_REQUEST_TIMEOUT' || errCode === 'HPE_HEADERS_TIMEOUT') code = 'RAMPART_ERR_REQUEST_TIMEOUT';
    this.#rawProblem(socket, code, errCode || err.message, errCode || 'client-error');
  }

  /** A problem written straight to a socket that has no HTTP response object (protocol-level refusals), then closed. */
  #rawProblem(socket: Duplex, code: ErrorCode, detail: string, reason: string): void {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const requestId = randomUUID();
    this.metrics.rejected.labels(reason).inc();
    this.logger.info({ reqId: requestId, code, detail }, 'request refused at the protocol level');
    const body = problemBody(code, requestId);
    const { status, title } = ERRORS[code];
    socket.end(
      `HTTP/1.1 ${status} ${title}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestId}\r\ncache-control: no-store\r\n${RAW_PROBLEM_SECURITY_HEADERS}connection: close\r\n\r\n${body}`,
    );
  }

  #context(req: IncomingMessage, res: ServerResponse, listener: ListenerConfig, runtime: Runtime, started: number): GatewayContext {
    const socket = req.socket;
    const peer = normalizeAddress(socket.remoteAddress ?? '');
    const trusted = runtime.trustedProxies.has(peer);
    let requestId: string | undefined;
    let secure = listener.tls !== undefined;
    let client = peer;
    if (trusted) {
      const forwardedFor = req.headers['x-forwarded-for'];
      client = resolveClientAddress(peer, typeof forwardedFor === 'string' ? forwardedFor : undefined, runtime.trustedProxies);
      const incoming = req.headers['x-request-id'];
      if (typeof incoming === 'string' && REQUEST_ID.test(incoming)) requestId = incoming;
      if (req.headers['x-forwarded-proto'] === 'https') secure = true;
    }
    return new GatewayContext(req, res, runtime, requestId ?? randomUUID(), client, peer, secure, trusted, started);
  }

  #handle(req: IncomingMessage, res: ServerResponse, listener: ListenerConfig): void {
    if (!res.socket) {
      // A pipelined request (RFC 9112 §9.3.2): answers go out in request order, so it waits for the ones before it
      // and starts when its response gets the connection. If the connection closes first (the client left, or an
      // earlier answer said `connection: close`), it never starts: nothing goes upstream, possibly with side
      // effects, for a client that cannot get the answer, and nothing is left counted in flight (Node drops a
      // queued response without a 'close' event, which would otherwise leak into load shedding and drains).
      res.once('socket', () => this.#handle(req, res, listener));
      return;
    }
    const started = performance.now();
    const runtime = this.#runtime;
    const ctx = this.#context(req, res, listener, runtime, started);
    const tracing = this.#tracing;
    if (tracing !== undefined) ctx.trace = tracing.start(req, ctx.method, ctx.requestId, ctx.secure);
    this.#inFlight++;
    runtime.enter();
    res.once('close', () => {
      // The client went away before its answer was complete: stop the upstream work too, and start none.
      if (!res.writableFinished) {
        ctx.clientGone = true;
        ctx.abortUpstream?.();
      }
      this.#finished(ctx);
    });
    if (this.#draining) res.shouldKeepAlive = false;
    if (req.headers.expect !== undefined && req.headers.expect.trim().toLowerCase() === '100-continue') this.#deferContinue(ctx);
    if (this.#debug) {
      // Debug only: the request as received. Credentials are redacted by the logger (observe/logger.ts).
      // The query is left out: it may carry credentials (api keys, tokens) that no log may hold.
      this.logger.debug({ reqId: ctx.requestId, req: { method: req.method, path: (req.url ?? '').split('?')[0], headers: req.headers } }, 'request received');
    }
    try {
      this.#route(ctx, listener, runtime);
    } catch (error) {
      this.#internalError(ctx, error);
    }
  }

  /**
   * `Expect: 100-continue` (through 'checkContinue', #createServer): Node would send `100 Continue` at once, before
   * any policy ran, and an unauthenticated client would upload its body. The interim answer is sent instead when
   * something starts reading the body (body.ts releaseBody). Until then the connection is marked to close: a
   * request refused without it leaves a body the client may still send, which must never be parsed as the next
   * request (RFC 9110 §10.1.1 lets the server close instead of reading it).
   */
  #deferContinue(ctx: GatewayContext): void {
    const res = ctx.res;
    const keepAlive = res.shouldKeepAlive;
    res.shouldKeepAlive = false;
    ctx.locals[CONTINUE_KEY] = () => {
      if (res.headersSent || res.destroyed) return;
      res.writeContinue();
      res.shouldKeepAlive = keepAlive && !this.#draining;
    };
  }

  /** Everything before the policies: checks that need no route, then routing. Returns the route or undefined when answered. */
  #preflight(ctx: GatewayContext, runtime: Runtime): CompiledRoute | undefined {
    const config = runtime.config;
    const req = ctx.req;
    if (config.limits.maxInFlight > 0 && this.#inFlight > config.limits.maxInFlight) {
      this.#refuse(ctx, runtime, 'RAMPART_ERR_OVERLOADED', 'load shedding: too many requests in flight', 'overload');
      return undefined;
    }
    const url = req.url ?? '';
    if (url.length > config.limits.maxUrlLength) {
      this.#refuse(ctx, runtime, 'RAMPART_ERR_URI_TOO_LONG', `request-target of ${url.length} bytes`, 'uri-too-long');
      return undefined;
    }
    const headerProblem = checkHeaders(req);
    if (headerProblem !== undefined) {
      this.#refuse(ctx, runtime, 'RAMPART_ERR_BAD_HEADER', headerProblem, 'header');
      return undefined;
    }
    // Node's parser reads `HTTP/2.0` (or 3.0) in a request line as that version and would let it through as
    // HTTP/1.1; these listeners speak HTTP/1.x only (RFC 9112 §2.3: 505 for a major version not supported).
    if (req.httpVersionMajor !== 1) {
      this.#refuse(ctx, runtime, 'RAMPART_ERR_HTTP_VERSION_NOT_SUPPORTED', `HTTP/${req.httpVersion} request line`, 'http-version');
      return undefined;
    }
    // Node's parser takes `gzip, chunked` as chunked and the coding would be dropped on the way upstream: what the
    // policies read and what the client meant would differ. Only chunked is understood (RFC 9112 §6.1: 501).
    const transferEncoding = req.headers['transfer-encoding'];
    if (transferEncoding !== undefined && transferEncoding.trim().toLowerCase() !== 'chunked') {
      this.#refuse(ctx, runtime, 'RAMPART_ERR_NOT_IMPLEMENTED', 'transfer coding other than chunked', 'transfer-coding');
      return undefined;
    }
    // Reached through 'checkExpectation' (#createServer): 100-continue is the only expectation defined (RFC 9110 §10.1.1).
    const expectation = req.headers.expect;
    if (expectation !== undefined && expectation.trim().toLowerCase() !== '100-continue') {
      this.#refuse(ctx, runtime, 'RAMPART_ERR_EXPECTATION_FAILED', 'unsupported Expect', 'expect');
      return undefined;
    }
    const canonical = canonicalizeRequestTarget(url, { allowSemicolons: config.paths.allowSemicolons, maxLength: config.limits.maxUrlLength });
    if (!canonical.ok) {
      this.#refuse(ctx, runtime, 'RAMPART_ERR_AMBIGUOUS_PATH', canonical.reason, 'path');
      this.events.emit({
        type: 'request.path-rejected',
        severity: 'low',
        requestId: ctx.requestId,
        clientAddress: ctx.clientAddress,
        details: { reason: canonical.reason },
      });
      return undefined;
    }
    ctx.path = canonical.path;
    ctx.query = canonical.query;
    if (ctx.path === config.cspReport.path) {
      ctx.routeId = 'csp-report';
      releaseBody(ctx);
      runtime.cspReport(req, ctx.res, ctx);
      return undefined;
    }
    // The router takes the Host header as sent (port, brackets of an IPv6 literal and case are its business).
    const host = req.headers.host;
    // A CORS preflight (Fetch standard §3.2.2) asks about the method it announces: route it by that method, so the
    // route's own cors policy answers it. A route without one grants no cross-origin access: its preflight is refused.
    const preflightMethod = ctx.method === 'OPTIONS' && req.headers.origin !== undefined ? req.headers['access-control-request-method'] : undefined;
    const routedMethod = preflightMethod ?? ctx.method;
    const match = runtime.router.match(routedMethod, host, ctx.path);
    if (match.kind === 'not-found') {
      const versions =
        runtime.pathVersionedApis.length === 0
          ? undefined
          : unknownPathVersion(ctx.path, runtime.pathVersionedApis, (path, api) => {
              const other = runtime.router.match(routedMethod, host, path);
              return other.kind === 'found' && other.value.config.api?.api === api;
            });
      if (versions !== undefined) {
        for (const step of runtime.fallbackSteps) step.run(ctx);
        this.#answer(ctx, { kind: 'problem', code: 'RAMPART_ERR_VERSION_UNKNOWN', detail: 'path names no version of its API', extensions: { supportedVersions: versions } });
        return undefined;
      }
      this.#refuse(ctx, runtime, 'RAMPART_ERR_ROUTE_NOT_FOUND', undefined, undefined);
      return undefined;
    }
    if (match.kind === 'method-not-allowed') {
      this.#refuse(ctx, runtime, 'RAMPART_ERR_METHOD_NOT_ALLOWED', undefined, undefined, { allow: match.allow.join(', ') });
      return undefined;
    }
    let route = match.value;
    ctx.route = route;
    ctx.routeId = route.id;
    ctx.params = match.params;
    if (route.config.api !== undefined) {
      const chosen = this.#selectVersion(ctx, runtime, route);
      if (chosen === undefined) return undefined;
      route = chosen;
    }
    if (!route.config.exposeDocs && route.service === undefined && DOCUMENTATION_PATH.test(ctx.path)) {
      // The upstream's own API documentation is a map for attackers (OWASP API9:2023 improper inventory): it is
      // served by Rampart to principals with docs:read, never passed through unless the route says exposeDocs.
      this.#refuse(ctx, runtime, 'RAMPART_ERR_ROUTE_NOT_FOUND', 'upstream documentation path refused (exposeDocs: false)', 'docs-path');
      return undefined;
    }
    if (preflightMethod !== undefined && !route.handlesPreflight) {
      for (const step of runtime.fallbackSteps) step.run(ctx);
      this.#answer(ctx, { kind: 'problem', code: 'RAMPART_ERR_CORS_PREFLIGHT_DENIED', detail: 'route has no cors policy' });
      return undefined;
    }
    return route;
  }

  /**
   * Routes of `apis:`: picks the version a header or media type names (the route table holds one route per
   * group), strips the version prefix for the contract and the upstream, and answers for deprecated versions and
   * routes (RFC 9745/8594 headers on every answer; brownouts and 410 after the sunset).
   */
  #selectVersion(ctx: GatewayContext, runtime: Runtime, tabled: CompiledRoute): CompiledRoute | undefined {
    let route = tabled;
    let api = route.config.api!;
    if (api.groupKey !== undefined) {
      const chosen = versionProblem(api, requestedVersion(ctx.req, api));
      if (typeof chosen !== 'string') {
        for (const step of runtime.fallbackSteps) step.run(ctx);
        this.#answer(ctx, chosen);
        return undefined;
      }
      route = runtime.versionGroups.get(api.groupKey)!.get(chosen)!;
      api = route.config.api!;
      ctx.route = route;
      ctx.routeId = route.id;
    }
    if (api.stripPrefix !== undefined) ctx.apiPath = ctx.path.length === api.stripPrefix.length ? '/' : ctx.path.slice(api.stripPrefix.length);
    if (api.deprecation !== undefined) {
      const answer = deprecationAnswer(api.deprecation);
      ctx.responseHeaders.push(...answer.headers);
      const refusal = deprecationRefusal(answer, Date.now());
      if (refusal !== undefined) {
        for (const step of runtime.fallbackSteps) step.run(ctx);
        this.#answer(ctx, refusal);
        return undefined;
      }
      ctx.deprecated = true;
    }
    return route;
  }

  #route(ctx: GatewayContext, listener: ListenerConfig, runtime: Runtime): void {
    if (!listener.tls && listener.http !== 'serve') {
      this.#plainHttp(ctx, listener, runtime);
      return;
    }
    const route = this.#preflight(ctx, runtime);
    if (route === undefined) return;
    const declared = ctx.req.headers['content-length'];
    if (declared !== undefined && Number(declared) > route.maxBodyBytes) {
      ctx.bytesIn = 0;
      // Answered before the route's policies run: the gateway-wide security headers still apply (found by the
      // scanner's posture check: a 413 without CSP and nosniff).
      for (const step of runtime.fallbackSteps) step.run(ctx);
      this.#answer(ctx, { kind: 'problem', code: 'RAMPART_ERR_BODY_TOO_LARGE', detail: `content-length ${declared}` }, true);
      return;
    }
    if (declared !== undefined) ctx.bytesIn = Number(declared);
    if ((ctx.req.headers.upgrade ?? '') !== '' && ctx.req.headers.connection?.toLowerCase().includes('upgrade')) {
      // An upgrade attempt that reached the request handler (e.g. h2c): never forwarded as an upgrade.
      ctx.req.headers.upgrade = undefined;
    }
    this.#runSteps(ctx, route, 0, route.service === undefined ? () => this.#forward(ctx, route) : () => this.#serve(ctx, route.service!));
  }

  /**
   * Runs the route's policy steps from `from`; calls `next` when every step let the request continue.
   * Synchronous steps run in a plain loop; the first asynchronous answer continues the loop from its `then`.
   */
  #runSteps(ctx: GatewayContext, route: CompiledRoute, from: number, next: () => void): void {
    const steps = route.steps;
    const trace = ctx.trace;
    for (let i = from; i < steps.length; i++) {
      const step = steps[i]!;
      if (trace !== undefined) trace.enterPhase(step.phase);
      if (i === route.firstAuthenticator && route.credentialProbes.length > 1 && presentsSeveralCredentials(ctx, route)) {
        // RFC 6750 §3.1: more than one method of presenting a credential is an invalid request; never pick one.
        ctx.answeredBy = PIPELINE_AUTHENTICATION;
        this.#answer(ctx, {
          kind: 'problem',
          code: 'RAMPART_ERR_CREDENTIAL_CONFLICT',
          detail: 'more than one kind of credential',
          headers: { 'www-authenticate': 'Bearer error="invalid_request"' },
        });
        return;
      }
      let outcome: Outcome | Promise<Outcome>;
      try {
        outcome = step.run(ctx);
      } catch (error) {
        this.#internalError(ctx, error, step.policy);
        return;
      }
      if (outcome === undefined) {
        if (step.authenticator) i = step.afterAuthenticators - 1;
        continue;
      }
      if (outcome instanceof Promise) {
        outcome.then(
          (resolved) => {
            if (ctx.res.destroyed) return;
            const resume = this.#after(ctx, step, i, resolved);
            if (resume >= 0) this.#runSteps(ctx, route, resume, next);
          },
          (error: unknown) => this.#internalError(ctx, error, step.policy),
        );
        return;
      }
      const resume = this.#after(ctx, step, i, outcome);
      if (resume < 0) return;
      i = resume - 1;
    }
    if (trace !== undefined) trace.endPhase();
    next();
  }

  /** Applies one step's outcome; returns the index to continue from, or -1 when the request was answered. */
  #after(ctx: GatewayContext, step: PolicyStep, index: number, outcome: Outcome): number {
    if (outcome === undefined) return step.authenticator ? step.afterAuthenticators : index + 1;
    if (outcome === NOT_RESPONSIBLE) {
      // The next authenticator tries; when none is left, no credential of any accepted kind was presented.
      if (step.authenticator && index + 1 < step.afterAuthenticators) return index + 1;
      if (step.authenticator) {
        const route = ctx.route!;
        ctx.answeredBy = PIPELINE_AUTHENTICATION;
        if (presentsAnyCredential(ctx, route)) {
          // A credential was presented but no accepted method recognised it (e.g. a token of another issuer).
          this.#answer(ctx, {
            kind: 'problem',
            code: 'RAMPART_ERR_INVALID_CREDENTIAL',
            detail: 'no authenticator recognised the credential',
            headers: { 'www-authenticate': `${route.challenge}, error="invalid_token"` },
          });
          return -1;
        }
        this.#answer(ctx, { kind: 'problem', code: 'RAMPART_ERR_UNAUTHENTICATED', detail: 'no credential', headers: { 'www-authenticate': route.challenge } });
        return -1;
      }
      return index + 1;
    }
    ctx.answeredBy = step;
    this.#answer(ctx, outcome);
    return -1;
  }

  #answer(ctx: GatewayContext, respond: Respond, closeConnection = false): void {
    answerOutcome(ctx, respond, closeConnection);
  }

  /** Answers a request that no route owns, with the gateway-wide security headers. */
  #refuse(
    ctx: GatewayContext,
    runtime: Runtime,
    code: ErrorCode,
    detail: string | undefined,
    reason: string | undefined,
    headers?: Record<string, string>,
  ): void {
    if (reason) this.metrics.rejected.labels(reason).inc();
    for (const step of runtime.fallbackSteps) step.run(ctx);
    this.#answer(ctx, { kind: 'problem', code, detail, headers }, CLOSE_AFTER_REFUSAL.has(code));
  }

  #plainHttp(ctx: GatewayContext, listener: ListenerConfig, runtime: Runtime): void {
    for (const step of runtime.fallbackSteps) step.run(ctx);
    const canonical = canonicalizeRequestTarget(ctx.req.url ?? '', {
      allowSemicolons: runtime.config.paths.allowSemicolons,
      maxLength: runtime.config.limits.maxUrlLength,
    });
    // The redirect target is built from Host: only a well-formed, unambiguous Host may become a Location
    // (otherwise `Host: good@evil` is an open redirect).
    const headerProblem = checkHeaders(ctx.req);
    const host = headerProblem === undefined ? hostWithoutPort(ctx.req.headers.host) : undefined;
    if (listener.http === 'refuse' || !canonical.ok || host === undefined || host === '') {
      this.#answer(ctx, { kind: 'problem', code: 'RAMPART_ERR_HTTPS_REQUIRED', detail: 'plain HTTP refused' });
      return;
    }
    const port = listener.redirectPort ?? 443;
    const authority = host.includes(':') ? `[${host}]` : host;
    const location = `https://${authority}${port === 443 ? '' : `:${port}`}${canonical.path}${canonical.query ? `?${canonical.query}` : ''}`;
    // 308 keeps the method and body (RFC 9110 §15.4.9), unlike 301.
    sendDirect(ctx.res, 308, ctx.requestId, ctx.responseHeaders, { location, 'cache-control': 'no-store' });
  }

  #forward(ctx: GatewayContext, route: CompiledRoute): void {
    // Nobody would receive the answer (the connection closed while the policies ran, or a pipelined request
    // outlived its connection): the upstream must not do work, possibly with side effects, for nothing.
    if (ctx.clientGone) return;
    this.#withIdentityAssertion(ctx, route, () => forward(ctx, route));
  }

  /** Signs the identity assertion first when the route passes the principal as a JWT (cached per principal). */
  #withIdentityAssertion(ctx: GatewayContext, route: CompiledRoute, next: () => void): void {
    const assertion = route.identityAssertion;
    const principal = ctx.principal;
    if (assertion === undefined || principal === undefined) {
      next();
      return;
    }
    const cached = assertion.signer.cached(principal, assertion.audience);
    if (cached !== undefined) {
      ctx.locals[IDENTITY_ASSERTION_KEY] = cached;
      next();
      return;
    }
    assertion.signer.sign(principal, assertion.audience).then(
      (token) => {
        if (ctx.res.destroyed) return;
        ctx.locals[IDENTITY_ASSERTION_KEY] = token;
        next();
      },
      (error: unknown) => this.#internalError(ctx, error, 'identity assertion'),
    );
  }

  #serve(ctx: GatewayContext, service: GatewayService): void {
    try {
      const done = service.handle(ctx);
      if (done instanceof Promise) done.catch((error: unknown) => this.#internalError(ctx, error, `service ${service.name}`));
    } catch (error) {
      this.#internalError(ctx, error, `service ${service.name}`);
    }
  }

  #internalError(ctx: GatewayContext, error: unknown, policy?: string): void {
    ctx.errorCode = 'RAMPART_ERR_INTERNAL';
    ctx.errorDetail = policy ? `policy ${policy} failed` : 'gateway error';
    this.logger.error({ reqId: ctx.requestId, route: ctx.routeId, policy, err: error }, 'internal error while handling a request');
    if (ctx.res.headersSent) ctx.res.destroy();
    else sendProblem(ctx.res, 'RAMPART_ERR_INTERNAL', ctx.requestId, ctx.responseHeaders);
  }

  #finished(ctx: GatewayContext): void {
    this.#inFlight--;
    ctx.runtime.leave();
    ctx.abortUpstream = undefined;
    const res = ctx.res;
    // 499 (client closed first, as nginx logs it) unless the answer completed or became a WebSocket tunnel.
    const status = res.writableFinished || res.statusCode === 101 ? res.statusCode : 499;
    const elapsed = performance.now() - ctx.startedAt;
    const metrics = ctx.route?.metrics ?? ctx.runtime.unroutedMetrics;
    const seconds = elapsed / 1000;
    metrics.countRequest(status);
    metrics.duration.observe(seconds);
    const consumer = this.metrics.consumers.labelOf(ctx.principal);
    metrics.observeConsumer(consumer, status, seconds);
    if (ctx.errorCode !== undefined) {
      if (ctx.errorCode === 'RAMPART_ERR_RATE_LIMITED') this.metrics.rejected.labels('rate-limit').inc();
      this.metrics.countRefusal(metrics.route, ctx.errorCode, ctx.answeredBy, ctx.route?.service?.name, ctx.errorDetail, consumer);
    }
    // An authorization denial (request or response side) left its deciding rule: counted with the consumer.
    const deniedRule = ctx.locals[DENIED_RULE_KEY];
    if (typeof deniedRule === 'string') this.metrics.countDenial(metrics.route, deniedRule, consumer);
    const trace = ctx.trace;
    if (trace !== undefined) {
      trace.finish({
        status,
        path: ctx.path,
        routeId: ctx.routeId,
        routeTemplate: ctx.route?.config.path,
        errorCode: ctx.errorCode,
        refusedBy: ctx.answeredBy?.policy,
      });
    }
    this.#detection?.observe({
      at: Date.now(),
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      method: ctx.method,
      status,
      clientAddress: ctx.clientAddress,
      principal: ctx.principal?.subject,
      credentialId: ctx.principal?.credentialId,
      objectId: ctx.locals[AUTHORIZED_OBJECT_KEY] as string | undefined,
      admin: ctx.route?.config.sensitivity === 'admin',
    });
    if (ctx.deprecated) this.deprecationUsage.record(ctx.route!, ctx.principal, Date.now());
    if (this.#accessLogEnabled) {
      this.accessLog.write({
        reqId: ctx.requestId,
        client: this.#logPrivacy.address(ctx.clientAddress) ?? '',
        method: ctx.method,
        path: ctx.path,
        route: ctx.routeId,
        status,
        bytesIn: ctx.bytesIn,
        bytesOut: ctx.bytesOut,
        ms: elapsed,
        upstreamMs: ctx.upstreamMs,
        error: ctx.errorCode,
      });
    }
    if (ctx.errorCode !== undefined && ctx.errorDetail !== undefined) {
      // The details for the generic problem the client saw, under the same correlation id.
      this.logger.info({ reqId: ctx.requestId, route: ctx.routeId, code: ctx.errorCode, detail: ctx.errorDetail }, 'request answered with a problem');
    }
  }

  /** WebSocket (RFC 6455) handshakes run the same canonical path, routing and policies as any request. */
  #handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, listener: ListenerConfig): void {
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.shouldKeepAlive = false;
    const started = performance.now();
    const runtime = this.#runtime;
    const ctx = this.#context(req, res, listener, runtime, started);
    const tracing = this.#tracing;
    if (tracing !== undefined) ctx.trace = tracing.start(req, ctx.method, ctx.requestId, ctx.secure);
    this.#inFlight++;
    runtime.enter();
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      this.#finished(ctx);
    };
    socket.once('close', finish);
    res.once('finish', () => socket.end());
    socket.on('error', () => socket.destroy());
    try {
      if (!listener.tls && listener.http !== 'serve') {
        this.#plainHttp(ctx, listener, runtime);
        return;
      }
      const route = this.#preflight(ctx, runtime);
      if (route === undefined) return;
      if (!route.websocket || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || req.method !== 'GET') {
        this.#answer(ctx, { kind: 'problem', code: 'RAMPART_ERR_BAD_REQUEST', detail: 'upgrade not allowed on this route' });
        return;
      }
      this.#runSteps(ctx, route, 0, () => this.#withIdentityAssertion(ctx, route, () => this.#tunnel(ctx, route, socket, head)));
    } catch (error) {
      this.#internalError(ctx, error);
    }
  }

  #tunnel(ctx: GatewayContext, route: CompiledRoute, socket: Socket, head: Buffer): void {
    const target = route.upstream.pick();
    if (target === null) {
      this.#answer(ctx, { kind: 'problem', code: 'RAMPART_ERR_NO_HEALTHY_UPSTREAM' });
      return;
    }
    route.upstream.noteRequest();
    route.upstream.start(target);
    const headers = upstreamRequestHeaders(ctx, target, route.preserveHost, route.secretHeaders, route.identityAssertion?.header);
    const path = ctx.query === '' ? target.basePath + ctx.path : `${target.basePath}${ctx.path}?${ctx.query}`;
    const span = ctx.trace?.startUpstream({ method: 'GET', origin: target.origin, path: target.basePath + ctx.path, attempt: 0 });
    if (span?.traceparent !== undefined) replaceTraceHeaders(headers, span.traceparent, span.tracestate);
    const started = performance.now();
    target.pool
      .upgrade({ path, method: 'GET', headers: headerObject(headers), protocol: 'websocket' })
      .then(({ headers: upstreamHeaders, socket: upstream }) => {
        ctx.upstreamMs = performance.now() - started;
        route.upstream.finish(target, 'success');
        span?.status(101);
        span?.end();
        if (socket.destroyed) {
          upstream.destroy();
          return;
        }
        let head101 = 'HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n';
        for (const [name, value] of Object.entries(upstreamHeaders)) {
          const lower = name.toLowerCase();
          if (HOP_BY_HOP.has(lower) || BANNER_HEADERS.has(lower) || value === undefined) continue;
          for (const v of Array.isArray(value) ? value : [value]) head101 += `${lower}: ${v}\r\n`;
        }
        head101 += `x-request-id: ${ctx.requestId}\r\n\r\n`;
        socket.write(head101);
        ctx.res.statusCode = 101;
        if (head.length > 0) upstream.write(head);
        upstream.on('error', () => socket.destroy());
        socket.on('error', () => upstream.destroy());
        upstream.on('close', () => socket.destroy());
        socket.on('close', () => upstream.destroy());
        upstream.pipe(socket);
        socket.pipe(upstream);
      })
      .catch((error: NodeJS.ErrnoException) => {
        span?.end(error.code ?? error.name);
        route.upstream.finish(target, error.code === 'ECONNREFUSED' ? 'connect-error' : 'server-error');
        this.#answer(ctx, { kind: 'problem', code: 'RAMPART_ERR_UPSTREAM_ERROR', detail: `websocket upgrade failed: ${error.code ?? error.message}` });
      });
  }

  async #handleAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-request-id': requestId });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendProblem(res, 'RAMPART_ERR_METHOD_NOT_ALLOWED', requestId, [], { allow: 'GET, HEAD' });
      return;
    }
    if (path === '/healthz') {
      json(200, { status: 'ok' });
      return;
    }
    if (path === '/readyz') {
      // With audit.required, a gateway that cannot make its records durable is not ready for traffic.
      const auditDown = this.#audit?.settings.audit?.required === true && !this.#audit.events.healthy;
      const ready = !this.#draining && !auditDown && this.#listeners.every((l) => l.server.listening);
      const upstreams = this.#runtime.routes.map((r) => ({ route: r.id, targets: r.upstream.status() }));
      json(ready ? 200 : 503, { status: ready ? 'ready' : 'not-ready', draining: this.#draining, upstreams });
      return;
    }
    if (path === '/deprecations') {
      json(200, this.deprecationUsage.snapshot());
      return;
    }
    if (path === '/metrics') {
      try {
        const text = await this.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType, 'x-request-id': requestId });
        res.end(text);
      } catch (error) {
        this.logger.error({ reqId: requestId, err: error }, 'metrics collection failed');
        sendProblem(res, 'RAMPART_ERR_INTERNAL', requestId);
      }
      return;
    }
    sendProblem(res, 'RAMPART_ERR_ROUTE_NOT_FOUND', requestId);
  }

  /**
   * Replaces the running config. The new runtime is fully built first (policies created, pools opened); a
   * failure leaves the old one serving. In-flight requests finish on the runtime they started with.
   */
  async reload(config: GatewayConfig): Promise<void> {
    const current = this.#runtime;
    if (JSON.stringify(listenerKey(config)) !== JSON.stringify(listenerKey(current.config))) {
      this.logger.warn('listener or admin settings changed: they take effect at the next restart; routes and policies reload now');
    }
    if (config.needsStores && this.#stores === undefined) {
      throw new Error('the new configuration needs stored identities (storage:), which this process did not open: restart the gateway');
    }
    if (this.#stores !== undefined && countersConfigOf(config.document).store !== countersConfigOf(current.config.document).store) {
      // The brute-force counters live in the stores, opened once: a half-applied change would split them.
      throw new Error('counters.store changed: the stores (and their brute-force counters) are opened once: restart the gateway');
    }
    if (this.#stores?.keyring !== undefined && config.masterKey !== undefined) {
      // A master key rotated with `rampart keyring rotate` takes over here; a key that does not open the ring fails
      // the reload and the old config keeps serving.
      this.#stores.keyring.adoptMasterKey(parseMasterKey(config.masterKey));
    }
    if (JSON.stringify(tracingConfigOf(config.document)) !== JSON.stringify(tracingConfigOf(current.config.document))) {
      this.logger.warn('observability.tracing changed: it takes effect at the next restart');
    }
    const next = await Runtime.build(config, {
      logger: this.logger,
      events: this.events,
      metrics: this.metrics,
      services: this.#services,
      stores: this.#stores?.stores,
      pepper: this.#stores?.pepper,
      assertions: this.#assertions,
    });
    // TLS certificates and keys reload without dropping connections (new handshakes use the new context).
    for (const listener of this.#listeners) {
      const replacement = config.listeners.find((l) => l.port === listener.config.port && l.host === listener.config.host);
      if (replacement?.tls && 'setSecureContext' in listener.server) {
        try {
          listener.server.setSecureContext(this.#tlsOptions(replacement));
        } catch (error) {
          await next.close(0);
          throw new Error(`TLS certificate or key could not be loaded: ${(error as Error).message}`, { cause: error });
        }
      }
    }
    this.#runtime = next;
    this.metrics.consumers.configure({ ...consumerLabelOptionsOf(config.document), pseudonym: (value) => this.#logPrivacy.pseudonym(value) });
    void current.close(next.config.drainTimeout);
    // What changed, by name and id (never a value: config/change.ts), so the audit chain shows more than "a reload".
    const change = describeConfigChange(current.config.document, config.document);
    this.logger.info({ routes: config.routes.length, change }, 'configuration reloaded');
    this.events.emit({ type: 'config.reloaded', severity: 'info', details: { routes: config.routes.length, sections: change.sections, routeChanges: change.routes, apiChanges: change.apis } });
  }

  /** Reloads from the config file; an invalid file is refused and logged, and the old config keeps serving. */
  reloadFromFile(): Promise<{ ok: boolean; errors: string[] }> {
    const file = this.#configFile;
    if (!file) return Promise.resolve({ ok: false, errors: ['no config file to reload from'] });
    const run = this.#reloading.then(async () => {
      const result = loadConfigFile(file);
      if (!result.ok) {
        this.logger.error({ errors: result.errors }, 'configuration reload refused: the running configuration keeps serving');
        this.events.emit({ type: 'config.reload-refused', severity: 'medium', details: { errors: result.errors.length } });
        return { ok: false, errors: result.errors };
      }
      try {
        await this.reload(result.config);
        return { ok: true, errors: [] };
      } catch (error) {
        this.logger.error({ err: error }, 'configuration reload failed: the running configuration keeps serving');
        return { ok: false, errors: [(error as Error).message] };
      }
    });
    this.#reloading = run;
    return run;
  }

  #watch(file: string): void {
    // Watch the directory, not the file: editors and config-management tools replace files by rename.
    const name = basename(file);
    try {
      this.#watcher = watch(dirname(file), (_event, changed) => {
        if (changed !== name) return;
        clearTimeout(this.#reloadTimer);
        this.#reloadTimer = setTimeout(() => void this.reloadFromFile(), 150);
        this.#reloadTimer.unref();
      });
      this.#watcher.unref();
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot watch the config file; reload with SIGHUP');
    }
  }

  /**
   * Graceful shutdown: stop accepting, let in-flight requests finish up to the drain deadline (idle keep-alive
   * connections close at once, busy ones after their response), then close everything.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#draining = true;
    this.#watcher?.close();
    clearTimeout(this.#reloadTimer);
    const deadline = this.#runtime.config.drainTimeout;
    const closed = this.#listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve())));
    for (const l of this.#listeners) l.server.closeIdleConnections();
    const start = Date.now();
    while (this.#inFlight > 0 && Date.now() - start < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (const l of this.#listeners) l.server.closeIdleConnections();
    }
    for (const l of this.#listeners) l.server.closeAllConnections();
    await Promise.all(closed);
    const runtimeClosed = this.#runtime.close(0);
    if (this.#admin) {
      const admin = this.#admin;
      await new Promise<void>((resolve) => {
        admin.close(() => resolve());
        admin.closeAllConnections();
      });
    }
    await runtimeClosed;
    for (const close of this.#closers) await close().catch((error: unknown) => this.logger.error({ err: error }, 'error while closing'));
    await this.accessLog.flush();
    await flushLogger(this.logger);
  }
}

/** CSP violation reports as a service, for routes that want policies (rate limits, ip-restriction) in front. */
function cspReportService(config: GatewayConfig, events: SecurityEvents, logger: Logger): GatewayService {
  const handler = createCspReportHandler({ maxBytes: config.cspReport.maxBytes, events, logger });
  return { name: 'csp-report', handle: (ctx) => handler(ctx.req, ctx.res, ctx) };
}

function listen(server: Server | HttpsServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function listenerKey(config: GatewayConfig): unknown {
  return { listeners: config.listeners.map((l) => ({ host: l.host, port: l.port, tls: !!l.tls, http: l.http })), admin: config.admin };
}

function hostWithoutPort(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? undefined : host.slice(1, end).toLowerCase();
  }
  const colon = host.indexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}

/**
 * Header checks Node's parser leaves to us: a repeated Host (which one would the upstream use?), repeated
 * Content-Length or Transfer-Encoding (request smuggling, RFC 9112 §6.3), and a Host that is not a host.
 */
/**
 * Security headers of a problem written before any route or config applies (#rawProblem): the strictest ones, which
 * suit a JSON error body in any context (OWASP HTTP Headers Cheat Sheet: nosniff; a CSP that allows nothing).
 */
const RAW_PROBLEM_SECURITY_HEADERS = "x-content-type-options: nosniff\r\ncontent-security-policy: default-src 'none'; frame-ancestors 'none'\r\n";

/**
 * Refusals after which the connection is closed: the rest of what the client sent (a body of unknown framing, or
 * one it meant to send only on 100 Continue) cannot be trusted to end where the next request would start.
 */
const CLOSE_AFTER_REFUSAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'RAMPART_ERR_BAD_HEADER',
  'RAMPART_ERR_URI_TOO_LONG',
  'RAMPART_ERR_NOT_IMPLEMENTED',
  'RAMPART_ERR_EXPECTATION_FAILED',
  'RAMPART_ERR_HTTP_VERSION_NOT_SUPPORTED',
]);

function checkHeaders(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  let hosts = 0;
  let lengths = 0;
  let encodings = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const len = name.length;
    if (len === 4 && name.toLowerCase() === 'host') hosts++;
    else if (len === 14 && name.toLowerCase() === 'content-length') lengths++;
    else if (len === 17 && name.toLowerCase() === 'transfer-encoding') encodings++;
  }
  if (hosts > 1) return 'more than one Host header';
  if (lengths > 1) return 'more than one Content-Length header';
  if (encodings > 1) return 'more than one Transfer-Encoding header';
  if (lengths > 0 && encodings > 0) return 'both Content-Length and Transfer-Encoding';
  const host = req.headers.host;
  // RFC 9112 §3.2: a client MUST send Host in HTTP/1.1; a server MUST answer 400 when it is missing.
  if (host === undefined) return req.httpVersionMajor === 1 && req.httpVersionMinor === 0 ? undefined : 'missing Host header';
  if (!HOST.test(host)) return 'invalid Host header';
  return undefined;
}

function presentsSeveralCredentials(ctx: GatewayContext, route: CompiledRoute): boolean {
  let first: string | undefined;
  for (const probe of route.credentialProbes) {
    if (!probe.present(ctx)) continue;
    if (first === undefined) first = probe.source;
    else if (probe.source !== first) return true;
  }
  return false;
}

function presentsAnyCredential(ctx: GatewayContext, route: CompiledRoute): boolean {
  for (const probe of route.credentialProbes) if (probe.present(ctx)) return true;
  return false;
}

function headerObject(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    // undici's upgrade() sets Connection and Upgrade itself.
    if (name === 'connection' || name === 'upgrade') continue;
    out[name] = out[name] === undefined ? flat[i + 1]! : `${out[name]}, ${flat[i + 1]!}`;
  }
  return out;
}
