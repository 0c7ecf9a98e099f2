// The import structure the layout promises: no import circles anywhere in src/, the store imports
// nothing from the domain, the domain nothing from the faces, and no face imports from another face
// (what two faces share lives in src/faces/shared/ or the kit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a file (static `import`/`export … from`, type-only ones included), as src paths. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gms)) out.push(path.resolve(path.dirname(file), m[1]!));
  return out;
}

const rel = (p: string) => path.relative(SRC, p);
const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** `faces/openai/x.ts` → `openai`; shared modules and the kit belong to no face. */
function faceOf(p: string): string | null {
  const parts = rel(p).split(path.sep);
  if (parts[0] !== 'faces' || parts.length < 3 || parts[1] === 'shared') return null;
  return parts[1]!;
}

test('every relative import resolves to a file in src', () => {
  for (const [file, deps] of graph) for (const d of deps) assert.ok(fs.existsSync(d), `${rel(file)} imports missing ${rel(d)}`);
});

test('no import circles in src/', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...stack.slice(stack.indexOf(f)), f].map(rel).join(' → '));
      return;
    }
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) visit(d, [...stack, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('layers: store ↛ domain, domain ↛ faces, no face → another face', () => {
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    const from = rel(file);
    for (const d of deps) {
      const to = rel(d);
      if (from.startsWith(`store${path.sep}`) && (to.startsWith(`domain${path.sep}`) || to.startsWith(`faces${path.sep}`))) bad.push(`${from} → ${to}`);
      if (from.startsWith(`domain${path.sep}`) && to.startsWith(`faces${path.sep}`)) bad.push(`${from} → ${to}`);
      const a = faceOf(file);
      const b = faceOf(d);
      if (a && b && a !== b) bad.push(`${from} → ${to}`);
    }
  }
  assert.deepEqual(bad, []);
});
