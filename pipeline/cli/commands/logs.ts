import type { StageLogLine } from '../../run-backend/run-backend.ts';
import type { CommandSpec } from '../command-line.ts';
import { escapeControlCharacters, type Painter, writeJsonLine } from '../output.ts';

/** Attributes every line carries, left out of the human view. */
const COMMON_FIELDS = new Set([
  'timestamp',
  'level',
  'stage',
  'message',
  'runId',
  'service',
  'sampling_rate',
  'xray_trace_id',
  'function_request_id',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
]);

export const logsCommand: CommandSpec = {
  name: 'logs',
  summary: 'Print the stage log lines of one run (locally from .nightshift/logs, on AWS from CloudWatch Logs)',
  usage: 'logs RUN [options]',
  description:
    'Every stage logs JSON lines with the run id. Locally they are read from the state directory\n' +
    "(logs/stages.jsonl); on AWS one CloudWatch Logs Insights query searches the stack's log groups over the run's\n" +
    'time range (at most 10,000 lines). --json prints each line as logged, one JSON object per line.',
  arguments: [['RUN', 'the run id, or latest']],
  options: {},
  positionals: { min: 1, max: 1 },
  examples: ['nightshift logs latest --local', 'nightshift logs nightly-2026-11-23 --json'],
  async run(ctx, args) {
    const backend = await ctx.backend();
    const runId = await ctx.runId(backend, args.positionals[0] as string);
    const lines = await backend.logs(runId);
    if (ctx.global.json) {
      for (const line of lines) writeJsonLine(ctx.io, line.fields);
      return 0;
    }
    if (lines.length === 0) {
      ctx.io.stderr(`no stage log lines for run ${runId} in ${await backend.where()}\n`);
      return 0;
    }
    for (const line of lines) ctx.io.stdout(`${renderLogLine(line, ctx.paint)}\n`);
    return 0;
  },
};

/** `2026-11-23T02:00:04.120Z  INFO  plan  planned  items=55` */
export function renderLogLine(line: StageLogLine, paint: Painter): string {
  const level = escapeControlCharacters(line.level.padEnd(5));
  const extra = Object.entries(line.fields)
    .filter(([key]) => !COMMON_FIELDS.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const painted = line.level === 'ERROR' ? paint.red(level) : line.level === 'WARN' ? paint.yellow(level) : level;
  const safe = (text: string) => escapeControlCharacters(text);
  return [safe(line.timestamp), painted, safe(line.stage.padEnd(10)), safe(line.message), ...extra.map(safe)]
    .join('  ')
    .trimEnd();
}
