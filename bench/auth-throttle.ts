// Benchmark: the failed-authentication throttle costs valid keys nothing. One store, two servers in
// this process on the same core: the baseline with the throttle off (KEYPLANE_AUTH_FAILURE_BURST=0)
// and one with it on whose client address (127.0.0.1, the load's) has been pushed past its burst by
// bad keys first — the worst case for a valid key sharing an address with a misbehaving client. The
// same closed loop of valid-key requests (`GET /v1/models` on the gateway, and `GET
// /v1/organization/projects` on the admin face) runs against each, in alternating rounds; the figure
// printed is the ratio of the medians of req/s (throttled / baseline). Bad keys are also counted: they
// must be 429s on the throttled server, so the address really was throttled throughout.
//
//   npm run bench:auth-throttle [-- --dialect sqlite|postgres --seconds 3 --rounds 6 --concurrency 16]
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { SYSTEM } from '../src/domain/actor.ts';
import { buildServer } from '../src/server.ts';
import { startServer } from '../test/helpers/server.ts';

const { values } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'sqlite' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '16' },
    target: { type: 'string', default: '0.95' },
  },
});
const dialect = values.dialect === 'postgres' ? 'postgres' : 'sqlite';
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const TARGET = Number(values.target);

/** Requests per second of a closed loop of `GET path` with `key`, every answer checked for `status`. */
async function closedLoop(url: string, path: string, key: string, status: number, seconds: number): Promise<number> {
  const pool = new Pool(url, { connections: CONCURRENCY, pipelining: 1 });
  const end = performance.now() + seconds * 1000;
  let n = 0;
  try {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < end) {
          const res = await pool.request({ path, method: 'GET', headers: { authorization: `Bearer ${key}` } });
          await res.body.text();
          if (res.statusCode !== status) throw new Error(`${path}: ${res.statusCode}, expected ${status}`);
          n++;
        }
      }),
    );
  } finally {
    await pool.close();
  }
  return n / seconds;
}

/** max/min of the rounds' req/s: how noisy this machine is (the ratio means little past it). */
const spread = (xs: number[]) => `×${(Math.max(...xs) / Math.min(...xs)).toFixed(2)}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// the baseline: throttle off; the other server shares its runtime (same store, same key cache)
const s = await startServer(dialect, { authFailureBurst: '0' });
const throttled = await buildServer({ logLevel: 'silent', rootKey: undefined, authFailureBurst: 20, authFailureWindowMs: 3_600_000 }, s.rt.core);
await throttled.listen({ port: 0, host: '127.0.0.1' });
const addr = throttled.server.address();
const throttledUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
try {
  const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
  const project = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'bench' });
  const projectKey = (await s.rt.core.serviceAccounts.create(SYSTEM, orgId, project.id, { name: 'bench' })).key!.secret;
  const bad = `sk-proj-${'x'.repeat(48)}`;
  // push 127.0.0.1 past its burst on the throttled server (an hour's window: it stays throttled)
  let refused = 0;
  for (let i = 0; i < 40; i++) {
    const res = await fetch(`${throttledUrl}/v1/models`, { headers: { authorization: `Bearer ${bad}` } });
    await res.text();
    if (res.status === 429) refused++;
  }
  if (refused < 20) throw new Error(`the address was not throttled (${refused} of 40 bad keys refused)`);

  console.log(`${dialect}: valid keys, closed loop of ${CONCURRENCY} connections, ${ROUNDS} alternating rounds of ${SECONDS} s; the client address is throttled on the second server (${refused}/40 bad keys got 429)`);
  let worst = Infinity;
  for (const [name, path, key] of [
    ['gateway GET /v1/models (project key)', '/v1/models', projectKey],
    ['admin GET /v1/organization/projects (admin key)', '/v1/organization/projects', s.adminKey],
  ] as const) {
    await closedLoop(s.url, path, key, 200, 1); // warm-up of both
    await closedLoop(throttledUrl, path, key, 200, 1);
    const base: number[] = [];
    const thr: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // which one goes first alternates (ABBA…): a drift of the machine's load favours neither
      if (r % 2 === 0) base.push(await closedLoop(s.url, path, key, 200, SECONDS));
      thr.push(await closedLoop(throttledUrl, path, key, 200, SECONDS));
      if (r % 2 === 1) base.push(await closedLoop(s.url, path, key, 200, SECONDS));
    }
    const ratio = median(thr) / median(base);
    worst = Math.min(worst, ratio);
    console.log(`  ${name.padEnd(50)} throttle off ${Math.round(median(base)).toString().padStart(6)} req/s   address throttled ${Math.round(median(thr)).toString().padStart(6)} req/s   ratio ${ratio.toFixed(3)} (target ≥ ${TARGET}); rounds' spread: off ${spread(base)}, throttled ${spread(thr)}`);
  }
  // still throttled at the end: the valid keys above ran against a throttled address throughout
  const after = await fetch(`${throttledUrl}/v1/models`, { headers: { authorization: `Bearer ${bad}` } });
  await after.text();
  if (after.status !== 429) throw new Error(`the address was no longer throttled at the end (${after.status})`);
  console.log(worst >= TARGET ? 'ok' : `below target: ${worst.toFixed(3)} < ${TARGET}`);
  if (worst < TARGET) process.exitCode = 1;
} finally {
  await throttled.close();
  await s.close();
}
