import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { cdkJsonContext } from '../../infra/cdk-context.ts';
import { NightshiftStack, type NightshiftStackProps } from '../../infra/nightshift-stack.ts';
import { arnResolver, type CfnTemplate, definitionFromTemplate } from '../../pipeline/local/template-definition.ts';

/**
 * Synthesizes the stack in-process without bundling the Lambdas (the tests look at the template, not code). The
 * cloud assembly goes to a folder of its own that is removed once the template is read: without an `outdir`, CDK
 * writes a `cdk.out*` folder under the system temp folder and removes it only on process exit, which a test
 * worker that is stopped never reaches.
 */
export function synthStack(props: NightshiftStackProps = {}, options: { nag?: boolean } = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'nightshift-synth-'));
  try {
    const app = new App({ outdir, context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const stack = new NightshiftStack(app, 'Nightshift', props);
    if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
    const template = Template.fromStack(stack);
    return { app, stack, template };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** The state machine definition with references replaced by the ARNs/names they would have in an account. */
export function placeholderDefinition(template: Template): Record<string, unknown> {
  const json = template.toJSON() as CfnTemplate;
  return definitionFromTemplate(json, arnResolver(json, { account: '123456789012' }));
}
