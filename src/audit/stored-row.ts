/**
 * The audit chain's table row as both stores read it (sqlite.ts, postgres.ts): one column list, one row shape and one
 * mapping to the `StoredLink` that verification hashes, so the two stores cannot drift apart on what a link is.
 */
import type { StoredLink } from './verify.ts';

/** Every column of `audit_chain`, in the order inserts list their values. */
export const CHAIN_COLUMNS = 'seq, time, type, actor, client, route, request_id, outcome, details, prev_hash, hash, v, salt, commitment';

/** Rows read per query when walking the chain (verify, export, erase, prune). */
export const CHAIN_PAGE = 1000;

/** A row of `audit_chain`. PostgreSQL returns BIGINT columns as strings (pg's default for int8), SQLite as numbers. */
export interface ChainRow {
  seq: number | string;
  time: number | string;
  type: string;
  actor: string;
  client: string | null;
  route: string | null;
  request_id: string | null;
  outcome: string;
  details: string;
  prev_hash: string;
  hash: string;
  v: number | string;
  salt: string | null;
  commitment: string | null;
}

export function linkOfRow(row: ChainRow): StoredLink {
  return {
    seq: Number(row.seq),
    time: Number(row.time),
    type: row.type,
    actor: row.actor,
    client: row.client,
    route: row.route,
    requestId: row.request_id,
    outcome: row.outcome,
    details: row.details,
    prev: row.prev_hash,
    hash: row.hash,
    v: Number(row.v),
    salt: row.salt,
    commitment: row.commitment,
  };
}
