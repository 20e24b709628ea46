/**
 * The in-process synth of the Nightshift stack for the local runtime, in its own module so that only a cache miss
 * (`loadLocalStack` in local-stack.ts) imports aws-cdk-lib and the stack.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { cdkJsonContext } from '../../infra/cdk-context.ts';
import { NightshiftStack } from '../../infra/nightshift-stack.ts';
import type { CfnTemplate } from './template-definition.ts';

/** The template `cdk synth` would produce, synthesized in this process. */
export function synthesizeNightshiftTemplate(): CfnTemplate {
  const outdir = mkdtempSync(join(tmpdir(), 'nightshift-synth-'));
  try {
    const app = new App({
      outdir,
      // The built-in CloudFormation validation took 11 of a local synth's 13.5 CPU-seconds on the 2-core dev
      // machine (measured with --cpu-prof, aws-cdk-lib 2.276.0) and only reports; it never changes the template.
      // `npm run synth` and `cdk deploy` still run it on the same stack.
      builtinCloudFormationValidation: false,
      context: {
        ...cdkJsonContext(),
        'aws:cdk:bundling-stacks': [],
        // Construct paths in the template metadata tell which stage each function is.
        'aws:cdk:enable-path-metadata': true,
      },
    });
    const stack = new NightshiftStack(app, 'Nightshift');
    return app.synth().getStackByName(stack.stackName).template as CfnTemplate;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
