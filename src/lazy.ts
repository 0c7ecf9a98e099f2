// Dependencies only some starts need (pg with a PostgreSQL URL, ioredis with REDIS_URL, undici on the
// first upstream call, argon2 at the first console password operation) are loaded on first use, not at start: a start reads only what it runs.
// `loadLazily('pg')` is a plain synchronous require from node_modules (these packages are CommonJS),
// which the build (scripts/build.mjs) leaves out of dist/keyplane.mjs.
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** `require(name)`, once; for the type, pass `typeof import('name')`. */
export function loadLazily<T>(name: 'pg' | 'ioredis' | 'undici' | '@node-rs/argon2'): T {
  return load(name) as T;
}
