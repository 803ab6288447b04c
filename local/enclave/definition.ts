/**
 * The enclave state machine's definition, synthesized from the one CDK construct
 * (lib/constructs/enclave-state-machine.ts) in-process, and resolved for local execution: the
 * DefinitionString's `Fn::Join` pieces (`Ref`, `Fn::GetAtt`, pseudo parameters) become local ARNs.
 * The local runtime runs exactly this; the infrastructure tests validate exactly this.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ENCLAVE_STEPS, type EnclaveStep } from '../../lambdas/core/runs/steps.js';
import { DEFAULT_RUN_POLICY, type RunPolicy } from '../../lambdas/core/runs/policy.js';
import { EnclaveStateMachine } from '../../lib/constructs/enclave-state-machine.js';

export const LOCAL_REGION = 'local';
export const LOCAL_ACCOUNT = '000000000000';

/** The local ARN of a step's function (the runner dispatches on the payload's `step`, not on this). */
export function localFunctionArn(step: EnclaveStep): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:carrel-local-enclave-${step}`;
}

/** A stack holding the construct with local stand-ins for its AWS parts (a VPC with isolated subnets, ...). */
export function enclaveStack(policy: RunPolicy = DEFAULT_RUN_POLICY, app = new App({ context: { 'aws:cdk:bundling-stacks': [] } })) {
  const stack = new Stack(app, 'EnclaveDefinition', { env: { account: LOCAL_ACCOUNT, region: 'eu-west-2' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    natGateways: 0,
    subnetConfiguration: [{ name: 'enclave', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  const runSecurityGroup = new ec2.SecurityGroup(stack, 'RunSecurityGroup', { vpc, allowAllOutbound: false, description: 'enclave run: no egress' });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
  const runTask = new ecs.FargateTaskDefinition(stack, 'RunTask', { cpu: 1024, memoryLimitMiB: 4096 });
  const runContainer = runTask.addContainer('run', { image: ecs.ContainerImage.fromRegistry('carrel/enclave-run'), readonlyRootFilesystem: true });
  const buildProject = new codebuild.Project(stack, 'Build', {
    buildSpec: codebuild.BuildSpec.fromObject({ version: '0.2', phases: { build: { commands: ['echo build'] } } }),
  });
  const steps = Object.fromEntries(
    ENCLAVE_STEPS.map((step) => [step, lambda.Function.fromFunctionArn(stack, `Step-${step}`, localFunctionArn(step))]),
  ) as Record<EnclaveStep, lambda.IFunction>;
  const machine = new EnclaveStateMachine(stack, 'Enclave', {
    deploymentId: 'local',
    steps,
    buildProject,
    cluster,
    runTask,
    runContainer,
    runSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    runSecurityGroups: [runSecurityGroup],
    policy,
  });
  return { app, stack, machine };
}

type CfnValue = string | { Ref: string } | { 'Fn::GetAtt': [string, string] } | { 'Fn::Join': [string, CfnValue[]] };
type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': LOCAL_REGION,
  'AWS::AccountId': LOCAL_ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

/** `AWS::ECS::Cluster` → `arn:aws:ecs:local:000000000000:cluster/<logicalId>`. */
function localArn(resources: Resources, logicalId: string, attribute?: string): string {
  const type = resources[logicalId]?.Type;
  if (!type) throw new Error(`The definition refers to ${logicalId}, which is not in the template`);
  const [, service, kind] = type.split('::');
  const arn = `arn:aws:${service!.toLowerCase()}:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${kind!.toLowerCase()}/${logicalId}`;
  return attribute && attribute !== 'Arn' ? `${arn}/${attribute}` : arn;
}

function resolve(value: CfnValue, resources: Resources): string {
  if (typeof value === 'string') return value;
  if ('Ref' in value) return PSEUDO[value.Ref] ?? localArn(resources, value.Ref);
  if ('Fn::GetAtt' in value) return localArn(resources, value['Fn::GetAtt'][0], value['Fn::GetAtt'][1]);
  if ('Fn::Join' in value) return value['Fn::Join'][1].map((v) => resolve(v, resources)).join(value['Fn::Join'][0]);
  throw new Error(`Cannot resolve ${JSON.stringify(value)} locally`);
}

/** The state machine's ASL (as JSON) from a synthesized template, with every CloudFormation token resolved locally. */
export function resolvedDefinition(template: Template): Record<string, unknown> {
  const json = template.toJSON() as { Resources: Resources };
  const machines = Object.values(json.Resources).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine');
  if (machines.length !== 1) throw new Error(`Expected one state machine in the template, found ${machines.length}`);
  const definition = machines[0]!.Properties!.DefinitionString as CfnValue;
  return JSON.parse(resolve(definition, json.Resources)) as Record<string, unknown>;
}

/** Synthesize the construct in-process and return its resolved definition (about a second). */
export function synthesizeEnclaveDefinition(policy: RunPolicy = DEFAULT_RUN_POLICY): Record<string, unknown> {
  return resolvedDefinition(Template.fromStack(enclaveStack(policy).stack));
}
