// The allowed dependency directions between @kv packages (docs/architecture.md).
// Shared by eslint.config.js and by the test that proves a forbidden import fails.
export const moduleBoundaries = [
  'error',
  {
    allow: [],
    depConstraints: [
      // Reusable cores: no other @kv package.
      { sourceTag: 'scope:raft', onlyDependOnLibsWithTags: [] },
      { sourceTag: 'scope:wal', onlyDependOnLibsWithTags: [] },
      { sourceTag: 'scope:api', onlyDependOnLibsWithTags: [] },
      // mvcc owns the backend interface and knows no storage engine.
      {
        sourceTag: 'scope:mvcc',
        onlyDependOnLibsWithTags: [],
        bannedExternalImports: ['classic-level', 'level', 'abstract-level', '*-level'],
      },
      // backend-level may use mvcc's types (the interface it satisfies) and nothing else.
      { sourceTag: 'scope:backend-level', onlyDependOnLibsWithTags: ['scope:mvcc'] },
      { sourceTag: 'scope:client', onlyDependOnLibsWithTags: ['scope:api'] },
      { sourceTag: 'scope:grpc-gateway', onlyDependOnLibsWithTags: ['scope:api'] },
      {
        sourceTag: 'scope:kvserver',
        onlyDependOnLibsWithTags: ['scope:api', 'scope:raft', 'scope:wal', 'scope:mvcc'],
        bannedExternalImports: ['classic-level'],
      },
      { sourceTag: 'scope:server', onlyDependOnLibsWithTags: ['*'] },
      { sourceTag: 'scope:tools', onlyDependOnLibsWithTags: ['*'] },
      // Test helpers shared by several packages' tests (tools/test-ports).
      { sourceTag: 'scope:test-support', onlyDependOnLibsWithTags: [] },
    ],
  },
];

// Tests (and benchmarks) may also use the shared test helpers; shipped
// sources may not.
const [level, options] = moduleBoundaries;
export const moduleBoundariesForTests = [
  level,
  {
    ...options,
    depConstraints: options.depConstraints.map((c) =>
      c.onlyDependOnLibsWithTags.includes('*')
        ? c
        : { ...c, onlyDependOnLibsWithTags: [...c.onlyDependOnLibsWithTags, 'scope:test-support'] },
    ),
  },
];
