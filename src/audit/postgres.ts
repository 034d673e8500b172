/**
 * PostgreSQL audit chain, for a cluster of gateway processes sharing one database (ARCHITECTURE.md "State").
 *
 * One chain per schema. Appends from every process are serialised by a row lock on the head row
 * (`SELECT … FOR UPDATE` inside the append transaction): the next appender blocks until the previous one commits,
 * then links after the new head, so `seq` stays gap-free and the chain linear. Every connection runs with
 * `synchronous_commit = on`, so `append` resolves only once the server has flushed the commit to its WAL.
 *
 * Schema creation runs under a transaction-scoped advisory lock so processes starting together do not race on
 * `CREATE … IF NOT EXISTS` (which is not race-free in PostgreSQL).
 *
 * Erasure and pruning (`rampart privacy`) run under the same head-row lock as appends. The append-only trigger lets
 * exactly two changes through: a live v2 entry turned into a tombstone, and the deletion of entries at or below
 * the prune anchor (sqlite.ts says the same for SQLite). Old row versions stay in the table's pages until VACUUM
 * reuses them, and in the server's WAL and backups for as long as those are kept: `erase` runs a plain VACUUM of
 * the chain table afterwards (best effort; docs/privacy.md says what else an operator must do).
 */
import pg from 'pg';
import {
  ChainMismatchError,
  GENESIS_HASH,
  checkMeta,
  erasedFields,
  linkFault,
  metaOf,
  type AuditEntry,
  type AuditEntryInput,
  type ChainHasher,
  type ChainHead,
  type ChainMeta,
} from './chain.ts';
import {
  AuditStoreError,
  DEFAULT_PRUNE_BATCH,
  readConditions,
  type AuditReadOptions,
  type AuditStore,
  type EraseRequest,
  type EraseResult,
  type OpenAuditStoreOptions,
  type PruneInfo,
  type PruneOptions,
  type PruneResult,
} from './store.ts';
import { entryOf, verifyChain, type VerifyOptions, type VerifyReport } from './verify.ts';
import { CHAIN_COLUMNS, CHAIN_PAGE, linkOfRow, type ChainRow } from './stored-row.ts';

/** Unquoted identifiers only: the schema name is interpolated into SQL, so nothing else may pass. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;



export class PostgresAuditStore implements AuditStore {
  readonly kind = 'postgres' as const;
  readonly hasher: ChainHasher;
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #t: { chain: string; head: string; meta: string };
  #closed = false;

  private constructor(pool: pg.Pool, schema: string, hasher: ChainHasher) {
    this.#pool = pool;
    this.schema = schema;
    this.hasher = hasher;
    this.#t = { chain: `${schema}.audit_chain`, head: `${schema}.audit_head`, meta: `${schema}.audit_meta` };
  }

  static async open(url: string, options: OpenAuditStoreOptions): Promise<PostgresAuditStore> {
    const schema = options.schema ?? 'rampart_audit';
    if (!SCHEMA_NAME.test(schema)) throw new AuditStoreError('audit schema name must be lower-case letters, digits and "_" (at most 63)');
    const pool = new pg.Pool({ connectionString: withSynchronousCommit(url), max: options.poolSize ?? 4, idleTimeoutMillis: 30_000 });
    // An idle client losing its connection must not crash the gateway; the next query reports the failure.
    pool.on('error', () => undefined);
    const store = new PostgresAuditStore(pool, schema, options.hasher);
    try {
      if (options.mustExist) {
        const { rows } = await pool.query<{ found: string | null }>('SELECT to_regclass($1) AS found', [`${schema}.audit_chain`]);
        if (rows[0]?.found == null) throw new AuditStoreError(`no audit chain in schema ${schema}`);
      }
      await store.#migrate();
    } catch (error) {
      await pool.end().catch(() => undefined);
      if (error instanceof ChainMismatchError || error instanceof AuditStoreError) throw error;
      throw new AuditStoreError(`cannot open the PostgreSQL audit store: ${(error as Error).message}`, { cause: error });
    }
    return store;
  }

  async #migrate(): Promise<void> {
    const { chain, head, meta } = this.#t;
    const s = this.schema;
    await this.#transaction(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('rampart-audit-schema'))");
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${meta} (name TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${chain} (
        seq BIGINT PRIMARY KEY, time BIGINT NOT NULL, type TEXT NOT NULL, actor TEXT NOT NULL, client TEXT, route TEXT,
        request_id TEXT, outcome TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)`);
      await client.query(`CREATE INDEX IF NOT EXISTS audit_chain_time ON ${chain} (time)`);
      // Format 2 columns (chain.ts); a table from before them gets them, its rows keeping v = 1. Checked first, so a
      // normal start takes no table lock.
      const columns = await client.query<{ column_name: string }>(
        'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
        [s, 'audit_chain'],
      );
      const have = new Set(columns.rows.map((r) => r.column_name));
      if (!have.has('v')) await client.query(`ALTER TABLE ${chain} ADD COLUMN v SMALLINT NOT NULL DEFAULT 1`);
      if (!have.has('salt')) await client.query(`ALTER TABLE ${chain} ADD COLUMN salt TEXT`);
      if (!have.has('commitment')) await client.query(`ALTER TABLE ${chain} ADD COLUMN commitment TEXT`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${head} (id INT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL)`);
      await client.query(`INSERT INTO ${head} (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING`, [GENESIS_HASH]);
      // Append-only guard against mistakes (not against an attacker, who can drop it: see chain.ts).
      // Two changes pass: a live v2 entry becoming a tombstone (nothing else changing), and deleting entries at or
      // below the prune anchor.
      await client.query(`CREATE OR REPLACE FUNCTION ${s}.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND OLD.v = 2 AND OLD.salt IS NOT NULL AND NEW.salt IS NULL
             AND NEW.seq = OLD.seq AND NEW.time = OLD.time AND NEW.type = OLD.type AND NEW.route IS NOT DISTINCT FROM OLD.route
             AND NEW.outcome = OLD.outcome AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash AND NEW.v = OLD.v
             AND NEW.commitment IS NOT DISTINCT FROM OLD.commitment AND NEW.actor = '[erased]' AND NEW.client IS NULL
             AND NEW.request_id IS NULL AND NEW.details LIKE '{"at":%,"erased":true,%' THEN
            RETURN NEW;
          END IF;
          IF TG_OP = 'DELETE' AND OLD.seq <= COALESCE((SELECT value::bigint FROM ${meta} WHERE name = 'anchor_seq'), 0) THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'the audit chain is append-only';
        END $$`);
      const exists = await client.query('SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND t.tgname = $2', [
        s,
        'audit_chain_append_only',
      ]);
      if (exists.rowCount === 0) {
        await client.query(`CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON ${chain} FOR EACH ROW EXECUTE FUNCTION ${s}.audit_append_only()`);
      }
      const m = metaOf(this.hasher);
      await client.query(`INSERT INTO ${meta} (name, value) VALUES ('format', $1), ('hash', $2), ('key_id', $3) ON CONFLICT (name) DO NOTHING`, [
        String(m.format),
        m.mode,
        m.keyId ?? '',
      ]);
      // The newest entry format in the chain: raised, never lowered.
      await client.query(`UPDATE ${meta} SET value = $1 WHERE name = 'format' AND value::int < $2`, [String(m.format), m.format]);
    });
    checkMeta(await this.#readMeta(), this.hasher);
  }

  async #readMeta(client: pg.Pool | pg.PoolClient = this.#pool): Promise<ChainMeta> {
    const { rows } = await client.query<{ name: string; value: string }>(`SELECT name, value FROM ${this.#t.meta}`);
    const map = new Map(rows.map((r) => [r.name, r.value]));
    const mode = map.get('hash');
    if (mode !== 'sha256' && mode !== 'hmac-sha256') throw new ChainMismatchError('audit chain metadata is missing or damaged (hash mode)');
    return { format: Number(map.get('format')), mode, keyId: map.get('key_id') || null };
  }

  async #transaction<T>(body: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    if (this.#closed) throw new AuditStoreError('the audit store is closed');
    const client = await this.#pool.connect();
    try {
      await client.query(begin);
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async append(inputs: readonly AuditEntryInput[]): Promise<AuditEntry[]> {
    if (inputs.length === 0) return [];
    return this.#transaction(async (client) => this.#appendLocked(client, await this.#lockHead(client), inputs));
  }

  /** Takes the head row's lock for this transaction (every writer does, so writers are serialised). */
  async #lockHead(client: pg.PoolClient): Promise<ChainHead> {
    const current = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${this.#t.head} WHERE id = 1 FOR UPDATE`);
    const row = current.rows[0];
    if (row === undefined) throw new AuditStoreError('the audit head row is missing');
    return { seq: Number(row.seq), hash: row.hash };
  }

  async #appendLocked(client: pg.PoolClient, head: ChainHead, inputs: readonly AuditEntryInput[]): Promise<AuditEntry[]> {
    const linked = this.hasher.link(head, inputs);
    const entries = linked.map((l) => l.entry);
    const columns: unknown[][] = [[], [], [], [], [], [], [], [], [], [], [], [], [], []];
    for (const { entry: e, detailsText } of linked) {
      const values = [e.seq, e.time, e.type, e.actor, e.client, e.route, e.requestId, e.outcome, detailsText, e.prev, e.hash, e.v ?? 1, e.salt ?? null, e.commitment ?? null];
      values.forEach((v, i) => columns[i]!.push(v));
    }
    // One statement for the whole batch (unnest of column arrays), whatever its size.
    await client.query(
      `INSERT INTO ${this.#t.chain} (${CHAIN_COLUMNS}) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::smallint[], $13::text[], $14::text[])`,
      columns,
    );
    const last = entries[entries.length - 1]!;
    await client.query(`UPDATE ${this.#t.head} SET seq = $1, hash = $2 WHERE id = 1`, [last.seq, last.hash]);
    return entries;
  }

  async #readAnchor(client: pg.Pool | pg.PoolClient = this.#pool): Promise<ChainHead | null> {
    const { rows } = await client.query<{ name: string; value: string }>(`SELECT name, value FROM ${this.#t.meta} WHERE name IN ('anchor_seq', 'anchor_hash')`);
    const map = new Map(rows.map((r) => [r.name, r.value]));
    const seq = Number(map.get('anchor_seq'));
    const hash = map.get('anchor_hash');
    return Number.isSafeInteger(seq) && seq > 0 && hash !== undefined ? { seq, hash } : null;
  }

  async erase(request: EraseRequest): Promise<EraseResult> {
    const { chain } = this.#t;
    const result = await this.#transaction(async (client) => {
      const head = await this.#lockHead(client);
      const outcome = { erased: [] as number[], notErasable: [] as number[], alreadyErased: [] as number[], missing: [] as number[] };
      for (const seq of [...new Set(request.seqs)].sort((a, b) => a - b)) {
        const { rows } = await client.query<ChainRow>(`SELECT ${CHAIN_COLUMNS} FROM ${chain} WHERE seq = $1 FOR UPDATE`, [seq]);
        const row = rows[0];
        if (row === undefined) outcome.missing.push(seq);
        else if (Number(row.v) !== 2) outcome.notErasable.push(seq);
        else if (row.salt === null) outcome.alreadyErased.push(seq);
        else {
          const link = linkOfRow(row);
          if (linkFault(link, this.hasher) !== undefined) throw new AuditStoreError(`audit entry seq ${seq} does not match its hash; run rampart audit verify before erasing`);
          const fields = erasedFields(this.hasher, link, { by: request.by, at: request.at, erasure: request.erasure });
          const updated = await client.query(
            `UPDATE ${chain} SET actor = $1, client = NULL, request_id = NULL, details = $2, salt = NULL WHERE seq = $3 AND salt IS NOT NULL`,
            [fields.actor, fields.details, seq],
          );
          if (updated.rowCount !== 1) throw new AuditStoreError(`audit entry seq ${seq} could not be erased`);
          outcome.erased.push(seq);
        }
      }
      const [record] = await this.#appendLocked(client, head, [request.record(outcome)]);
      return { ...outcome, record: record! };
    });
    // Dead row versions hold the erased content until VACUUM marks their space reusable (not in a transaction).
    await this.#pool.query(`VACUUM ${chain}`).catch(() => undefined);
    return result;
  }

  async prune(beforeTime: number, record: (info: PruneInfo) => AuditEntryInput, options: PruneOptions = {}): Promise<PruneResult> {
    if (!Number.isSafeInteger(beforeTime)) throw new AuditStoreError('prune time must be an integer');
    const maxEntries = options.maxEntries ?? DEFAULT_PRUNE_BATCH;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new AuditStoreError('maxEntries must be a positive integer');
    const { chain, meta } = this.#t;
    return this.#transaction(async (client) => {
      const head = await this.#lockHead(client);
      const anchor = await this.#readAnchor(client);
      const start = anchor?.seq ?? 0;
      const newer = (await client.query<{ seq: string | null }>(`SELECT min(seq) AS seq FROM ${chain} WHERE seq > $1 AND time >= $2`, [start, beforeTime])).rows[0]?.seq;
      const through = Math.min(newer === null || newer === undefined ? head.seq : Number(newer) - 1, start + maxEntries);
      if (through <= start) return { pruned: 0, anchor };
      // Only a prefix that verifies is pruned (sqlite.ts says why).
      let last: ChainHead = anchor ?? { seq: 0, hash: GENESIS_HASH };
      for (let after = start; after < through; ) {
        const { rows } = await client.query<ChainRow>(`SELECT ${CHAIN_COLUMNS} FROM ${chain} WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT ${CHAIN_PAGE}`, [after, through]);
        if (rows.length === 0) break;
        for (const row of rows) {
          const link = linkOfRow(row);
          if (link.seq !== last.seq + 1 || link.prev !== last.hash || linkFault(link, this.hasher) !== undefined) {
            throw new AuditStoreError(`audit entry seq ${last.seq + 1} does not verify; run rampart audit verify before pruning`);
          }
          last = { seq: link.seq, hash: link.hash };
        }
        after = last.seq;
      }
      if (last.seq !== through) throw new AuditStoreError(`audit entry seq ${last.seq + 1} is missing; run rampart audit verify before pruning`);
      await client.query(
        `INSERT INTO ${meta} (name, value) VALUES ('anchor_seq', $1), ('anchor_hash', $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
        [String(last.seq), last.hash],
      );
      const deleted = await client.query(`DELETE FROM ${chain} WHERE seq > $1 AND seq <= $2`, [start, through]);
      const pruned = deleted.rowCount ?? 0;
      const [entry] = await this.#appendLocked(client, head, [record({ anchor: last, pruned, beforeTime })]);
      return { pruned, anchor: last, record: entry! };
    });
  }

  async anchor(): Promise<ChainHead | null> {
    return this.#readAnchor();
  }

  async head(): Promise<ChainHead | null> {
    const { rows } = await this.#pool.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${this.#t.head} WHERE id = 1`);
    const row = rows[0];
    return row === undefined ? null : { seq: Number(row.seq), hash: row.hash };
  }

  async *#pages(client: pg.Pool | pg.PoolClient, where: string[], args: number[]): AsyncGenerator<ChainRow> {
    const conditions = where.map((w, i) => `AND ${w.replace('?', `$${i + 2}`)} `).join('');
    const sql = `SELECT ${CHAIN_COLUMNS} FROM ${this.#t.chain} WHERE seq > $1 ${conditions}ORDER BY seq LIMIT ${CHAIN_PAGE}`;
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const { rows } = await client.query<ChainRow>(sql, [after, ...args]);
      yield* rows;
      if (rows.length < CHAIN_PAGE) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  async *read(options: AuditReadOptions = {}): AsyncIterable<AuditEntry> {
    const { where, args } = readConditions(options);
    for await (const row of this.#pages(this.#pool, where, args)) {
      const link = linkOfRow(row);
      yield { ...entryOf(link), hash: link.hash };
    }
  }

  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    // One snapshot for the whole walk, so appends by running gateways during the verify are not half-seen.
    return this.#transaction(async (client) => {
      checkMeta(await this.#readMeta(client), this.hasher);
      const pages = (): AsyncIterable<ChainRow> => this.#pages(client, [], []);
      return verifyChain(
        {
          links: async function* () {
            for await (const row of pages()) yield linkOfRow(row);
          },
          successorsOf: async (hash) =>
            (await client.query<{ seq: string }>(`SELECT seq FROM ${this.#t.chain} WHERE prev_hash = $1 ORDER BY seq`, [hash])).rows.map((r) => Number(r.seq)),
          head: async () => {
            const { rows } = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${this.#t.head} WHERE id = 1`);
            return rows[0] === undefined ? null : { seq: Number(rows[0].seq), hash: rows[0].hash };
          },
          anchor: () => this.#readAnchor(client),
        },
        this.hasher,
        options,
      );
    }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async durabilityInForce(): Promise<Record<string, string>> {
    const client = await this.#pool.connect();
    try {
      const { rows } = await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
      return { synchronous_commit: rows[0]?.synchronous_commit ?? 'unknown' };
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/**
 * `url` with `-c synchronous_commit=on` appended to its PostgreSQL startup `options`: on every connection the server
 * flushes its WAL before acknowledging a commit (durable against a server crash). A later `-c` for the same setting
 * wins, so a URL asking for `off` gets `on`. A startup option rather than a `SET` from the pool's 'connect' event:
 * that query would still be running when the pool hands the client out, and pg answers the caller's overlapping
 * query with a deprecation warning now and will refuse it in pg 9.
 */
function withSynchronousCommit(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AuditStoreError('the audit store URL is not a URL (postgres://user@host:port/database)');
  }
  const own = parsed.searchParams.get('options');
  parsed.searchParams.set('options', `${own === null || own.trim() === '' ? '' : `${own} `}-c synchronous_commit=on`);
  return parsed.toString();
}
