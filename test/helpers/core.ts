// A migrated store and a domain core on a fresh database, without HTTP.
import { openStore, type Store } from '../../src/store/db.ts';
import { Core, type CoreOptions } from '../../src/domain/core.ts';
import { createTestDb, type TestDb } from './db.ts';

export interface TestCore {
  db: TestDb;
  store: Store;
  core: Core;
  close(): Promise<void>;
}

export async function openTestCore(dialect: 'sqlite' | 'postgres', opts: CoreOptions = {}): Promise<TestCore> {
  const db = await createTestDb(dialect);
  const store = openStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
  await store.migrate();
  const core = new Core(store, { databaseUrl: db.databaseUrl, ...opts });
  await core.start();
  return {
    db,
    store,
    core,
    async close() {
      await core.stop();
      await store.close();
      await db.drop();
    },
  };
}
