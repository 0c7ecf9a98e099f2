// Several keyplane servers in this process on one PostgreSQL database, as the nodes of a cluster:
// one master key and one bootstrap admin key for all, the first node bootstraps, each has its own
// data dir and loopback port. close() stops them and removes their data dirs (not the database).
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type FlagValues } from '../../src/config.ts';
import { openRuntime, runBootstrap, type Runtime } from '../../src/runtime.ts';
import { buildServer } from '../../src/server.ts';
import { tmpDir } from './db.ts';

export interface ClusterNode {
  url: string;
  rt: Runtime;
  app: FastifyInstance;
  dataDir: string;
}

export interface Cluster {
  nodes: ClusterNode[];
  /** The bootstrap admin key of organization `main`. */
  adminKey: string;
  close(): Promise<void>;
}

/** Starts `n` nodes with `flags` (which name the shared database) beside the shared keys. */
export async function startNodes(n: number, flags: FlagValues & { databaseUrl: string }): Promise<Cluster> {
  const masterKey = crypto.randomBytes(32).toString('hex');
  const adminKey = `sk-admin-${crypto.randomBytes(24).toString('hex')}`;
  const nodes: ClusterNode[] = [];
  const close = async () => {
    for (const node of nodes.splice(0)) {
      await node.app.close();
      await node.rt.close();
      fs.rmSync(node.dataDir, { recursive: true, force: true });
    }
  };
  try {
    for (let i = 0; i < n; i++) {
      const dataDir = tmpDir('kp-node');
      const config = loadConfig({ port: '0', logLevel: 'silent', dataDir, masterKey, bootstrapAdminKey: adminKey, ...flags }, {});
      const rt = await openRuntime(config);
      if (i === 0) await runBootstrap(rt);
      const app = await buildServer(config, rt.core);
      nodes.push({ url: '', rt, app, dataDir });
      await rt.core.start();
      await app.listen({ port: 0, host: '127.0.0.1' });
      const addr = app.server.address();
      nodes[i]!.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { nodes, adminKey, close };
}
