/**
 * The audit store port (ARCHITECTURE.md "State": audit, SQLite embedded, PostgreSQL in a cluster) and
 * `openAuditStore(url)`, which picks the adapter from the URL:
 *
 *   sqlite:<path>             one file; WAL; appends under `BEGIN IMMEDIATE` so several processes can append
 *   postgres://… postgresql://…  one chain per schema; appends serialised by `SELECT … FOR UPDATE` on the head row
 *
 * One chain per store. `append` resolves once the entries are committed with the configured durability.
 */
import { resolve } from 'node:path';
import type { AuditEntry, AuditEntryInput, ChainHasher, ChainHead } from './chain.ts';
import type { VerifyOptions, VerifyReport } from './verify.ts';

/**
 * `process` (default): an acknowledged entry survives a crash or `kill -9` of the gateway process (SQLite WAL with
 * `synchronous = NORMAL`: the commit is in the OS page cache before `append` returns), but the last commits may be
 * lost if the machine loses power or the OS crashes.
 * `power`: `synchronous = FULL`, an fsync of the WAL at every commit: survives power loss too, at the cost of one
 * fsync per append (or per batch).
 * PostgreSQL: both run with `synchronous_commit = on` (the server flushes its WAL before acknowledging the commit);
 * the gateway process holds nothing unacknowledged either way.
 */
export type AuditDurability = 'process' | 'power';

export interface AuditReadOptions {
  /** Entries with `time >= sinceTime` (ms). */
  readonly sinceTime?: number;
  readonly untilTime?: number;
  /** Entries with `seq > afterSeq`. */
  readonly afterSeq?: number;
}

/** The SQL conditions of a read (`?` placeholders, in order), shared by the adapters. */
export function readConditions(options: AuditReadOptions): { where: string[]; args: number[] } {
  const where: string[] = [];
  const args: number[] = [];
  const add = (condition: string, value: number | undefined) => {
    if (value === undefined) return;
    if (!Number.isSafeInteger(value)) throw new AuditStoreError('read bounds must be integers');
    where.push(condition);
    args.push(value);
  };
  add('time >= ?', options.sinceTime);
  add('time < ?', options.untilTime);
  add('seq > ?', options.afterSeq);
  return { where, args };
}

export interface AuditStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly hasher: ChainHasher;
  /** Appends under the store's write lock; resolves once committed with the configured durability. */
  append(inputs: readonly AuditEntryInput[]): Promise<AuditEntry[]>;
  /**
   * Synchronous append (SQLite only): committed when it returns, so an event emitted during a request is durable
   * before the response is written.
   */
  appendSync?(inputs: readonly AuditEntryInput[]): AuditEntry[];
  /** Entries in `seq` order (streamed). */
  read(options?: AuditReadOptions): AsyncIterable<AuditEntry>;
  head(): Promise<ChainHead | null>;
  verify(options?: VerifyOptions): Promise<VerifyReport>;
  /** The durability settings actually in force on the store's connection (asserted by tests, shown by the CLI). */
  durabilityInForce(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export class AuditStoreError extends Error {
  override readonly name = 'AuditStoreError';
}

export interface OpenAuditStoreOptions {
  readonly hasher: ChainHasher;
  readonly durability?: AuditDurability;
  /** SQLite: how long an append waits for another process's lock (default 5 s). */
  readonly busyTimeoutMs?: number;
  /** PostgreSQL: the schema holding the chain (default `rampart_audit`); tests use one per run. */
  readonly schema?: string;
  /** PostgreSQL: connection pool size (default 4). */
  readonly poolSize?: number;
  /**
   * Refuse to create a store that does not exist yet (the CLI: `audit verify` of a mistyped path must not report
   * an empty, intact chain).
   */
  readonly mustExist?: boolean;
  /** Relative SQLite paths are resolved against this directory (default: the working directory). */
  readonly baseDir?: string;
}

/** Names a store URL without credentials, for messages and logs. */
export function describeStoreUrl(url: string): string {
  if (url.startsWith('sqlite:')) return url;
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}`;
  } catch {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1];
    return scheme === undefined ? '(invalid store URL)' : `${scheme.slice(0, 32)}:…`;
  }
}

export type StoreTarget = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

/** Parses a store URL; unknown schemes are refused naming only the scheme (the rest may hold a password). */
export function parseStoreUrl(url: string, baseDir = process.cwd()): StoreTarget {
  if (typeof url !== 'string' || url.length === 0) throw new AuditStoreError('store URL is empty');
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path.length === 0) throw new AuditStoreError('store URL "sqlite:" needs a file path, e.g. sqlite:./audit.db');
    if (path.includes('\0')) throw new AuditStoreError('store path contains a NUL character');
    return { kind: 'sqlite', path: path === ':memory:' ? path : resolve(baseDir, path) };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { kind: 'postgres', url };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1];
  throw new AuditStoreError(
    scheme === undefined ? 'store URL has no scheme; use sqlite:<path> or postgres://…' : `unsupported store URL scheme "${scheme.slice(0, 32)}:"; use sqlite:<path> or postgres://…`,
  );
}

export async function openAuditStore(url: string, options: OpenAuditStoreOptions): Promise<AuditStore> {
  const target = parseStoreUrl(url, options.baseDir);
  if (target.kind === 'sqlite') {
    const { SqliteAuditStore } = await import('./sqlite.ts');
    return SqliteAuditStore.open(target.path, options);
  }
  const { PostgresAuditStore } = await import('./postgres.ts');
  return PostgresAuditStore.open(target.url, options);
}
