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

export interface PgInvalidatorHooks {
  onKey(secretHash: string): void;
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
    });
    c.on('error', (err) => {
      hooks.onError?.(err);
      void c.end().catch(() => {});
      if (client === c) client = null;
      schedule();
    });
    await c.connect();
    await c.query(`LISTEN ${KEY_CHANNEL}`);
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
