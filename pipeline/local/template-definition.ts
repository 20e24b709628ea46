/**
 * Reads the state machine definition out of a synthesized CloudFormation template, resolving the intrinsic
 * functions CDK emits (Fn::Join, Ref, Fn::GetAtt, Fn::Select, Fn::Split, Fn::Sub) with caller-chosen values.
 * The local runtime runs exactly this definition; tests validate it with asl-validator.
 */

/** A CloudFormation template as JSON. */
export interface CfnTemplate {
  readonly Resources: Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>;
}

/** What a `Ref` or `Fn::GetAtt` stands for locally: `(logicalId, attribute?) => value`. */
export type ReferenceResolver = (logicalId: string, attribute?: string) => string;

export class TemplateResolutionError extends Error {
  override readonly name = 'TemplateResolutionError';
}

/** Resolves every intrinsic function in a template fragment. */
export function resolveIntrinsics(value: unknown, resolve: ReferenceResolver): unknown {
  if (Array.isArray(value)) return value.map((item) => resolveIntrinsics(item, resolve));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  const [first] = entries;
  if (entries.length === 1 && first && (first[0] === 'Ref' || first[0].startsWith('Fn::'))) {
    return resolveFunction(first[0], first[1], resolve);
  }
  return Object.fromEntries(entries.map(([key, item]) => [key, resolveIntrinsics(item, resolve)]));
}

function resolveFunction(name: string, args: unknown, resolve: ReferenceResolver): unknown {
  const str = (v: unknown) => {
    const resolved = resolveIntrinsics(v, resolve);
    if (typeof resolved !== 'string')
      throw new TemplateResolutionError(`${name}: expected a string, got ${JSON.stringify(resolved)}`);
    return resolved;
  };
  switch (name) {
    case 'Ref':
      return resolve(String(args));
    case 'Fn::GetAtt': {
      const [id, attribute] = Array.isArray(args) ? args : String(args).split('.');
      return resolve(String(id), String(attribute));
    }
    case 'Fn::Join': {
      const [separator, parts] = args as [string, unknown[]];
      return (parts ?? []).map(str).join(separator);
    }
    case 'Fn::Select': {
      const [index, list] = args as [number, unknown];
      const resolved = resolveIntrinsics(list, resolve);
      if (!Array.isArray(resolved)) throw new TemplateResolutionError('Fn::Select: expected a list');
      return resolved[Number(index)];
    }
    case 'Fn::Split': {
      const [separator, source] = args as [string, unknown];
      return str(source).split(separator);
    }
    case 'Fn::Sub': {
      const [template, variables] = (Array.isArray(args) ? args : [args, {}]) as [string, Record<string, unknown>];
      return template.replace(/\$\{([^}]+)\}/g, (_, key: string) => {
        if (variables && key in variables) return str(variables[key]);
        const [id, attribute] = key.split('.');
        return resolve(String(id), attribute);
      });
    }
    default:
      throw new TemplateResolutionError(
        `the intrinsic function ${name} is not supported in a state machine definition`,
      );
  }
}

/** The one `AWS::StepFunctions::StateMachine` of the template, by logical id. */
export function findStateMachine(template: CfnTemplate): { logicalId: string; properties: Record<string, unknown> } {
  const machines = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine');
  const [machine] = machines;
  if (machines.length !== 1 || !machine) {
    throw new TemplateResolutionError(
      `expected one AWS::StepFunctions::StateMachine in the template, found ${machines.length}`,
    );
  }
  return { logicalId: machine[0], properties: machine[1].Properties ?? {} };
}

/** The definition (ASL as an object) with every reference resolved. */
export function definitionFromTemplate(template: CfnTemplate, resolve: ReferenceResolver): Record<string, unknown> {
  const { properties } = findStateMachine(template);
  const raw = properties.DefinitionString ?? properties.Definition;
  const resolved = resolveIntrinsics(raw, resolve);
  const substitutions = resolveIntrinsics(properties.DefinitionSubstitutions ?? {}, resolve) as Record<string, string>;
  const text = (typeof resolved === 'string' ? resolved : JSON.stringify(resolved)).replace(
    /\$\{([A-Za-z0-9_]+)\}/g,
    (whole, key: string) => substitutions[key] ?? whole,
  );
  return JSON.parse(text) as Record<string, unknown>;
}

export interface ArnResolverOptions {
  readonly partition?: string;
  readonly region?: string;
  readonly account?: string;
  /** The physical name a resource gets (bucket name, function name, ...). @default the logical id, lower-cased for buckets */
  readonly nameOf?: (logicalId: string, type: string) => string;
}

/**
 * A {@link ReferenceResolver} that gives each resource the ARN or name its type has in AWS, so a definition resolved
 * with it is valid ASL (function ARNs where Lambda ARNs go, bucket names where buckets go).
 */
export function arnResolver(template: CfnTemplate, options: ArnResolverOptions = {}): ReferenceResolver {
  const partition = options.partition ?? 'aws';
  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '000000000000';
  const nameOf = options.nameOf ?? ((id: string, type: string) => (type === 'AWS::S3::Bucket' ? id.toLowerCase() : id));
  return (id, attribute) => {
    if (id === 'AWS::Partition') return partition;
    if (id === 'AWS::Region') return region;
    if (id === 'AWS::AccountId') return account;
    if (id === 'AWS::URLSuffix') return 'amazonaws.com';
    if (id === 'AWS::StackName') return 'local';
    const resource = template.Resources[id];
    if (!resource) throw new TemplateResolutionError(`the template has no resource ${id}`);
    const name = nameOf(id, resource.Type);
    const arn = (service: string, path: string) => `arn:${partition}:${service}:${region}:${account}:${path}`;
    switch (resource.Type) {
      case 'AWS::Lambda::Function':
        return attribute === 'Arn' || attribute === undefined ? arn('lambda', `function:${name}`) : name;
      case 'AWS::SNS::Topic':
        return attribute === 'TopicName' ? name : arn('sns', name);
      case 'AWS::S3::Bucket':
        return attribute === 'Arn' ? `arn:${partition}:s3:::${name}` : name;
      case 'AWS::KMS::Key':
        return attribute === 'Arn' ? arn('kms', `key/${name}`) : name;
      case 'AWS::SageMaker::Model':
        return attribute === 'ModelName' || attribute === undefined ? name : arn('sagemaker', `model/${name}`);
      case 'AWS::StepFunctions::StateMachine':
        return attribute === 'Name' ? name : arn('states', `stateMachine:${name}`);
      case 'AWS::DynamoDB::Table':
        return attribute === 'Arn' ? arn('dynamodb', `table/${name}`) : name;
      case 'AWS::Logs::LogGroup':
        return attribute === 'Arn' ? arn('logs', `log-group:${name}:*`) : name;
      default:
        return attribute ? `${name}.${attribute}` : name;
    }
  };
}
