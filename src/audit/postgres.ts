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
 */
import pg from 'pg';
import { ChainMismatchError, GENESIS_HASH, checkMeta, metaOf, type AuditEntry, type AuditEntryInput, type ChainHasher, type ChainHead, type ChainMeta } from './chain.ts';
import { AuditStoreError, readConditions, type AuditReadOptions, type AuditStore, type OpenAuditStoreOptions } from './store.ts';
import { entryOf, verifyChain, type StoredLink, type VerifyOptions, type VerifyReport } from './verify.ts';

/** Unquoted identifiers only: the schema name is interpolated into SQL, so nothing else may pass. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const PAGE = 1000;
const COLUMNS = 'seq, time, type, actor, client, route, request_id, outcome, details, prev_hash, hash';

interface Row {
  seq: string;
  time: string;
  type: string;
  actor: string;
  client: string | null;
  route: string | null;
  request_id: string | null;
  outcome: string;
  details: string;
  prev_hash: string;
  hash: string;
}

function linkOf(row: Row): StoredLink {
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
  };
}

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
    const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 4, idleTimeoutMillis: 30_000 });
    // An idle client losing its connection must not crash the gateway; the next query reports the failure.
    pool.on('error', () => undefined);
    // Every connection: the server flushes WAL before acknowledging a commit (durable against a server crash).
    pool.on('connect', (client) => {
      client.query('SET synchronous_commit TO on').catch(() => undefined);
    });
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
      await client.query(`CREATE TABLE IF NOT EXISTS ${head} (id INT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL)`);
      await client.query(`INSERT INTO ${head} (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING`, [GENESIS_HASH]);
      // Append-only guard against mistakes (not against an attacker, who can drop it: see chain.ts).
      await client.query(`CREATE OR REPLACE FUNCTION ${s}.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit chain is append-only'; END $$`);
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
    const { chain, head } = this.#t;
    return this.#transaction(async (client) => {
      const current = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${head} WHERE id = 1 FOR UPDATE`);
      const row = current.rows[0];
      if (row === undefined) throw new AuditStoreError('the audit head row is missing');
      const linked = this.hasher.link({ seq: Number(row.seq), hash: row.hash }, inputs);
      const entries = linked.map((l) => l.entry);
      const columns: unknown[][] = [[], [], [], [], [], [], [], [], [], [], []];
      for (const { entry: e, detailsText } of linked) {
        const values = [e.seq, e.time, e.type, e.actor, e.client, e.route, e.requestId, e.outcome, detailsText, e.prev, e.hash];
        values.forEach((v, i) => columns[i]!.push(v));
      }
      // One statement for the whole batch (unnest of column arrays), whatever its size.
      await client.query(
        `INSERT INTO ${chain} (${COLUMNS}) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])`,
        columns,
      );
      const last = entries[entries.length - 1]!;
      await client.query(`UPDATE ${head} SET seq = $1, hash = $2 WHERE id = 1`, [last.seq, last.hash]);
      return entries;
    });
  }

  async head(): Promise<ChainHead | null> {
    const { rows } = await this.#pool.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${this.#t.head} WHERE id = 1`);
    const row = rows[0];
    return row === undefined ? null : { seq: Number(row.seq), hash: row.hash };
  }

  async *#pages(client: pg.Pool | pg.PoolClient, where: string[], args: number[]): AsyncGenerator<Row> {
    const conditions = where.map((w, i) => `AND ${w.replace('?', `$${i + 2}`)} `).join('');
    const sql = `SELECT ${COLUMNS} FROM ${this.#t.chain} WHERE seq > $1 ${conditions}ORDER BY seq LIMIT ${PAGE}`;
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const { rows } = await client.query<Row>(sql, [after, ...args]);
      yield* rows;
      if (rows.length < PAGE) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  async *read(options: AuditReadOptions = {}): AsyncIterable<AuditEntry> {
    const { where, args } = readConditions(options);
    for await (const row of this.#pages(this.#pool, where, args)) {
      const link = linkOf(row);
      yield { ...entryOf(link), hash: link.hash };
    }
  }

  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    // One snapshot for the whole walk, so appends by running gateways during the verify are not half-seen.
    return this.#transaction(async (client) => {
      checkMeta(await this.#readMeta(client), this.hasher);
      const pages = (): AsyncIterable<Row> => this.#pages(client, [], []);
      return verifyChain(
        {
          links: async function* () {
            for await (const row of pages()) yield linkOf(row);
          },
          successorsOf: async (hash) =>
            (await client.query<{ seq: string }>(`SELECT seq FROM ${this.#t.chain} WHERE prev_hash = $1 ORDER BY seq`, [hash])).rows.map((r) => Number(r.seq)),
          head: async () => {
            const { rows } = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${this.#t.head} WHERE id = 1`);
            return rows[0] === undefined ? null : { seq: Number(rows[0].seq), hash: rows[0].hash };
          },
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
