/**
 * Versioned schema of the SQLite store. Migrations are applied in order, each once, at open, inside
 * one `BEGIN IMMEDIATE` transaction so two processes starting together cannot both migrate, and a
 * failing migration leaves the previous schema intact.
 *
 * Rules for adding one: append a new entry with the next version; never edit or reorder an applied
 * one (its checksum is recorded, and a database whose applied migrations differ from this list is
 * refused rather than silently run against a schema this code does not know).
 *
 * Secrets never appear in plaintext columns: `*_hash` columns hold `hashSecret` HMACs or argon2id
 * strings, `sealed_*` columns hold SecretBox envelopes bound to `<table>:<id>` (a new one is also listed in
 * sqlite/keyring.ts `SEALED_COLUMNS`), `keyring.wrapped` holds keys wrapped by the master key.
 * Tables are STRICT (SQLite ≥ 3.37) so a value of the wrong type is an error, not a silent coercion.
 */
import { createHash } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { StoreSchemaError } from '../ports.ts';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: 'identities and sessions',
    sql: `
      CREATE TABLE consumers (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        roles       TEXT NOT NULL,              -- JSON array of role names
        tenant      TEXT,
        disabled    INTEGER NOT NULL CHECK (disabled IN (0, 1)),
        created_at  INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE api_keys (
        id            TEXT PRIMARY KEY,
        consumer_id   TEXT NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
        name          TEXT,
        prefix        TEXT NOT NULL UNIQUE,     -- the visible part of the key
        hash          TEXT NOT NULL,            -- hashSecret(key)
        scopes        TEXT,                     -- JSON array, NULL = all of the consumer's permissions
        expires_at    INTEGER,
        revoked_at    INTEGER,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER
      ) STRICT;
      CREATE INDEX api_keys_by_consumer ON api_keys (consumer_id, created_at);

      CREATE TABLE users (
        id                    TEXT PRIMARY KEY,
        username              TEXT NOT NULL,
        username_normalized   TEXT NOT NULL UNIQUE,
        password_hash         TEXT NOT NULL,    -- argon2id PHC string
        roles                 TEXT NOT NULL,
        tenant                TEXT,
        mfa_required          INTEGER NOT NULL CHECK (mfa_required IN (0, 1)),
        disabled              INTEGER NOT NULL CHECK (disabled IN (0, 1)),
        created_at            INTEGER NOT NULL,
        password_changed_at   INTEGER NOT NULL,
        sessions_valid_after  INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE totp_secrets (
        user_id         TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        sealed_secret   TEXT NOT NULL,          -- SecretBox, AAD totp_secrets:<user_id>
        created_at      INTEGER NOT NULL,
        confirmed_at    INTEGER,
        last_used_step  INTEGER
      ) STRICT;

      CREATE TABLE recovery_codes (
        user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        hash        TEXT NOT NULL,              -- hashSecret(code)
        created_at  INTEGER NOT NULL,
        used_at     INTEGER,
        PRIMARY KEY (user_id, hash)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE webauthn_credentials (
        id            TEXT PRIMARY KEY,         -- credential id, base64url
        user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        public_key    BLOB NOT NULL,            -- COSE public key (not secret)
        counter       INTEGER NOT NULL,
        transports    TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER
      ) STRICT;
      CREATE INDEX webauthn_credentials_by_user ON webauthn_credentials (user_id, created_at);

      CREATE TABLE oauth_clients (
        client_id    TEXT PRIMARY KEY,
        secret_hash  TEXT NOT NULL,             -- hashSecret(client secret)
        name         TEXT NOT NULL,
        roles        TEXT NOT NULL,
        scopes       TEXT NOT NULL,
        tenant       TEXT,
        disabled     INTEGER NOT NULL CHECK (disabled IN (0, 1)),
        created_at   INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE signing_keys (
        kid                 TEXT PRIMARY KEY,
        alg                 TEXT NOT NULL,
        sealed_private_jwk  TEXT NOT NULL,      -- SecretBox, AAD signing_keys:<kid>
        public_jwk          TEXT NOT NULL,
        created_at          INTEGER NOT NULL,
        activated_at        INTEGER NOT NULL,
        retired_at          INTEGER
      ) STRICT;

      -- Sessions carry no foreign key to users: the session port may live in another store (Redis)
      -- than the identity port, so deleting a user also calls revokeUserSessions.
      CREATE TABLE sessions (
        id_hash              TEXT PRIMARY KEY,  -- hashSecret(session id)
        user_id              TEXT NOT NULL,
        created_at           INTEGER NOT NULL,
        last_seen_at         INTEGER NOT NULL,
        absolute_expires_at  INTEGER NOT NULL,
        idle_timeout_ms      INTEGER NOT NULL,
        amr                  TEXT NOT NULL,
        acr                  TEXT,
        csrf_token_hash      TEXT,
        revoked_at           INTEGER
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX sessions_by_user ON sessions (user_id, created_at);

      CREATE TABLE refresh_families (
        id                  TEXT PRIMARY KEY,
        subject             TEXT NOT NULL,
        client_id           TEXT,
        scopes              TEXT NOT NULL,
        amr                 TEXT NOT NULL,
        acr                 TEXT,
        auth_time           INTEGER NOT NULL,
        created_at          INTEGER NOT NULL,
        expires_at          INTEGER NOT NULL,
        current_token_hash  TEXT NOT NULL,
        rotated_at          INTEGER,
        revoked_at          INTEGER,
        revoked_reason      TEXT
      ) STRICT;
      CREATE INDEX refresh_families_by_subject ON refresh_families (subject);
      CREATE INDEX refresh_families_by_expiry ON refresh_families (expires_at);

      -- Every refresh token a family ever issued, so a used one is recognised when it comes back.
      CREATE TABLE refresh_tokens (
        hash       TEXT PRIMARY KEY,            -- hashSecret(refresh token)
        family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
        issued_at  INTEGER NOT NULL,
        used_at    INTEGER
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

      CREATE TABLE revoked_access_tokens (
        jti         TEXT PRIMARY KEY,
        expires_at  INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX revoked_access_tokens_by_expiry ON revoked_access_tokens (expires_at);
    `,
  },
  {
    version: 2,
    name: 'key ring',
    // crypto/keyring.ts: random keys wrapped by the master key. Values sealed before (SecretBox v1) are re-sealed
    // as v2 under the ring's data key when the store opens (storage/sqlite/keyring.ts).
    sql: `
      CREATE TABLE keyring (
        id          TEXT PRIMARY KEY,           -- d… data key, s… stable secret
        purpose     TEXT NOT NULL CHECK (purpose IN ('secrets', 'pepper', 'audit-chain', 'privacy')),
        wrapped     TEXT NOT NULL,              -- w1.<iv>.<ct>.<tag>: AES-256-GCM under the master key, AAD id + purpose
        created_at  INTEGER NOT NULL,
        retired_at  INTEGER,                    -- secrets only: no longer seals, still opens
        CHECK (purpose = 'secrets' OR retired_at IS NULL)
      ) STRICT;
      -- One active key per purpose: one sealing data key, one of each stable secret.
      CREATE UNIQUE INDEX keyring_active ON keyring (purpose) WHERE retired_at IS NULL;

      -- The fingerprint of the master key that wraps the ring, so a wrong one is named as such.
      CREATE TABLE keyring_kek (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        fingerprint  TEXT NOT NULL,             -- HKDF(master key, "rampart/v2/keyring-kek-fingerprint"), 128 bits hex
        created_at   INTEGER NOT NULL,
        rotated_at   INTEGER                    -- last rampart keyring rotate
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'secret vault',
    // secrets/vault.ts: named secrets that config references as ${secret:NAME} (webhook secrets, upstream
    // credentials). The AAD is rampart/secret/<name>, not <table>:<id>, so they are not in SEALED_COLUMNS.
    sql: `
      CREATE TABLE secrets (
        name        TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 128),
        sealed      TEXT NOT NULL,              -- SecretBox v2 under a key ring data key, AAD rampart/secret/<name>
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      ) STRICT;
    `,
  },
]);

export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((latest, migration) => Math.max(latest, migration.version), 0);

function checksum(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/**
 * Brings the database to the latest schema, or refuses: a database migrated by a newer Rampart, or
 * whose applied migrations are not this build's, throws StoreSchemaError and is left untouched.
 * Resolves the versions applied by this call.
 */
export function migrate(db: BetterSqlite3.Database, migrations: readonly Migration[] = MIGRATIONS, now: () => number = Date.now): number[] {
  const latest = migrations.reduce((max, migration) => Math.max(max, migration.version), 0);
  const run = db.transaction((): number[] => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version     INTEGER PRIMARY KEY,
        name        TEXT NOT NULL,
        checksum    TEXT NOT NULL,
        applied_at  INTEGER NOT NULL
      ) STRICT
    `);
    const applied = db.prepare('SELECT version, name, checksum FROM schema_migrations ORDER BY version').all() as AppliedRow[];
    const newest = applied.at(-1)?.version ?? 0;
    if (newest > latest) {
      throw new StoreSchemaError(
        `database schema version ${newest} is newer than this Rampart supports (${latest}); ` +
          'run the Rampart version that created it, or restore a backup made before the upgrade',
      );
    }
    const known = new Map(migrations.map((migration) => [migration.version, migration]));
    for (const row of applied) {
      const migration = known.get(row.version);
      if (migration === undefined || checksum(migration.sql) !== row.checksum) {
        throw new StoreSchemaError(
          `database migration ${row.version} ("${row.name}") differs from the one this Rampart ships; refusing to use the database`,
        );
      }
    }
    const done = new Set(applied.map((row) => row.version));
    const record = db.prepare('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)');
    const appliedNow: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, checksum(migration.sql), now());
      appliedNow.push(migration.version);
    }
    return appliedNow;
  });
  return run.immediate();
}

/** The schema version the database is at (0 for a fresh file). */
export function schemaVersion(db: BetterSqlite3.Database): number {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (exists === undefined) return 0;
  const row = db.prepare('SELECT max(version) AS version FROM schema_migrations').get() as { version: number | null };
  return row.version ?? 0;
}
