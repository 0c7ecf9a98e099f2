#!/usr/bin/env node
// Builds dist/: the console (console/, built by Vite into dist/console) and the TypeScript sources and their runtime dependencies bundled by esbuild into a few
// ES modules (dist/keyplane.mjs and lazily loaded chunks), so a start reads a handful of files instead
// of resolving and compiling hundreds of modules. Run by `npm ci`/`npm install` (the `prepare`
// script) and by `npm run build`. Type checking is `npm run typecheck` (tsc), not this.
// better-sqlite3 and @node-rs/argon2 stay external (native addons, loaded from node_modules); pg-native is optional.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist');
const entry = path.join(root, 'src', 'cli', 'main.ts');
if (!fs.existsSync(entry)) {
  console.error(`keyplane build: ${entry} is missing; copy src/ before building`);
  process.exit(1);
}
// the server's previous output only (dist/keyplane.mjs and its chunks): dist/console is the console's
for (const name of fs.existsSync(out) ? fs.readdirSync(out) : []) {
  if (name.endsWith('.mjs')) fs.rmSync(path.join(out, name), { force: true });
}
await build({
  entryPoints: { keyplane: entry },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true, // dynamic import()s (pg, ioredis, undici…) become chunks loaded on first use
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['better-sqlite3', 'pg-native', '@node-rs/argon2'],
  // CommonJS dependencies bundled into ES modules still call require() and read __dirname
  banner: {
    js: [
      "import { createRequire as __kpCreateRequire } from 'node:module';",
      "import { fileURLToPath as __kpFileURLToPath } from 'node:url';",
      "import { dirname as __kpDirname } from 'node:path';",
      'const require = __kpCreateRequire(import.meta.url);',
      'const __filename = __kpFileURLToPath(import.meta.url);',
      'const __dirname = __kpDirname(__filename);',
    ].join(' '),
  },
  legalComments: 'none',
  logLevel: 'warning',
});
console.error(`keyplane build: ${path.relative(process.cwd(), out) || out}/keyplane.mjs written`);

// The console: Preact pages bundled by Vite into dist/console (its config empties that directory
// only), served by keyplane under /console. No CDN: everything the page loads is in there.
const consoleConfig = path.join(root, 'console', 'vite.config.ts');
if (fs.existsSync(consoleConfig)) {
  const { build: viteBuild } = await import('vite');
  await viteBuild({ configFile: consoleConfig, logLevel: 'warn' });
  console.error(`keyplane build: ${path.relative(process.cwd(), path.join(out, 'console')) || out}/ written`);
}
