// Command-line entry of the load generator:
//   node --conditions=@kv/source --import tsx tools/benchmark/src/cli.ts put --endpoints 127.0.0.1:2379
// Prints the text report, then one JSON line. Exit code 1 on usage errors,
// 2 when the run failed.

import { parseArgs, USAGE, UsageError } from './options';
import { formatJson, formatText } from './report';
import { runBenchmark } from './run';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  let options;
  try {
    options = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}\n${USAGE}`);
      return 1;
    }
    throw err;
  }
  try {
    const result = await runBenchmark(options);
    if (!options.json) console.log(formatText(result));
    console.log(formatJson(result));
    return 0;
  } catch (err) {
    console.error(`benchmark failed: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
