// The console's build (Vite, Preact via esbuild's automatic JSX runtime): console/ → dist/console,
// served by keyplane under /console (src/faces/console-static.ts). Run by scripts/build.mjs.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/console/',
  publicDir: false,
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
  build: {
    outDir: here('../dist/console'),
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0, // no data: URLs; every asset is a file under /console/assets
    modulePreload: { polyfill: false },
    target: 'es2022',
    sourcemap: false,
  },
});
