/**
 * What runs without a user: housekeeping every minute, and compute state changes (EC2 instances,
 * ECS tasks) delivered to the compute-events function. Mapping the events arrives with the AWS compute
 * adapters; the rules exist now so the function receives them from the start.
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
}

export class DeskSchedules extends Construct {
  readonly housekeepingRule: events.Rule;
  readonly ec2StateRule: events.Rule;
  readonly ecsTaskRule: events.Rule;

  constructor(scope: Construct, id: string, props: DeskSchedulesProps) {
    super(scope, id);

    this.housekeepingRule = new events.Rule(this, 'Housekeeping', {
      description: `carrel ${props.deploymentId}: housekeeping pass (idle stops, deadlines, retention, reconciliation)`,
      schedule: events.Schedule.rate(props.housekeepingRate ?? Duration.minutes(1)),
      // A pass that cannot be delivered is replaced by the next one.
      targets: [new targets.LambdaFunction(props.housekeeping, { retryAttempts: 2, maxEventAge: Duration.minutes(2) })],
    });

    const computeTarget = new targets.LambdaFunction(props.computeEvents, { retryAttempts: 10, maxEventAge: Duration.hours(1) });
    this.ec2StateRule = new events.Rule(this, 'Ec2InstanceState', {
      description: `carrel ${props.deploymentId}: EC2 instance state changes to workspace records`,
      eventPattern: { source: ['aws.ec2'], detailType: ['EC2 Instance State-change Notification'] },
      targets: [computeTarget],
    });
    this.ecsTaskRule = new events.Rule(this, 'EcsTaskState', {
      description: `carrel ${props.deploymentId}: ECS task state changes to workspace records`,
      eventPattern: { source: ['aws.ecs'], detailType: ['ECS Task State Change'] },
      targets: [computeTarget],
    });
  }
}
