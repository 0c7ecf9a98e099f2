// Benchmark: a page of project API keys costs the same with 1,000,000 keys in the project as with
// 1,000 (keyset pagination). Both projects live in one database and are measured in the same run,
// through the real HTTP endpoint; the figure printed is the ratio of the two. Then the console's
// view of the same pages: the same route called with a console session of a project owner (who is
// an organization reader, so their grants are resolved from their roles on every request), against
// the admin key's figure of the same run.
//
//   npm run bench:list-keys [-- --dialect sqlite|postgres --big 1000000 --small 1000 --requests 400]
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { SYSTEM } from '../src/domain/actor.ts';
import { startServer } from '../test/helpers/server.ts';
import { insertProjectKeys } from './lib/keys.ts';

const { values } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'sqlite' },
    big: { type: 'string', default: '1000000' },
    small: { type: 'string', default: '1000' },
    requests: { type: 'string', default: '400' },
    target: { type: 'string', default: '1.5' },
  },
});
const dialect = values.dialect === 'postgres' ? 'postgres' : 'sqlite';
const BIG = Number(values.big);
const SMALL = Number(values.small);
const REQUESTS = Number(values.requests);
const TARGET = Number(values.target);

const s = await startServer(dialect);
try {
  const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
  const small = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'small' });
  const big = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'big' });
  const sa = await s.rt.core.serviceAccounts.create(SYSTEM, orgId, big.id, { name: 'bench', accountOnly: true });
  const saSmall = await s.rt.core.serviceAccounts.create(SYSTEM, orgId, small.id, { name: 'bench', accountOnly: true });

  const fill = (projectId: string, ownerId: string, n: number) => insertProjectKeys(s.rt.store, { orgId, projectId, ownerId, n });

  console.log(`keyplane bench: list project API keys, ${dialect}, page of 20, ${REQUESTS} requests per case`);
  const tSmall = await fill(small.id, saSmall.account.id, SMALL);
  const tBig = await fill(big.id, sa.account.id, BIG);
  console.log(`loaded ${SMALL.toLocaleString()} keys in ${tSmall.toFixed(1)}s and ${BIG.toLocaleString()} keys in ${tBig.toFixed(1)}s`);

  let headers: Record<string, string> = { authorization: `Bearer ${s.adminKey}` };
  const get = async (path: string) => {
    const res = await fetch(`${s.url}${path}`, { headers });
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{ data: Array<{ id: string }>; last_id: string }>;
  };
  // cursors in the middle of each project, so deep pages are measured too
  const midCursor = async (projectId: string, n: number) => {
    const row = await s.rt.store.db.selectFrom('api_keys').select('id').where('project_id', '=', projectId).orderBy('created_at').orderBy('id').offset(Math.floor(n / 2)).limit(1).executeTakeFirstOrThrow();
    return row.id;
  };
  const cases = {
    small: { first: `/v1/organization/projects/${small.id}/api_keys?limit=20`, deep: `/v1/organization/projects/${small.id}/api_keys?limit=20&after=${await midCursor(small.id, SMALL)}` },
    big: { first: `/v1/organization/projects/${big.id}/api_keys?limit=20`, deep: `/v1/organization/projects/${big.id}/api_keys?limit=20&after=${await midCursor(big.id, BIG)}` },
  };
  const measure = async (path: string) => {
    for (let i = 0; i < 50; i++) await get(path); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < REQUESTS; i++) await get(path);
    return ((performance.now() - t0) / REQUESTS) * 1000; // µs per request
  };
  // interleave the cases twice to spread machine noise over both
  const r: Record<string, number[]> = { smallFirst: [], bigFirst: [], smallDeep: [], bigDeep: [] };
  for (let round = 0; round < 2; round++) {
    r.smallFirst!.push(await measure(cases.small.first));
    r.bigFirst!.push(await measure(cases.big.first));
    r.smallDeep!.push(await measure(cases.small.deep));
    r.bigDeep!.push(await measure(cases.big.deep));
  }
  const best = (xs: number[]) => Math.min(...xs);
  const first = best(r.bigFirst!) / best(r.smallFirst!);
  const deep = best(r.bigDeep!) / best(r.smallDeep!);
  console.log(`first page:  ${SMALL.toLocaleString()} keys ${best(r.smallFirst!).toFixed(0)} µs (baseline)   ${BIG.toLocaleString()} keys ${best(r.bigFirst!).toFixed(0)} µs   ratio ${first.toFixed(2)}`);
  console.log(`middle page: ${SMALL.toLocaleString()} keys ${best(r.smallDeep!).toFixed(0)} µs (baseline)   ${BIG.toLocaleString()} keys ${best(r.bigDeep!).toFixed(0)} µs   ratio ${deep.toFixed(2)}`);
  // the console: a project owner's session (an organization reader) on the big project's pages
  const email = 'bench-console@example.com';
  const owner = await s.rt.core.users.addMember(SYSTEM, orgId, { email, role: 'reader' });
  await s.rt.core.projectUsers.add(SYSTEM, orgId, big.id, { userId: owner.id, role: 'owner' });
  await s.rt.core.consoleSessions.setPassword(owner.id, 'bench console password');
  const signIn = await fetch(`${s.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'bench console password' }) });
  if (signIn.status !== 200) throw new Error(`console sign-in: ${signIn.status} ${await signIn.text()}`);
  const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
  const c: Record<string, number[]> = { first: [], deep: [] };
  for (let round = 0; round < 2; round++) {
    headers = { cookie };
    c.first!.push(await measure(cases.big.first));
    c.deep!.push(await measure(cases.big.deep));
  }
  const cFirst = best(c.first!) / best(r.bigFirst!);
  const cDeep = best(c.deep!) / best(r.bigDeep!);
  console.log(`console session (project owner), ${BIG.toLocaleString()} keys: first page ${best(c.first!).toFixed(0)} µs (${cFirst.toFixed(2)}× the admin key's), middle page ${best(c.deep!).toFixed(0)} µs (${cDeep.toFixed(2)}×)`);
  const worst = Math.max(first, deep);
  console.log(`${worst <= TARGET ? 'PASS' : 'FAIL'}: worst ratio ${worst.toFixed(2)} (target ≤ ${TARGET})`);
  process.exitCode = worst <= TARGET ? 0 : 1;
} finally {
  await s.close();
}
