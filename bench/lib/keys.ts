// Bulk-loads project API keys for benchmarks: a fixture load straight into `api_keys`, not a domain
// operation (a million keys through the domain would take far too long). Rows are what
// KeyService.issue writes, so keys with a known secret (hashSecret, the same SHA-256 the verifier
// looks up) authenticate like issued ones; the others get a random hash nobody holds.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { hashSecret, redactSecret } from '../../src/crypto/keys.ts';
import { ID_PREFIX, newId } from '../../src/domain/ids.ts';
import type { Store } from '../../src/store/db.ts';
import type { ApiKeyRow } from '../../src/store/schema.ts';

export interface KeyFill {
  orgId: string;
  projectId: string;
  /** The service account owning the keys. */
  ownerId: string;
  /** Rows to insert in all. */
  n: number;
  /** Secrets of the first rows (they authenticate); the rest get random hashes. */
  secrets?: readonly string[];
  /** Progress, once per batch. */
  onProgress?: (done: number) => void;
}

/** Inserts `n` active project keys, one millisecond apart, oldest first; returns the seconds it took. */
export async function insertProjectKeys(store: Store, fill: KeyFill): Promise<number> {
  const t0 = performance.now();
  const { orgId, projectId, ownerId, n } = fill;
  const secrets = fill.secrets ?? [];
  const sqlite = store.dialect === 'sqlite';
  const base = Date.now() - n;
  const batch = sqlite ? 5000 : 2000;
  // chunked so bound parameters stay under each driver's limit (19 columns a row)
  const perInsert = Math.floor((sqlite ? 1500 : 2000) / 19);
  for (let i = 0; i < n; i += batch) {
    const rows: ApiKeyRow[] = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      const created = base + j;
      const secret = secrets[j];
      rows.push({
        id: newId(ID_PREFIX.key, created), org_id: orgId, kind: 'project', project_id: projectId, owner_type: 'service_account', owner_id: ownerId,
        name: `k${j}`, public_id: null, scopes: null, collection_id: null,
        secret_hash: secret !== undefined ? hashSecret(secret) : randomBytes(32).toString('hex'),
        redacted_value: secret !== undefined ? redactSecret(secret) : 'sk-svcacct...bench',
        status: 'active', created_at: created, expires_at: null, last_used_at: null, usage_count: 0, revoked_at: null, created_by: 'bench',
      });
    }
    await store.db.transaction().execute(async (tx) => {
      for (let k = 0; k < rows.length; k += perInsert) await tx.insertInto('api_keys').values(rows.slice(k, k + perInsert)).execute();
    });
    fill.onProgress?.(Math.min(n, i + batch));
  }
  if (!sqlite) await store.db.executeQuery({ sql: 'ANALYZE api_keys', parameters: [], query: { kind: 'RawNode' } as any } as any).catch(() => {});
  return (performance.now() - t0) / 1000;
}
