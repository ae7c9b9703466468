import { mergeConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared.ts';

// The profile runs each start a cluster of three processes: one file at a time.
export default mergeConfig(sharedConfig, { test: { fileParallelism: false } });
