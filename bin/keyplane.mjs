#!/usr/bin/env node
// Runs the build (dist/keyplane.mjs, written by scripts/build.mjs at `npm ci`) when it is at least as
// new as every file under src/; otherwise (a checkout never built, or sources edited since the last
// build) runs the TypeScript sources through tsx's loader, so what runs is always the current source.
// KEYPLANE_FROM_SOURCE=1 forces the sources.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = path.join(root, 'dist', 'keyplane.mjs');

/** Newest modification time of a file under `dir` (0 when there is no such directory). */
function newest(dir) {
  let max = 0;
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    const t = e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs;
    if (t > max) max = t;
  }
  return max;
}

function buildIsFresh() {
  if (process.env.KEYPLANE_FROM_SOURCE === '1') return false;
  let mtime;
  try {
    mtime = fs.statSync(built).mtimeMs;
  } catch {
    return false;
  }
  return newest(path.join(root, 'src')) <= mtime;
}

if (buildIsFresh()) {
  await import(built);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
