import { defineConfig } from 'tsup';

export default defineConfig({
  // cli, compare, worker and floor-server are entry points of their own: the
  // worker thread loads worker.js, and the compare runner starts
  // floor-server.js, from next to the chunk that uses them.
  entry: ['src/index.ts', 'src/cli.ts', 'src/compare.ts', 'src/worker.ts', 'src/floor-server.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  clean: true,
  sourcemap: true,
  target: 'node20',
});
