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

/** An erasure of v2 entries (chain.ts "Why v2"): which entries, and the tombstone's fields. */
export interface EraseRequest {
  readonly seqs: readonly number[];
  /** Keyed hash of the subject (`e:` + 32 hex), stored in every tombstone and in the record. */
  readonly by: string;
  readonly at: number;
  /** Id of this erasure (tombstones and record name it). */
  readonly erasure: string;
  /** The entry that records the erasure, appended in the same transaction, built from the outcome. */
  record(outcome: EraseOutcome): AuditEntryInput;
}

export interface EraseOutcome {
  /** Entries now tombstones. */
  readonly erased: readonly number[];
  /** v1 entries: their hash covers their content, so they cannot be erased in place (chain.ts). */
  readonly notErasable: readonly number[];
  readonly alreadyErased: readonly number[];
  /** Asked for but not in the chain (pruned meanwhile). */
  readonly missing: readonly number[];
}

export interface EraseResult extends EraseOutcome {
  readonly record: AuditEntry;
}

export interface PruneResult {
  /** Entries deleted by this call. */
  readonly pruned: number;
  /** The chain's anchor after the call (null: it starts at genesis). */
  readonly anchor: ChainHead | null;
  /** The `audit.pruned` entry, when something was pruned. */
  readonly record?: AuditEntry;
}

export interface PruneOptions {
  /** Delete at most this many entries per call (default 100,000): a large backlog goes in several short transactions. */
  readonly maxEntries?: number;
}

/** What a prune record says; `record` in `prune` turns it into an entry. */
export interface PruneInfo {
  readonly anchor: ChainHead;
  readonly pruned: number;
  readonly beforeTime: number;
}

export const DEFAULT_PRUNE_BATCH = 100_000;

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
  /**
   * Replaces the personal part of v2 entries by sealed tombstones and appends the erasure record, in one
   * transaction under the write lock. Each entry is checked against its hash first: an entry that does not verify
   * aborts the whole erasure (`AuditStoreError`), so tampering is never laundered into a valid tombstone.
   */
  erase(request: EraseRequest): Promise<EraseResult>;
  /**
   * Retention: deletes the oldest entries whose time is before `beforeTime` (a prefix of the chain: it stops at the
   * first newer entry), after verifying them, keeps the hash of the last one as the anchor and appends an
   * `audit.pruned` entry naming it, in one transaction.
   */
  prune(beforeTime: number, record: (info: PruneInfo) => AuditEntryInput, options?: PruneOptions): Promise<PruneResult>;
  /** The prune anchor, or null while the chain starts at genesis. */
  anchor(): Promise<ChainHead | null>;
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
