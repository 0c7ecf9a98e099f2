// Queries on hot paths built and compiled to SQL once, then run with each call's values: building a
// Kysely query (immutable operation nodes) and compiling it costs more than running the cached
// SQLite statement it ends in. `compiledOnce(build)` calls `build` once per dialect with stand-in
// values, finds where each stand-in landed among the compiled query's parameters, and from then on
// runs that SQL with the call's values in those places (constants the builder added stay as they are).
import { CompiledQuery, type Compilable } from 'kysely';
import type { Executor } from './db.ts';

interface Plan {
  sql: string;
  /** Per compiled parameter: the index of the argument it takes, or a constant. */
  slots: Array<{ arg: number } | { value: unknown }>;
}

/** `build(db, ...args)` compiled once per dialect; the returned function runs it and returns the rows. */
export function compiledOnce<A extends string[], R>(arity: A['length'], build: (db: Executor, ...args: A) => Compilable<R>): (db: Executor, ...args: A) => Promise<R[]> {
  const plans = new WeakMap<object, Plan>();
  const plan = (db: Executor): Plan => {
    const adapter = db.getExecutor().adapter;
    let p = plans.get(adapter);
    if (!p) {
      const standIns = Array.from({ length: arity }, (_, i) => `\u0000keyplane-arg-${i}\u0000`) as A;
      const compiled = build(db, ...standIns).compile();
      const slots = compiled.parameters.map((v) => {
        const arg = typeof v === 'string' ? standIns.indexOf(v) : -1;
        return arg >= 0 ? { arg } : { value: v };
      });
      for (let i = 0; i < arity; i++) {
        if (!slots.some((s) => 'arg' in s && s.arg === i)) throw new Error(`compiledOnce: argument ${i} is not a parameter of ${compiled.sql}`);
      }
      p = { sql: compiled.sql, slots };
      plans.set(adapter, p);
    }
    return p;
  };
  return async (db, ...args) => {
    const p = plan(db);
    const parameters = p.slots.map((s) => ('arg' in s ? args[s.arg] : s.value));
    const res = await db.executeQuery<R>(CompiledQuery.raw(p.sql, parameters) as CompiledQuery<R>);
    return res.rows;
  };
}
