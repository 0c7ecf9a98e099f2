// Starts a real keyplane server in this process, listening on a free loopback port, on a fresh
// database of the given dialect; everything it made is removed by close().
import type { FastifyInstance } from 'fastify';
import { loadConfig, type FlagValues } from '../../src/config.ts';
import { openRuntime, runBootstrap, type Runtime } from '../../src/runtime.ts';
import { buildServer, type BuildOptions } from '../../src/server.ts';
import { createTestDb, type TestDb } from './db.ts';

export interface TestServer {
  url: string;
  /** The bootstrap admin key of organization `main`. */
  adminKey: string;
  rt: Runtime;
  app: FastifyInstance;
  db: TestDb;
  close(): Promise<void>;
}

export async function startServer(dialect: 'sqlite' | 'postgres', flags: FlagValues = {}, build: BuildOptions = {}): Promise<TestServer> {
  const db = await createTestDb(dialect);
  // Every test talks from 127.0.0.1, and many send bad keys on purpose: the failed-authentication
  // throttle is off here unless a test turns it on (test/security/auth-throttle.test.ts does).
  const config = loadConfig({ port: '0', logLevel: 'silent', dataDir: db.dataDir, authFailureBurst: '0', ...(db.databaseUrl ? { databaseUrl: db.databaseUrl } : {}), ...flags }, {});
  const rt = await openRuntime(config);
  const boot = await runBootstrap(rt);
  const fs = await import('node:fs');
  const adminKey = fs.readFileSync(boot.keyFile!, 'utf8').trim();
  const app = await buildServer(config, rt.core, build);
  await rt.core.start();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    adminKey,
    rt,
    app,
    db,
    async close() {
      // as at the end of a shutdown: connections still open (a client's spare connection with no
      // request on it waits for Node's 60 s headers timeout otherwise) are cut
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await rt.close();
      await db.drop();
    },
  };
}
