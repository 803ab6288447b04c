/**
 * What runs without a user: housekeeping every minute, and compute state changes delivered to the
 * compute-events function, narrowed here to the events the mapping acts on
 * (lambdas/adapters/aws/compute-event-mapping.ts), so the function is not invoked for the rest:
 *  - EC2 (`computeKind` ec2, or none): `EC2 Instance State-change Notification` with state running, stopped
 *    or terminated (pending, stopping and shutting-down are ignored by the mapping). The event carries no
 *    tags, so it cannot be narrowed to this deployment here; the handler looks the instance up by its
 *    deployment tag and ignores (and logs) instances no workspace record owns.
 *  - ECS (`computeKind` fargate, or none): `ECS Task State Change` with lastStatus RUNNING or STOPPED, started
 *    by this deployment (`startedBy` = FargateCompute's `startedByFor(deploymentId)`, the one definition
 *    both use) and, with Fargate, in this deployment's cluster.
 * Events that cannot be delivered after EventBridge's retries go to the dead-letter queue when one is given
 * (the same queue that receives the events compute-events itself fails after Lambda's retries).
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EC2_STATE_CHANGE, ECS_TASK_STATE_CHANGE } from '../../lambdas/adapters/aws/compute-event-mapping.js';
import { startedByFor } from '../../lambdas/adapters/aws/ecs-compute.js';

/** The EC2 instance states the mapping turns into compute events. */
export const EC2_STATES = ['running', 'stopped', 'terminated'] as const;
/** The ECS task statuses the mapping turns into compute events. */
export const ECS_TASK_STATUSES = ['RUNNING', 'STOPPED'] as const;

export interface DeskSchedulesProps {
  readonly deploymentId: string;
  readonly housekeeping: lambda.IFunction;
  readonly computeEvents: lambda.IFunction;
  /** @default Duration.minutes(1) */
  readonly housekeepingRate?: Duration;
  /** Which compute state changes to deliver. @default 'none' (both kinds, not narrowed to a cluster) */
  readonly computeKind?: 'none' | 'ec2' | 'fargate';
  /** With `computeKind: fargate`: only this cluster's task state changes are delivered. */
  readonly ecsClusterArn?: string;
  /** Where compute state changes go that EventBridge could not deliver after its retries. @default - dropped */
  readonly computeEventsDeadLetterQueue?: sqs.IQueue;
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
    const computeTarget = new targets.LambdaFunction(props.computeEvents, {
      retryAttempts: 10,
      maxEventAge: Duration.hours(1),
      deadLetterQueue: props.computeEventsDeadLetterQueue,
    });
    if (kind !== 'fargate') {
      this.ec2StateRule = new events.Rule(this, 'Ec2InstanceState', {
        description: `carrel ${props.deploymentId}: EC2 instance running/stopped/terminated to workspace records (untagged instances are ignored by the handler)`,
        eventPattern: { source: ['aws.ec2'], detailType: [EC2_STATE_CHANGE], detail: { state: [...EC2_STATES] } },
        targets: [computeTarget],
      });
    }
    if (kind !== 'ec2') {
      this.ecsTaskRule = new events.Rule(this, 'EcsTaskState', {
        description: `carrel ${props.deploymentId}: ECS task RUNNING/STOPPED of this deployment to workspace records`,
        eventPattern: {
          source: ['aws.ecs'],
          detailType: [ECS_TASK_STATE_CHANGE],
          detail: {
            ...(props.ecsClusterArn ? { clusterArn: [props.ecsClusterArn] } : {}),
            startedBy: [startedByFor(props.deploymentId)],
            lastStatus: [...ECS_TASK_STATUSES],
          },
        },
        targets: [computeTarget],
      });
    }
  }
}
