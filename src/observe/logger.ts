/**
 * Logging (checklist item 6 base). Two pino loggers: the application log (errors with details, security events,
 * lifecycle) and the access log, one lean JSON line per request written asynchronously so that logging never
 * blocks the event loop on the hot path. Credentials never reach a log: the fields that can carry them are
 * redacted (OWASP Logging Cheat Sheet, "Data to exclude").
 */
import pino, { type Logger } from 'pino';

/** Always redacted, wherever a log line carries request or response headers. */
export const REDACTED_FIELDS = [
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["proxy-authorization"]',
  'headers["x-api-key"]',
  'headers["api-key"]',
  'headers["x-auth-token"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  'req.headers["x-auth-token"]',
  'res.headers["set-cookie"]',
  'upstream.headers["set-cookie"]',
];

export interface LoggerOptions {
  readonly level: string;
  /** Extra pino paths to redact, from config `accessLog.redact`. */
  readonly redact: readonly string[];
  /** 'stdout' or a file path. */
  readonly destination: string;
  /** Async writes (default true). Tests set false to read the file right after a request. */
  readonly async?: boolean;
}

function destinationFor(destination: string, async: boolean) {
  return pino.destination({
    dest: destination === 'stdout' ? 1 : destination,
    sync: !async,
    mkdir: destination !== 'stdout',
    // Batch small writes: one write(2) per ~4 KB instead of one per line.
    minLength: async ? 4096 : 0,
  });
}

export function createAppLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'rampart' },
      redact: { paths: [...REDACTED_FIELDS, ...options.redact], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destinationFor(options.destination === 'stdout' ? 'stdout' : options.destination, options.async ?? false),
  );
}

export function createAccessLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: 'info',
      base: null,
      messageKey: 'msg',
      // The access line carries no headers; only configured extra fields need redaction.
      ...(options.redact.length > 0 ? { redact: { paths: [...options.redact], censor: '[redacted]' } } : {}),
      timestamp: pino.stdTimeFunctions.epochTime,
    },
    destinationFor(options.destination, options.async ?? true),
  );
}

/** Flushes an async pino destination (on shutdown and in tests). */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      logger.flush(() => resolve());
    } catch {
      resolve();
    }
  });
}
