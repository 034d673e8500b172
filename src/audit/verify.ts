/**
 * Walks a stored chain in `seq` order and reports the first broken link, with what is wrong:
 *
 * - `missing`: a `seq` is absent (a row was deleted), or the head row says the chain is longer than its rows
 *   (the newest rows were deleted).
 * - `reordered`: the entry that links to the previous one (its `prev` is the previous entry's hash) is stored at
 *   another `seq` (rows were swapped or moved).
 * - `edited`: the entry's content does not hash to its stored hash, or its `prev` is not the previous entry's hash
 *   and no other entry links there either (the row, or the one before it, was changed and re-hashed).
 * - `head`: the head row does not match the last entry, or an expected head (`--expect-head`) is not in the chain.
 * - `erased`: a tombstone that is not valid (malformed, or its seal does not match: made without the chain key).
 * - `pruned`: the chain starts at an anchor (its oldest entries were pruned by retention) that no `audit.pruned`
 *   entry of the chain names: old entries were deleted outside `rampart privacy`.
 *
 * Erased v2 entries (tombstones) verify: their link covers a commitment, not the erased content (chain.ts).
 * Adapters provide the rows (streamed, never all in memory) and one lookup used only after a break was found.
 */
import { constantTimeEqual } from '../crypto/constant-time.ts';
import { GENESIS_HASH, PRUNE_RECORD_TYPE, linkFault, type AuditEntry, type AuditOutcome, type ChainHasher, type ChainHead } from './chain.ts';
import { parseJsonObject } from './json-object.ts';
import { AuditStoreError } from './store.ts';

/** A row as stored: `details` is the canonical JSON text written at append time. */
export interface StoredLink {
  readonly seq: number;
  readonly time: number;
  readonly type: string;
  readonly actor: string;
  readonly client: string | null;
  readonly route: string | null;
  readonly requestId: string | null;
  readonly outcome: string;
  readonly details: string;
  readonly prev: string;
  readonly hash: string;
  /** Entry format (absent: 1). */
  readonly v?: number;
  /** v2: the commitment's salt, null once erased. */
  readonly salt?: string | null;
  /** v2: the commitment the link covers. */
  readonly commitment?: string | null;
}

export interface VerifySource {
  /** Every stored link in ascending `seq` order. */
  links(): AsyncIterable<StoredLink> | Iterable<StoredLink>;
  /** The `seq` of every stored link whose `prev` is `hash` (called only to explain a break). */
  successorsOf(hash: string): Promise<number[]>;
  /** The head row, or null for an empty chain. */
  head(): Promise<ChainHead | null>;
  /** The anchor the chain starts from after a prune (the last pruned entry), or null: it starts at genesis. */
  anchor?(): Promise<ChainHead | null>;
}

export type BreakKind = 'edited' | 'missing' | 'reordered' | 'head' | 'erased' | 'pruned';

export interface ChainBreak {
  readonly seq: number;
  readonly kind: BreakKind;
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  /** Links verified intact (before the break, if any). */
  readonly count: number;
  /** The last intact link. */
  readonly head: ChainHead;
  readonly broken?: ChainBreak;
  /** Set when the chain starts from a prune anchor instead of genesis. */
  readonly anchor?: ChainHead;
  /** Erased entries (tombstones) among the verified ones, when there are any. */
  readonly erased?: number;
}

export interface VerifyOptions {
  /** A head recorded earlier (e.g. printed by a previous verify): the link at that `seq` must still have that hash. */
  readonly expectHead?: ChainHead;
}

/**
 * The entry a stored row claims to be. Details that are not a JSON object (not JSON at all, or `null`, an array, a
 * number…) can only come from a change made outside Rampart: an AuditStoreError names the entry (an export stops
 * there rather than print an entry it cannot represent, and `rampart audit verify` reports the same row as edited).
 */
export function entryOf(link: StoredLink): Omit<AuditEntry, 'hash'> {
  const details = parseJsonObject(link.details);
  if (details === undefined) {
    throw new AuditStoreError(`audit entry seq ${link.seq}: its details are not a JSON object (the log was changed outside Rampart; run rampart audit verify)`);
  }
  const entry = {
    seq: link.seq,
    time: link.time,
    type: link.type,
    actor: link.actor,
    client: link.client,
    route: link.route,
    requestId: link.requestId,
    outcome: link.outcome as AuditOutcome,
    details,
    prev: link.prev,
  };
  // v2 entries carry what a verifier elsewhere needs (the salt opens the commitment); v1 entries look as they did.
  return link.v === 2 ? { ...entry, v: 2, salt: link.salt ?? null, commitment: link.commitment ?? '' } : entry;
}

/** Does this entry record the prune that left `anchor` as the chain's start? */
function namesAnchor(link: StoredLink, anchor: ChainHead): boolean {
  if (link.type !== PRUNE_RECORD_TYPE) return false;
  const details = parseJsonObject(link.details);
  return details !== undefined && details['anchorSeq'] === anchor.seq && typeof details['anchorHash'] === 'string' && constantTimeEqual(details['anchorHash'], anchor.hash);
}

export async function verifyChain(source: VerifySource, hasher: ChainHasher, options: VerifyOptions = {}): Promise<VerifyReport> {
  const anchor = (await source.anchor?.()) ?? null;
  let last: ChainHead = anchor ?? { seq: 0, hash: GENESIS_HASH };
  let count = 0;
  let erased = 0;
  let anchorNamed = false;
  const extra = () => ({ ...(anchor !== null ? { anchor } : {}), ...(erased > 0 ? { erased } : {}) });
  const broken = (seq: number, kind: BreakKind, message: string): VerifyReport => ({ ok: false, count, head: last, broken: { seq, kind, message }, ...extra() });
  const expect = options.expectHead;
  let expectSeen = false;
  if (expect !== undefined && anchor !== null && expect.seq <= anchor.seq) {
    if (expect.seq < anchor.seq) {
      return broken(expect.seq, 'head', `seq ${expect.seq} was pruned by retention (the chain now starts after seq ${anchor.seq}); it cannot be checked any more`);
    }
    if (!constantTimeEqual(anchor.hash, expect.hash)) return broken(expect.seq, 'head', `seq ${expect.seq} does not have the expected hash ${expect.hash.slice(0, 16)}…`);
    expectSeen = true;
  }

  for await (const link of source.links()) {
    const want = last.seq + 1;
    if (link.seq < want) return broken(link.seq, 'edited', `seq ${link.seq}: an entry outside the chain's numbering (inserted)`);
    if (link.seq > want) {
      const range = link.seq - 1 === want ? `seq ${want} is` : `seqs ${want} to ${link.seq - 1} are`;
      return broken(want, 'missing', `${range} missing (deleted): the chain jumps from seq ${last.seq} to ${link.seq}`);
    }
    const linksBack = constantTimeEqual(link.prev, last.hash);
    const fault = linkFault(link, hasher);
    if (!linksBack || fault !== undefined) {
      const successors = (await source.successorsOf(last.hash)).filter((seq) => seq !== link.seq);
      if (successors.length > 0) {
        return broken(want, 'reordered', `the entry that follows seq ${last.seq} is stored at seq ${successors[0]}, not at seq ${want} (entries were swapped or moved)`);
      }
      if (fault === 'tombstone') return broken(want, 'erased', `seq ${want}: an erased entry whose tombstone is not valid (forged without the chain key, or edited)`);
      if (fault !== undefined) return broken(want, 'edited', `seq ${want}: the stored content does not match its hash (the entry was edited)`);
      return broken(
        want,
        'edited',
        `seq ${want}: its link to seq ${last.seq} is broken (seq ${last.seq} was replaced and re-hashed, or seq ${want} was)`,
      );
    }
    if (expect !== undefined && link.seq === expect.seq) {
      if (!constantTimeEqual(link.hash, expect.hash)) return broken(link.seq, 'head', `seq ${link.seq} does not have the expected hash ${expect.hash.slice(0, 16)}…`);
      expectSeen = true;
    }
    if (link.v === 2 && (link.salt === null || link.salt === undefined)) erased++;
    if (anchor !== null && !anchorNamed && namesAnchor(link, anchor)) anchorNamed = true;
    last = { seq: link.seq, hash: link.hash };
    count++;
  }

  const head = await source.head();
  if (head !== null && head.seq > last.seq) {
    const range = head.seq === last.seq + 1 ? `seq ${head.seq} is` : `seqs ${last.seq + 1} to ${head.seq} are`;
    return broken(last.seq + 1, 'missing', `${range} missing (deleted): the head says the chain ends at seq ${head.seq}`);
  }
  if (head !== null && (head.seq !== last.seq || !constantTimeEqual(head.hash, last.hash))) {
    return broken(head.seq, 'head', `the head row (seq ${head.seq}) does not match the last entry (seq ${last.seq})`);
  }
  if (head === null && last.seq > 0) return broken(last.seq, 'head', 'the head row is missing');
  if (anchor !== null && !anchorNamed) {
    return broken(
      anchor.seq,
      'pruned',
      `the chain starts after seq ${anchor.seq} but no ${PRUNE_RECORD_TYPE} entry records that prune (the oldest entries were deleted outside retention)`,
    );
  }
  if (expect !== undefined && !expectSeen) {
    return broken(expect.seq, 'missing', `the expected head seq ${expect.seq} is not in the chain (it ends at seq ${last.seq}: entries were deleted)`);
  }
  return { ok: true, count, head: last, ...extra() };
}
