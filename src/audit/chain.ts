/**
 * The audit hash chain (issue 6 point 3). Each entry carries the hash of the one before it, so any edit, deletion
 * or reordering of stored entries is detectable by walking the chain (`rampart audit verify`).
 *
 * Two entry formats, told apart by the `v` stored with each entry; a chain may hold both (v1 entries written before
 * the upgrade, v2 after it) and `verify` checks each by its own rule:
 *
 *   v1  content    = { v: 1, seq, time, type, actor, client, route, requestId, outcome, details, prev }
 *   v2  commitment = SHA-256(canonicalJson({ actor, client, details, requestId, salt }))   salt: 128 random bits
 *       content    = { v: 2, seq, time, type, route, outcome, commitment, prev }
 *
 *   hash = SHA-256(canonicalJson(content))                 without a chain key
 *   hash = HMAC-SHA-256(chainKey, canonicalJson(content))  with a chain key
 *
 * Why v2 (issue 7, GDPR art. 17 erasure): a v1 link covers the personal fields themselves, so changing them breaks
 * the chain, and an append-only log could never forget a person. A v2 link covers only a salted commitment to the
 * personal fields (who, from where, with which request, with which details). Erasure (`eraseLink`) replaces those
 * fields with a tombstone `{ erased: true, by, at, erasure, seal }` and deletes the salt: the link still verifies
 * (the commitment is unchanged), while the commitment no longer reveals anything (without the salt a guess of the
 * erased content cannot be tested: the salt is 128 random bits). What stays readable is what is not personal: when
 * (`time`), what kind of event (`type`), on which route and with which outcome. The tombstone's `seal` is a hash of
 * (seq, commitment, by, at, erasure) under the chain hasher, so with a chain key nobody without it can turn a
 * live entry into a tombstone (which would hide evidence) without `verify` noticing.
 *
 * v1 entries cannot be erased in place: their hash covers the content. They leave the store only with retention
 * (prune with an anchor, below) or by starting a new chain. `ChainHasher` writes v1 unless asked for v2 (existing
 * callers and chains keep their format); every store opened from a gateway config writes v2 (configured.ts).
 *
 * Retention (prune with an anchor): the oldest entries may be deleted once the hash of the last deleted one is kept
 * as the chain's anchor (in the store's metadata) and an `audit.pruned` entry naming that anchor is appended.
 * `verify` then starts from the anchor instead of the genesis hash and requires the `audit.pruned` entry, so a
 * front truncation without it (someone deleting old rows and writing an anchor) is reported.
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
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../crypto/constant-time.ts';
import { canonicalJson } from './canonical-json.ts';

/** The newest entry format this build writes and reads. */
export const CHAIN_FORMAT = 2;
export type EntryFormat = 1 | 2;
export const SUPPORTED_FORMATS: readonly EntryFormat[] = [1, 2];
export const GENESIS_HASH = '0'.repeat(64);

/** The actor, client and request id of an erased v2 entry. */
export const ERASED_ACTOR = '[erased]';
/** Type of the entry that records an erasure (privacy/subject/erase.ts appends it in the erasing transaction). */
export const ERASURE_RECORD_TYPE = 'privacy.erased';
/** Type of the entry that records a prune; its details name the anchor. */
export const PRUNE_RECORD_TYPE = 'audit.pruned';
const SALT_BYTES = 16;
const HEX64 = /^[0-9a-f]{64}$/;

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
  /** Entry format; absent means 1. */
  readonly v?: EntryFormat;
  /** v2: the salt of the commitment (hex), null once the entry is erased. */
  readonly salt?: string | null;
  /** v2: the commitment the link covers. */
  readonly commitment?: string;
}

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export type HashMode = 'sha256' | 'hmac-sha256';

/** The hashed content of an entry: everything but its own hash, with its format version. */
export function linkContent(entry: Omit<AuditEntry, 'hash'>): Record<string, unknown> {
  if (entry.v === 2) {
    return {
      v: 2,
      seq: entry.seq,
      time: entry.time,
      type: entry.type,
      route: entry.route,
      outcome: entry.outcome,
      commitment: entry.commitment ?? commitmentOf(entry, canonicalJson(entry.details)),
      prev: entry.prev,
    };
  }
  return {
    v: 1,
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
export interface ChainHasherOptions {
  /** The format `link` writes (default 1, for existing callers; stores opened from a config write 2). */
  readonly format?: EntryFormat;
}

export class ChainHasher {
  readonly mode: HashMode;
  /** The format of the entries `link` writes. Verification reads every supported format whatever this is. */
  readonly format: EntryFormat;
  /** A public fingerprint of the chain key (so a verifier can say "wrong key" instead of "edited at seq 1"). */
  readonly keyId: string | null;
  readonly #key: Buffer | undefined;

  constructor(chainKey?: Buffer, options: ChainHasherOptions = {}) {
    if (chainKey !== undefined && (!Buffer.isBuffer(chainKey) || chainKey.length < 32)) {
      throw new Error('the audit chain key must be at least 32 bytes');
    }
    const format = options.format ?? 1;
    if (!SUPPORTED_FORMATS.includes(format)) throw new Error(`audit entry format ${String(format)} is not supported`);
    this.format = format;
    this.#key = chainKey === undefined ? undefined : Buffer.from(chainKey);
    this.mode = chainKey === undefined ? 'sha256' : 'hmac-sha256';
    this.keyId = this.#key === undefined ? null : createHmac('sha256', this.#key).update('rampart/v1/audit-chain-key-id').digest('hex').slice(0, 16);
  }

  /** The hash of an entry (its details are canonicalised here). */
  hash(entry: Omit<AuditEntry, 'hash'>): string {
    return this.hashText(canonicalJson(linkContent(entry)));
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
    // One call to the CSPRNG for the whole batch.
    const salts = this.format === 2 ? randomBytes(SALT_BYTES * inputs.length).toString('hex') : '';
    inputs.forEach((input, index) => {
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
      if (this.format === 1) {
        const hash = this.hashText(linkText(unhashed, detailsText));
        linked.push({ entry: { ...unhashed, hash }, detailsText });
      } else {
        const salt = salts.slice(index * SALT_BYTES * 2, (index + 1) * SALT_BYTES * 2);
        const commitment = commitmentOf({ ...unhashed, salt }, detailsText);
        const fields = { ...unhashed, v: 2 as const, salt, commitment };
        const hash = this.hashText(linkText(fields, detailsText));
        linked.push({ entry: { ...fields, hash }, detailsText });
      }
      prev = linked[linked.length - 1]!.entry.hash;
    });
    return linked;
  }

  /**
   * The seal of a tombstone: binds it to its entry (seq and commitment) and to the erasure, under the chain key.
   * The text starts with a domain label, so it can never equal a link's canonical text (which starts with `{`).
   */
  seal(seq: number, commitment: string, tombstone: Omit<Tombstone, 'seal' | 'erased'>): string {
    return this.hashText(`rampart/v2/audit-tombstone\n${canonicalJson({ at: tombstone.at, by: tombstone.by, commitment, erasure: tombstone.erasure, seq })}`);
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
  /** Absent or 1: format 1. */
  readonly v?: number;
  /** v2: the commitment's salt (null once erased). */
  readonly salt?: string | null;
  /** v2: the stored commitment. */
  readonly commitment?: string | null;
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
  if (fields.v === 2) {
    const commitment = fields.commitment ?? commitmentOf(fields, detailsText);
    return v2LinkText(fields, commitment);
  }
  if (fields.v !== undefined && fields.v !== 1) throw new Error(`audit entry format ${String(fields.v)} is not supported`);
  return (
    `{"actor":${str(fields.actor)},"client":${str(fields.client)},"details":${detailsText},"outcome":${str(fields.outcome)},` +
    `"prev":${str(fields.prev)},"requestId":${str(fields.requestId)},"route":${str(fields.route)},"seq":${int(fields.seq)},` +
    `"time":${int(fields.time)},"type":${str(fields.type)},"v":1}`
  );
}

/** The v2 link text over a commitment (member order of RFC 8785: commitment, outcome, prev, route, seq, time, type, v). */
export function v2LinkText(fields: Pick<LinkFields, 'seq' | 'time' | 'type' | 'route' | 'outcome' | 'prev'>, commitment: string): string {
  if (!HEX64.test(commitment)) throw new Error('an audit commitment is 64 hex digits');
  return (
    `{"commitment":${str(commitment)},"outcome":${str(fields.outcome)},"prev":${str(fields.prev)},"route":${str(fields.route)},` +
    `"seq":${int(fields.seq)},"time":${int(fields.time)},"type":${str(fields.type)},"v":2}`
  );
}

/**
 * The commitment of a v2 entry: SHA-256 of `canonicalJson({ actor, client, details, requestId, salt })`, built from
 * the details' canonical text. Throws without a salt (an erased entry has none: its commitment cannot be recomputed).
 */
export function commitmentOf(fields: Pick<LinkFields, 'actor' | 'client' | 'requestId' | 'salt'>, detailsText: string): string {
  if (typeof fields.salt !== 'string' || fields.salt.length === 0) throw new Error('a v2 audit entry without a salt has no recomputable commitment');
  const text = `{"actor":${str(fields.actor)},"client":${str(fields.client)},"details":${detailsText},"requestId":${str(fields.requestId)},"salt":${str(fields.salt)}}`;
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** What replaces the details of an erased v2 entry. */
export interface Tombstone {
  readonly erased: true;
  /** Keyed hash of the erased subject (`e:` + 32 hex), so "was X erased?" can be answered by who holds the key. */
  readonly by: string;
  /** When (ms). */
  readonly at: number;
  /** Id of the erasure, also in its `privacy.erased` record. */
  readonly erasure: string;
  /** `ChainHasher.seal` of the tombstone. */
  readonly seal: string;
}

const TOMBSTONE_KEYS = 'at,by,erased,erasure,seal';
const TOMBSTONE_BY = /^[A-Za-z0-9:_-]{1,80}$/;
const ERASURE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The tombstone stored in `detailsText`, or undefined when it is not one in canonical form. */
export function parseTombstone(detailsText: string): Tombstone | undefined {
  let value: unknown;
  try {
    value = JSON.parse(detailsText);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const t = value as Record<string, unknown>;
  if (Object.keys(t).sort().join(',') !== TOMBSTONE_KEYS) return undefined;
  if (t['erased'] !== true || !Number.isSafeInteger(t['at']) || (t['at'] as number) < 0) return undefined;
  if (typeof t['by'] !== 'string' || !TOMBSTONE_BY.test(t['by'])) return undefined;
  if (typeof t['erasure'] !== 'string' || !ERASURE_ID.test(t['erasure'])) return undefined;
  if (typeof t['seal'] !== 'string' || !HEX64.test(t['seal'])) return undefined;
  // Canonical form only: one tombstone, one byte string.
  if (canonicalJson(t) !== detailsText) return undefined;
  return t as unknown as Tombstone;
}

/** Why a stored link does not verify on its own (its link back to the previous entry is checked by verify). */
export type LinkFault = 'content' | 'tombstone';

/**
 * Checks one stored link against its hash: v1 over the stored bytes; v2 over the stored commitment, after checking
 * that the commitment opens with the stored salt (live entries) or that the tombstone is well formed and sealed
 * (erased entries). Returns undefined when intact.
 */
export function linkFault(link: LinkFields & { readonly details: string; readonly hash: string }, hasher: ChainHasher): LinkFault | undefined {
  let computed: string;
  try {
    if (link.v === 2) {
      const commitment = link.commitment;
      if (typeof commitment !== 'string' || !HEX64.test(commitment)) return 'content';
      if (link.salt === null || link.salt === undefined) {
        const tombstone = parseTombstone(link.details);
        if (tombstone === undefined || link.actor !== ERASED_ACTOR || link.client !== null || link.requestId !== null) return 'tombstone';
        if (!constantTimeEqual(hasher.seal(link.seq, commitment, tombstone), tombstone.seal)) return 'tombstone';
      } else if (!constantTimeEqual(commitmentOf(link, link.details), commitment)) {
        return 'content';
      }
      computed = hasher.hashText(v2LinkText(link, commitment));
    } else {
      computed = hasher.hashText(linkText(link, link.details));
    }
  } catch {
    return 'content';
  }
  return constantTimeEqual(computed, link.hash) ? undefined : 'content';
}

/** The stored fields of an erased entry (`salt` and `commitment` columns: null and unchanged). */
export interface ErasedFields {
  readonly actor: string;
  readonly client: null;
  readonly requestId: null;
  /** The tombstone's canonical JSON. */
  readonly details: string;
  readonly salt: null;
}

/**
 * The fields that replace a live v2 entry's personal part. The caller has checked the link (`linkFault`) first, so
 * an entry that was tampered with is never laundered into a valid-looking tombstone.
 */
export function erasedFields(hasher: ChainHasher, link: Pick<LinkFields, 'seq' | 'commitment'>, erasure: Omit<Tombstone, 'seal' | 'erased'>): ErasedFields {
  if (typeof link.commitment !== 'string' || !HEX64.test(link.commitment)) throw new Error('only v2 entries can be erased');
  if (!TOMBSTONE_BY.test(erasure.by) || !ERASURE_ID.test(erasure.erasure) || !Number.isSafeInteger(erasure.at)) throw new Error('invalid tombstone');
  const tombstone: Tombstone = { erased: true, by: erasure.by, at: erasure.at, erasure: erasure.erasure, seal: hasher.seal(link.seq, link.commitment, erasure) };
  return { actor: ERASED_ACTOR, client: null, requestId: null, details: canonicalJson(tombstone), salt: null };
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

/**
 * Refuses to append to (or verify) a chain with a hasher it was not created with. `format` in the metadata is the
 * newest entry format the chain holds: a Rampart that does not know it refuses the chain instead of misreading it.
 */
export function checkMeta(meta: ChainMeta, hasher: ChainHasher): void {
  if (!SUPPORTED_FORMATS.includes(meta.format as EntryFormat)) {
    throw new ChainMismatchError(`audit chain format ${meta.format} is not supported (this version reads ${SUPPORTED_FORMATS.join(' and ')})`);
  }
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
  return { format: hasher.format, mode: hasher.mode, keyId: hasher.keyId };
}
