// Cross-node cache invalidation on PostgreSQL: NOTIFY on change, LISTEN on every node. A node that
// loses its listening connection clears its whole cache at once and again when it has resubscribed
// (it may have missed notifications meanwhile): the first reconnection is tried after 250 ms, then
// every second.
import type pg from 'pg';
import { loadPg } from './db.ts';

/** Tells every keyplane process that a key changed (the store's side of the domain's key cache). */
export interface Invalidator {
  /** Called after the change has committed. */
  publish(secretHash: string): Promise<void>;
  close(): Promise<void>;
}

export const KEY_CHANNEL = 'keyplane_key_invalidate';
/**
 * Provider-credential changes (the resolver's cache): the payload is the domain's own JSON scope
 * (which organization and/or provider changed); this module passes it through unread.
 */
export const CREDENTIAL_CHANNEL = 'keyplane_credential_invalidate';

/**
 * Every other cache (the gateway's project policies, free-trial allowances): the payload is the
 * domain's own JSON scope (a project or an organization; ids only, never a secret), passed through unread.
 */
export const CACHE_CHANNEL = 'keyplane_cache_invalidate';

/** Tells every node listening on this PostgreSQL database that what `payload` names changed. */
export async function publishCacheChange(pool: pg.Pool, payload: string): Promise<void> {
  await pool.query('SELECT pg_notify($1, $2)', [CACHE_CHANNEL, payload]);
}

/**
 * Tells every node listening on this PostgreSQL database that provider credentials changed. Needs no
 * listener of its own (the operator CLI notifies running servers with it).
 */
export async function publishCredentialChange(pool: pg.Pool, payload: string): Promise<void> {
  await pool.query('SELECT pg_notify($1, $2)', [CREDENTIAL_CHANNEL, payload]);
}

/**
 * Tells the listening nodes that a key changed, without listening itself: the invalidator of a
 * process that never starts the listener (the operator CLI), so its revocations reach running servers.
 */
export function pgPublisher(pool: pg.Pool): Invalidator {
  return {
    async publish(secretHash: string) {
      await pool.query('SELECT pg_notify($1, $2)', [KEY_CHANNEL, secretHash]);
    },
    async close() {},
  };
}

export interface PgInvalidatorHooks {
  onKey(secretHash: string): void;
  /** A provider-credential change (payload from publishCredentialChange). */
  onCredential?(payload: string): void;
  /** Any other cached state changed (payload from publishCacheChange). */
  onCache?(payload: string): void;
  /** The listener lost its connection, or resubscribed after one (notifications may have been missed): drop every cached entry. */
  onResync(): void;
  onError?(err: Error): void;
}

export async function pgInvalidator(pool: pg.Pool, connectionString: string, hooks: PgInvalidatorHooks): Promise<Invalidator> {
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;

  const connect = async (): Promise<void> => {
    const c = new (loadPg().Client)({ connectionString });
    c.on('notification', (msg) => {
      if (msg.channel === KEY_CHANNEL && msg.payload) hooks.onKey(msg.payload);
      else if (msg.channel === CREDENTIAL_CHANNEL && msg.payload) hooks.onCredential?.(msg.payload);
      else if (msg.channel === CACHE_CHANNEL && msg.payload) hooks.onCache?.(msg.payload);
    });
    const lost = (err: Error) => {
      if (client !== c) return; // closed by us, or already handled
      hooks.onError?.(err);
      client = null;
      void c.end().catch(() => {});
      hooks.onResync();
      schedule(250);
    };
    c.on('error', lost);
    c.on('end', () => lost(new Error('the listening connection ended')));
    try {
      await c.connect();
      await c.query(`LISTEN ${KEY_CHANNEL}`);
      await c.query(`LISTEN ${CREDENTIAL_CHANNEL}`);
      await c.query(`LISTEN ${CACHE_CHANNEL}`);
    } catch (err) {
      void c.end().catch(() => {});
      throw err;
    }
    if (closed) {
      void c.end().catch(() => {});
      return;
    }
    client = c;
  };
  const schedule = (delayMs = 1000) => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect()
        .then(() => hooks.onResync())
        .catch((err) => {
          hooks.onError?.(err as Error);
          schedule();
        });
    }, delayMs);
    retry.unref();
  };

  await connect();
  return {
    async publish(secretHash: string) {
      await pool.query('SELECT pg_notify($1, $2)', [KEY_CHANNEL, secretHash]);
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
