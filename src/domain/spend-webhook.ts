// Signed webhook notifications of spend alerts (KEYPLANE_SPEND_ALERT_WEBHOOK_URL): a background queue,
// never on a request path. Each notification is POSTed as JSON with
//   keyplane-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//   keyplane-delivery: <the notification's id, the same on every retry>
// where the secret is the organization's webhook secret: derived from the master key and the
// organization id (never stored; the operator reads it with GET /platform/v1/organizations/{slug}/webhook_secret).
// A delivery that fails (no connection, a timeout, any status outside 2xx) is tried again after
// retryMs, 2×retryMs, 4×retryMs… up to `attempts` tries in all; then it is given up and reported.
// Deliveries live in this process's memory: a node that stops drops the ones still waiting (the
// audit event of the alert is in the database either way).
import { createHmac } from 'node:crypto';

/** The organization's webhook signing secret: HMAC-SHA256 of its id under the master key. */
export function webhookSecret(masterKey: Buffer, orgId: string): string {
  return `whsec_${createHmac('sha256', masterKey).update(`keyplane spend-alert webhook\u0000${orgId}`).digest('base64url')}`;
}

/** The `keyplane-signature` header of `body` sent at `t` (unix seconds). */
export function signatureHeader(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

export interface WebhookOptions {
  url: string;
  /** The organization's secret. */
  secretOf: (orgId: string) => string;
  /** Tries in all (default 6). */
  attempts?: number;
  /** Wait before the first retry, doubled each time (default 1000 ms). */
  retryMs?: number;
  /** Longest wait for the receiver's answer (default 10 s). */
  timeoutMs?: number;
  onError?: (err: Error) => void;
  now?: () => number;
}

interface Delivery {
  id: string;
  orgId: string;
  body: string;
  tries: number;
}

export class SpendAlertWebhook {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  /** Deliveries made (2xx), failed tries, and given up, since start. */
  readonly stats = { delivered: 0, failedTries: 0, givenUp: 0 };

  constructor(private readonly opts: WebhookOptions) {}

  /** Queues one notification; returns at once. */
  send(orgId: string, id: string, payload: unknown): void {
    if (this.stopped) return;
    this.attempt({ id, orgId, body: JSON.stringify(payload), tries: 0 });
  }

  private attempt(d: Delivery): void {
    const p: Promise<void> = this.post(d).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async post(d: Delivery): Promise<void> {
    d.tries++;
    const t = Math.floor((this.opts.now ?? Date.now)() / 1000);
    let why: string | null = null;
    try {
      const res = await fetch(this.opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'keyplane-webhook/1', 'keyplane-delivery': d.id, 'keyplane-signature': signatureHeader(this.opts.secretOf(d.orgId), t, d.body) },
        body: d.body,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) {
        this.stats.delivered++;
        return;
      }
      why = `answered ${res.status}`;
    } catch (err) {
      why = (err as Error).message;
    }
    this.stats.failedTries++;
    const attempts = this.opts.attempts ?? 6;
    if (d.tries >= attempts || this.stopped) {
      this.stats.givenUp++;
      this.report(new Error(`spend alert webhook ${d.id}: given up after ${d.tries} tries (last: ${why})`));
      return;
    }
    const wait = (this.opts.retryMs ?? 1000) * 2 ** (d.tries - 1);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) this.attempt(d);
    }, wait);
    timer.unref();
    this.timers.add(timer);
  }

  private report(err: Error): void {
    try {
      this.opts.onError?.(err);
    } catch {
      // a failing logger must not break the queue
    }
  }

  /** Drops the waiting retries and waits for the tries under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }
}
