/**
 * What runs without a user: housekeeping every minute, and compute state changes delivered to the
 * compute-events function:
 *  - EC2 (`computeKind` ec2, or none): every `EC2 Instance State-change Notification` of the account and
 *    region. The event carries no tags, so it cannot be filtered to this deployment here; the handler looks the
 *    instance up in the instance index and ignores (and logs) instances no workspace record owns.
 *  - ECS (`computeKind` fargate, or none): `ECS Task State Change` of this deployment's cluster only.
 * With `computeKind: none` both rules stay unfiltered, as before AWS workspaces existed.
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface DeskSchedulesProps {
  readonly deploymentId: string;
  readonly housekeeping: lambda.IFunction;
  readonly computeEvents: lambda.IFunction;
  /** @default Duration.minutes(1) */
  readonly housekeepingRate?: Duration;
  /** Which compute state changes to deliver. @default 'none' (both kinds, unfiltered) */
  readonly computeKind?: 'none' | 'ec2' | 'fargate';
  /** With `computeKind: fargate`: only this cluster's task state changes are delivered. */
  readonly ecsClusterArn?: string;
}

export class DeskSchedules extends Construct {
  readonly housekeepingRule: events.Rule;
  readonly ec2StateRule?: events.Rule;
  readonly ecsTaskRule?: events.Rule;

  constructor(scope: Construct, id: string, props: DeskSchedulesProps) {
    super(scope, id);

    this.housekeepingRule = new events.Rule(this, 'Housekeeping', {
      description: `carrel ${props.deploymentId}: housekeeping pass (idle stops, deadlines, retention, reconciliation)`,
      schedule: events.Schedule.rate(props.housekeepingRate ?? Duration.minutes(1)),
      // A pass that cannot be delivered is replaced by the next one.
      targets: [new targets.LambdaFunction(props.housekeeping, { retryAttempts: 2, maxEventAge: Duration.minutes(2) })],
    });

    const kind = props.computeKind ?? 'none';
    if (kind === 'fargate' && !props.ecsClusterArn) throw new Error('DeskSchedules: ecsClusterArn is required with computeKind fargate');
    const computeTarget = new targets.LambdaFunction(props.computeEvents, { retryAttempts: 10, maxEventAge: Duration.hours(1) });
    if (kind !== 'fargate') {
      this.ec2StateRule = new events.Rule(this, 'Ec2InstanceState', {
        description: `carrel ${props.deploymentId}: EC2 instance state changes to workspace records (untagged instances are ignored by the handler)`,
        eventPattern: { source: ['aws.ec2'], detailType: ['EC2 Instance State-change Notification'] },
        targets: [computeTarget],
      });
    }
    if (kind !== 'ec2') {
      this.ecsTaskRule = new events.Rule(this, 'EcsTaskState', {
        description: `carrel ${props.deploymentId}: ECS task state changes to workspace records`,
        eventPattern: {
          source: ['aws.ecs'],
          detailType: ['ECS Task State Change'],
          ...(props.ecsClusterArn ? { detail: { clusterArn: [props.ecsClusterArn] } } : {}),
        },
        targets: [computeTarget],
      });
    }
  }
}
