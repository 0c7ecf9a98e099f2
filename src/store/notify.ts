// Cross-node cache invalidation on PostgreSQL: NOTIFY on change, LISTEN on every node. A node that
// loses its listening connection clears its whole cache when it reconnects, since it may have missed
// notifications meanwhile.
import pg from 'pg';

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
 * Tells every node listening on this PostgreSQL database that provider credentials changed. Needs no
 * listener of its own (the operator CLI notifies running servers with it).
 */
export async function publishCredentialChange(pool: pg.Pool, payload: string): Promise<void> {
  await pool.query('SELECT pg_notify($1, $2)', [CREDENTIAL_CHANNEL, payload]);
}

export interface PgInvalidatorHooks {
  onKey(secretHash: string): void;
  /** A provider-credential change (payload from publishCredentialChange). */
  onCredential?(payload: string): void;
  /** The listener reconnected (notifications may have been missed): drop every cached entry. */
  onResync(): void;
  onError?(err: Error): void;
}

export async function pgInvalidator(pool: pg.Pool, connectionString: string, hooks: PgInvalidatorHooks): Promise<Invalidator> {
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString });
    c.on('notification', (msg) => {
      if (msg.channel === KEY_CHANNEL && msg.payload) hooks.onKey(msg.payload);
      else if (msg.channel === CREDENTIAL_CHANNEL && msg.payload) hooks.onCredential?.(msg.payload);
    });
    c.on('error', (err) => {
      hooks.onError?.(err);
      void c.end().catch(() => {});
      if (client === c) client = null;
      schedule();
    });
    await c.connect();
    await c.query(`LISTEN ${KEY_CHANNEL}`);
    await c.query(`LISTEN ${CREDENTIAL_CHANNEL}`);
    client = c;
  };
  const schedule = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect()
        .then(() => hooks.onResync())
        .catch((err) => {
          hooks.onError?.(err as Error);
          schedule();
        });
    }, 1000);
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
