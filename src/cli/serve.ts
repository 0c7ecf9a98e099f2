// `keyplane serve`: open, bootstrap, listen; on SIGTERM/SIGINT finish in-flight requests, flush
// buffered writes, close the store and exit 0.
import pino from 'pino';
import type { Config } from '../config.ts';
import { openRuntime, runBootstrap } from '../runtime.ts';
import { buildServer, loggerOptions } from '../server.ts';

export async function serve(config: Config): Promise<void> {
  // Log lines (the access log's above all) go to stdout asynchronously: a request never waits on a
  // write; lines written meanwhile are batched into the next one. Flushed before every exit.
  const dest = pino.destination({ dest: 1, sync: false });
  const flushLogs = () => {
    try {
      dest.flushSync();
    } catch {
      // not open yet, or stdout gone: nothing more can be written anyway
    }
  };
  const exit = (code: number) => {
    flushLogs();
    process.exit(code);
  };
  process.once('exit', flushLogs);
  const log = pino(loggerOptions(config.logLevel), dest);
  const rt = await openRuntime(config, { onBackgroundError: (err, what) => log.error({ err: err.message }, `${what} failed`) });
  // A gateway-only node never creates the first organization and its admin key: an admin (or `all`)
  // node does, so the key is printed once, on the node that serves the admin APIs.
  const boot = config.role === 'gateway' ? ({ created: false } as const) : await runBootstrap(rt);
  if (boot.created) {
    if (boot.printableSecret) {
      // The one and only time this secret is shown; it is never logged.
      process.stdout.write(
        `\nkeyplane: created organization '${boot.orgSlug}'. Its admin API key (shown once, also saved to ${boot.keyFile} with mode 0600):\n\n    ${boot.printableSecret}\n\n`,
      );
    } else {
      log.info({ keyFile: boot.keyFile }, `created organization '${boot.orgSlug}' with the admin key from KEYPLANE_BOOTSTRAP_ADMIN_KEY`);
    }
    if (boot.ownerSignIn) {
      // shown this once, never logged: the owner's console sign-in (change the password once signed in)
      process.stdout.write(`keyplane: the owner of '${boot.orgSlug}' signs in to the console (/console) with (shown once):\n\n    email:    ${boot.ownerSignIn.email}\n    password: ${boot.ownerSignIn.password}\n\n`);
    }
  } else if (config.bootstrapAdminKey && config.role === 'gateway') {
    log.warn('KEYPLANE_BOOTSTRAP_ADMIN_KEY ignored: a gateway node does not bootstrap (an admin node does)');
  } else if (config.bootstrapAdminKey) {
    log.warn('KEYPLANE_BOOTSTRAP_ADMIN_KEY ignored: this database is already bootstrapped');
  }
  if (rt.rotationSettled === 'finished') log.warn({ masterKeyId: rt.masterKey.id }, 'an interrupted master-key rotation was finished: the vault uses the new key, now in the data dir master-key file');
  if (rt.rotationSettled === 'undone') log.warn({ masterKeyId: rt.masterKey.id }, 'an interrupted master-key rotation was undone (the database never used the new key): the staged master-key.next was removed');
  if (rt.masterKey.source === 'generated') log.info('generated a new master key in the data dir (mode 0600); back it up with the database');

  const app = await buildServer(config, rt.core, { logStream: dest });
  // The same background work on every role: the cache invalidation listener and the key-use flush
  // serve the admin faces and the gateway alike; the gateway usage recorder's timer is idle (an empty
  // buffer) on an admin node, and SQLite's checkpoints only run in single-node installs.
  await rt.core.start();
  await app.listen({ port: config.port, host: config.host });
  const metricsAt = app.metrics?.address();
  app.log.info(
    {
      role: config.role,
      database: rt.store.dialect,
      platformApi: config.role !== 'gateway' && !!config.rootKey,
      metrics: metricsAt ? `http://${metricsAt.address.includes(':') ? `[${metricsAt.address}]` : metricsAt.address}:${metricsAt.port}/metrics` : config.metricsToken ? '/metrics (token)' : 'off',
      accessLog: config.accessLog ? config.accessLogSample : 'off',
    },
    'keyplane ready',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    // After the timeout, connections still open (a stream, or a client holding a connection it sent
    // nothing on) are cut, so the store still closes and the buffered usage is still written; if even
    // that hangs, the process exits anyway.
    const cut = setTimeout(() => {
      app.log.error('shutdown timed out; closing the connections still open');
      app.server.closeAllConnections();
      setTimeout(() => {
        app.log.error('shutdown still blocked; exiting with buffered work unwritten');
        exit(1);
      }, 10_000).unref();
    }, config.shutdownTimeoutMs);
    cut.unref();
    try {
      await app.close();
      await rt.close(); // flushes buffered key usage and gateway usage, then closes the store
      app.log.info('stopped');
      exit(0);
    } catch (err) {
      app.log.error({ err: (err as Error).message }, 'shutdown failed');
      exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
