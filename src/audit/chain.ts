/**
 * The audit hash chain (issue 6 point 3). Each entry carries the hash of the one before it, so any edit, deletion
 * or reordering of stored entries is detectable by walking the chain (`rampart audit verify`).
 *
 *   content = { v: 1, seq, time, type, actor, client, route, requestId, outcome, details, prev }
 *   hash    = SHA-256(canonicalJson(content))                 without a chain key
 *   hash    = HMAC-SHA-256(chainKey, canonicalJson(content))  with a chain key
 *
 * `prev` of the first entry is 64 zeros. Canonical JSON is RFC 8785 (canonical-json.ts), so a verifier in any
 * language reproduces the bytes.
 *
 * What it protects against, and what not (also in src/audit/README.md):
 * - Without a chain key, the chain detects accidental or careless tampering (an edited column, a deleted or moved
 *   row), but someone with write access to the database who knows this format can rewrite every hash from the
 *   edit onwards: the chain is then only as trustworthy as its last head recorded elsewhere (`rampart audit verify`
 *   prints the head; `--expect-head SEQ:HASH` checks that an earlier head is still part of the chain).
 * - With a chain key (kept out of the database, e.g. in the environment), rewriting needs the key: write access
 *   to the database alone can no longer produce a chain that verifies.
 * - Neither protects the newest entries against truncation of the tail together with the head row; only a head
 *   recorded outside the store (exported, printed into another log) detects that.
 */
import { createHash, createHmac } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';

export const CHAIN_FORMAT = 1;
export const GENESIS_HASH = '0'.repeat(64);

export type AuditOutcome = 'success' | 'failure' | 'denied' | 'locked' | 'info';
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['success', 'failure', 'denied', 'locked', 'info'];

/** What a caller appends: already redacted and privacy-protected (sink.ts does that). */
export interface AuditEntryInput {
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly type: string;
  /** Principal subject, or `anonymous`. */
  readonly actor: string;
  /** Client address after privacy handling (hashed, truncated or kept), or null. */
  readonly client: string | null;
  readonly route: string | null;
  readonly requestId: string | null;
  readonly outcome: AuditOutcome;
  readonly details: Readonly<Record<string, unknown>>;
}

/** A stored link of the chain. */
export interface AuditEntry extends AuditEntryInput {
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
}

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export type HashMode = 'sha256' | 'hmac-sha256';

/** The hashed content of an entry: everything but its own hash, with a format version. */
export function linkContent(entry: Omit<AuditEntry, 'hash'>): Record<string, unknown> {
  return {
    v: CHAIN_FORMAT,
    seq: entry.seq,
    time: entry.time,
    type: entry.type,
    actor: entry.actor,
    client: entry.client,
    route: entry.route,
    requestId: entry.requestId,
    outcome: entry.outcome,
    details: entry.details,
    prev: entry.prev,
  };
}

/** Hashes links; holds the chain key (if any) for the lifetime of a store. */
export class ChainHasher {
  readonly mode: HashMode;
  /** A public fingerprint of the chain key (so a verifier can say "wrong key" instead of "edited at seq 1"). */
  readonly keyId: string | null;
  readonly #key: Buffer | undefined;

  constructor(chainKey?: Buffer) {
    if (chainKey !== undefined && (!Buffer.isBuffer(chainKey) || chainKey.length < 32)) {
      throw new Error('the audit chain key must be at least 32 bytes');
    }
    this.#key = chainKey === undefined ? undefined : Buffer.from(chainKey);
    this.mode = chainKey === undefined ? 'sha256' : 'hmac-sha256';
    this.keyId = this.#key === undefined ? null : createHmac('sha256', this.#key).update('rampart/v1/audit-chain-key-id').digest('hex').slice(0, 16);
  }

  /** The hash of an entry (its details are canonicalised here). */
  hash(entry: Omit<AuditEntry, 'hash'>): string {
    return this.hashText(linkText(entry, canonicalJson(entry.details)));
  }

  /** The hash of a link's canonical text (`linkText`). */
  hashText(text: string): string {
    return this.#key === undefined ? createHash('sha256').update(text, 'utf8').digest('hex') : createHmac('sha256', this.#key).update(text, 'utf8').digest('hex');
  }

  /**
   * Links `inputs` after `head`. Returns each new entry with the canonical text of its details, which the caller
   * stores as is (so the details are serialised once, and verify hashes exactly the stored bytes).
   */
  link(head: ChainHead, inputs: readonly AuditEntryInput[]): Array<{ entry: AuditEntry; detailsText: string }> {
    const linked: Array<{ entry: AuditEntry; detailsText: string }> = [];
    let { seq, hash: prev } = head;
    for (const input of inputs) {
      seq += 1;
      const detailsText = canonicalJson(input.details);
      const unhashed = {
        seq,
        time: input.time,
        type: input.type,
        actor: input.actor,
        client: input.client,
        route: input.route,
        requestId: input.requestId,
        outcome: input.outcome,
        details: input.details,
        prev,
      };
      const hash = this.hashText(linkText(unhashed, detailsText));
      linked.push({ entry: { ...unhashed, hash }, detailsText });
      prev = hash;
    }
    return linked;
  }
}

/** Fields of a link as stored, with its details as canonical JSON text. */
export interface LinkFields {
  readonly seq: number;
  readonly time: number;
  readonly type: string;
  readonly actor: string;
  readonly client: string | null;
  readonly route: string | null;
  readonly requestId: string | null;
  readonly outcome: string;
  readonly prev: string;
}

// canonicalJson, not JSON.stringify: it refuses lone surrogates (RFC 8785 §3.2.2.2) instead of escaping them.
const str = (value: string | null) => (value === null ? 'null' : canonicalJson(value));
const int = (value: number) => {
  if (!Number.isSafeInteger(value)) throw new Error('audit seq and time must be safe integers');
  return String(value);
};

/**
 * `canonicalJson(linkContent(entry))`, built directly from the details' canonical text: the member names are
 * fixed, so their RFC 8785 order is too (actor, client, details, outcome, prev, requestId, route, seq, time, type,
 * v). A test asserts the two are byte-identical.
 */
export function linkText(fields: LinkFields, detailsText: string): string {
  return (
    `{"actor":${str(fields.actor)},"client":${str(fields.client)},"details":${detailsText},"outcome":${str(fields.outcome)},` +
    `"prev":${str(fields.prev)},"requestId":${str(fields.requestId)},"route":${str(fields.route)},"seq":${int(fields.seq)},` +
    `"time":${int(fields.time)},"type":${str(fields.type)},"v":${CHAIN_FORMAT}}`
  );
}

export const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS_HASH };

/** What is stored in a chain's metadata, fixed when the chain is created. */
export interface ChainMeta {
  readonly format: number;
  readonly mode: HashMode;
  readonly keyId: string | null;
}

export class ChainMismatchError extends Error {
  override readonly name = 'ChainMismatchError';
}

/** Refuses to append to (or verify) a chain with a hasher it was not created with. */
export function checkMeta(meta: ChainMeta, hasher: ChainHasher): void {
  if (meta.format !== CHAIN_FORMAT) throw new ChainMismatchError(`audit chain format ${meta.format} is not supported (this version writes ${CHAIN_FORMAT})`);
  if (meta.mode !== hasher.mode) {
    throw new ChainMismatchError(
      meta.mode === 'hmac-sha256'
        ? 'the audit chain is keyed (HMAC-SHA-256): configure audit.chainKey to append to or verify it'
        : 'the audit chain was created without a chain key: remove audit.chainKey or start a new store',
    );
  }
  if (meta.keyId !== hasher.keyId) throw new ChainMismatchError('audit.chainKey is not the key this chain was created with');
}

export function metaOf(hasher: ChainHasher): ChainMeta {
  return { format: CHAIN_FORMAT, mode: hasher.mode, keyId: hasher.keyId };
}
