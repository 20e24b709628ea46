import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../../shared/execution-input.ts';
import { type CommandSpec, intOption, stringOption } from '../command-line.ts';
import { writeJson } from '../output.ts';
import type { PreflightOptions } from '../preflight-checks.ts';

export const preflightCommand: CommandSpec = {
  name: 'preflight',
  summary: 'Check an AWS account before the first deploy or run: credentials, bootstrap, Docker, quotas, stack',
  usage: 'preflight [--stack NAME] [--instance-type T] [--instance-count N] [--max-concurrency N] [options]',
  options: {
    'instance-type': { type: 'string', value: 'TYPE', description: 'transform instance type (default ml.g5.xlarge)' },
    'instance-count': { type: 'string', value: 'N', description: 'transform instances a run uses (default 1)' },
    'max-concurrency': {
      type: 'string',
      value: 'N',
      description: 'preprocess maxConcurrency of your runs (default 40)',
    },
  },
  positionals: { min: 0, max: 0 },
  examples: [
    'nightshift preflight',
    'nightshift preflight --stack Nightshift-prod --instance-count 4 --region eu-west-1',
  ],
  async run(ctx, args) {
    // The checks and their SDK clients are imported here: `--help` and every other command never load them.
    const [{ dockerVersion, runPreflight }, { createPreflightClients }] = await Promise.all([
      import('../preflight-checks.ts'),
      import('../aws-clients.ts'),
    ]);
    const transform = TransformSettingsSchema.parse({});
    const preprocess = PreprocessSettingsSchema.parse({});
    const options: PreflightOptions = {
      stack: ctx.global.stack,
      instanceType: stringOption(args, 'instance-type') ?? transform.instanceType,
      instanceCount: intOption(args, 'instance-count', { min: 1, max: 100, fallback: transform.instanceCount }),
      maxConcurrency: intOption(args, 'max-concurrency', { min: 1, max: 10_000, fallback: preprocess.maxConcurrency }),
      docker: dockerVersion,
    };
    const clients = createPreflightClients({
      ...(ctx.global.region ? { region: ctx.global.region } : {}),
      ...(ctx.global.profile ? { profile: ctx.global.profile } : {}),
      env: ctx.io.env,
    });
    try {
      const checks = await runPreflight(clients, options);
      if (ctx.global.json) writeJson(ctx.io, checks);
      else {
        for (const c of checks) {
          const mark = c.ok ? ctx.paint.green('ok     ') : ctx.paint.red('problem');
          ctx.io.stdout(
            `${mark} ${c.check.padEnd(18)} ${c.detail}${c.fix ? `\n        ${' '.repeat(18)} fix: ${c.fix}` : ''}\n`,
          );
        }
      }
      return checks.every((c) => c.ok) ? 0 : 1;
    } finally {
      clients.destroy();
    }
  },
};
