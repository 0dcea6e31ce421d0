// Builds the UI bundle (guardia.js + guardia.css) into the Python package's static folder.
// Deterministic for a given lockfile and sources: no source maps, no timestamps, so the
// stamp written by scripts/build_ui.py tells a stale bundle from a current one.
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = process.argv[2] || path.join(here, '..', 'src', 'guardia', 'web', 'ui', 'static');

await esbuild.build({
  entryPoints: {
    guardia: path.join(here, 'src', 'main.js'),
  },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  outdir,
  legalComments: 'linked',
  logLevel: 'warning',
  loader: { '.css': 'css' },
});
