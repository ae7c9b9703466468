import { defineConfig } from 'tsup';

export default defineConfig({
  // cli, compare and worker are entry points of their own: the worker thread
  // loads worker.js from next to the chunk that starts it.
  entry: ['src/index.ts', 'src/cli.ts', 'src/compare.ts', 'src/worker.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  clean: true,
  sourcemap: true,
  target: 'node20',
});
