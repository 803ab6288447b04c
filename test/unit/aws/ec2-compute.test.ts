import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../../lambdas/core/errors.js';
import { workspaceTags } from '../../../lambdas/core/lifecycle.js';
import { spareTags } from '../../../lambdas/core/pool.js';
import type { LaunchRequest, Log } from '../../../lambdas/core/ports.js';
import { attemptToken, ComputeError, Ec2Compute, NoCapacityError, type Ec2ComputeOptions } from '../../../lambdas/adapters/aws/ec2-compute.js';
import { makeWorkspace } from '../../support/fakes.js';
import {
  clientError,
  connectionReset,
  insufficientCapacity,
  internalError,
  requestLimitExceeded,
  serviceError,
  serviceUnavailable,
  throttling,
  timeoutError,
  unauthorized,
  unsupportedInZone,
} from './sdk-errors.js';

const DEPLOYMENT = 'prod';
const client = new EC2Client({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const ec2 = mockClient(client);

function recordingLog(): Log & { readonly lines: Array<[string, string, Record<string, unknown> | undefined]> } {
  const lines: Array<[string, string, Record<string, unknown> | undefined]> = [];
  return {
    lines,
    info: (m, d) => lines.push(['info', m, d]),
    warn: (m, d) => lines.push(['warn', m, d]),
    error: (m, d) => lines.push(['error', m, d]),
  };
}

function compute(patch: Partial<Ec2ComputeOptions> = {}) {
  const log = recordingLog();
  const options: Ec2ComputeOptions = {
    deploymentId: DEPLOYMENT,
    launchTemplateId: 'lt-0123456789abcdef0',
    subnetIds: ['subnet-a', 'subnet-b'],
    securityGroupIds: ['sg-workspace'],
    sizes: { small: { instanceTypes: ['t4g.medium', 't4g.large'] } },
    hibernate: false,
    log,
    ...patch,
  };
  return { compute: new Ec2Compute(client, options), log };
}

function launchRequest(patch: Partial<LaunchRequest> = {}): LaunchRequest {
  const workspace = makeWorkspace('starting', { generation: 2 });
  return {
    workspace,
    clientToken: `${workspace.workspaceId}-${workspace.generation}`,
    home: { homeId: 'fsap-0123456789abcdef0', created: false },
    tags: workspaceTags(workspace, DEPLOYMENT),
    ...patch,
  };
}

/** EC2 as it behaves with client tokens: the same token always answers with the same instance. */
function idempotentEc2(fail: (input: RunInstancesCommandInput) => Error | undefined = () => undefined) {
  const byToken = new Map<string, string>();
  ec2.on(RunInstancesCommand).callsFake((input: RunInstancesCommandInput) => {
    const token = input.ClientToken!;
    if (!byToken.has(token)) {
      const error = fail(input);
      if (error) throw error;
      byToken.set(token, `i-${String(byToken.size + 1).padStart(17, '0')}`);
    }
    return { Instances: [{ InstanceId: byToken.get(token), InstanceType: input.InstanceType, SubnetId: input.SubnetId }] };
  });
  return byToken;
}

const runInputs = () => ec2.commandCalls(RunInstancesCommand).map((call) => call.args[0].input);
const attempts = () => runInputs().map((input) => [input.InstanceType, input.SubnetId, input.ClientToken]);

describe('Ec2Compute', () => {
  afterEach(() => ec2.reset());

  describe('launch', () => {
    it('runs one instance from the launch template with IMDSv2, tags on every resource and an attempt token', async () => {
      // Prepare
      idempotentEc2();
      const { compute: ec2Compute } = compute();
      const request = launchRequest();

      // Act
      const launched = await ec2Compute.launch(request);

      // Assess
      assert.deepEqual(launched, { instanceId: 'i-00000000000000001' });
      const tags = [
        { Key: 'carrel:deployment', Value: 'prod' },
        { Key: 'carrel:analysis', Value: 'demo' },
        { Key: 'carrel:user', Value: 'alice' },
        { Key: 'carrel:workspace', Value: 'wsalice0000000000000' },
        { Key: 'carrel:generation', Value: '2' },
        { Key: 'Name', Value: 'carrel-prod-demo-alice' },
      ];
      assert.deepEqual(runInputs(), [
        {
          MinCount: 1,
          MaxCount: 1,
          LaunchTemplate: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '$Latest' },
          InstanceType: 't4g.medium',
          SubnetId: 'subnet-a',
          SecurityGroupIds: ['sg-workspace'],
          MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
          HibernationOptions: { Configured: false },
          TagSpecifications: [
            { ResourceType: 'instance', Tags: tags },
            { ResourceType: 'volume', Tags: tags },
            { ResourceType: 'network-interface', Tags: tags },
          ],
          ClientToken: 'wsalice0000000000000-2.0',
        },
      ]);
    });

    it('configures hibernation when asked to', async () => {
      // Prepare
      idempotentEc2();
      const { compute: ec2Compute } = compute({ hibernate: true });

      // Act
      await ec2Compute.launch(launchRequest());

      // Assess
      assert.deepEqual(runInputs()[0]?.HibernationOptions, { Configured: true });
    });

    it('launches one instance however often the same launch is retried', async () => {
      // Prepare
      const byToken = idempotentEc2();
      const { compute: ec2Compute } = compute();
      const request = launchRequest();

      // Act
      const first = await ec2Compute.launch(request);
      const second = await ec2Compute.launch(request);
      const third = await compute().compute.launch(request); // another Lambda container

      // Assess
      assert.deepEqual(second, first);
      assert.deepEqual(third, first);
      assert.equal(byToken.size, 1);
      assert.deepEqual(
        runInputs().map((input) => input.ClientToken),
        ['wsalice0000000000000-2.0', 'wsalice0000000000000-2.0', 'wsalice0000000000000-2.0'],
      );
    });

    it('falls back to the next instance type, then the next subnet, on capacity errors', async () => {
      // Prepare
      const failing = new Map<string, Error>([
        ['t4g.medium subnet-a', insufficientCapacity(EC2ServiceException, 't4g.medium', 'eu-west-2a')],
        ['t4g.large subnet-a', insufficientCapacity(EC2ServiceException, 't4g.large', 'eu-west-2a')],
        ['t4g.medium subnet-b', unsupportedInZone(EC2ServiceException, 't4g.medium', 'eu-west-2b')],
      ]);
      idempotentEc2((input) => failing.get(`${input.InstanceType} ${input.SubnetId}`));
      const { compute: ec2Compute, log } = compute();

      // Act
      const launched = await ec2Compute.launch(launchRequest());

      // Assess
      assert.deepEqual(launched, { instanceId: 'i-00000000000000001' });
      assert.deepEqual(attempts(), [
        ['t4g.medium', 'subnet-a', 'wsalice0000000000000-2.0'],
        ['t4g.large', 'subnet-a', 'wsalice0000000000000-2.1'],
        ['t4g.medium', 'subnet-b', 'wsalice0000000000000-2.2'],
        ['t4g.large', 'subnet-b', 'wsalice0000000000000-2.3'],
      ]);
      assert.equal(log.lines.filter(([level]) => level === 'warn').length, 3);
    });

    it('sends the same tokens in the same order when a launch that fell back is retried, and gets the same instance', async () => {
      // Prepare
      const byToken = idempotentEc2((input) => (input.SubnetId === 'subnet-a' ? insufficientCapacity(EC2ServiceException, input.InstanceType) : undefined));
      const { compute: ec2Compute } = compute();
      const first = await ec2Compute.launch(launchRequest());
      ec2.resetHistory();

      // Act
      const retried = await ec2Compute.launch(launchRequest());

      // Assess
      assert.deepEqual(retried, first);
      assert.equal(byToken.size, 1);
      assert.deepEqual(attempts(), [
        ['t4g.medium', 'subnet-a', 'wsalice0000000000000-2.0'],
        ['t4g.large', 'subnet-a', 'wsalice0000000000000-2.1'],
        ['t4g.medium', 'subnet-b', 'wsalice0000000000000-2.2'],
      ]);
    });

    it('skips the rest of a subnet that has no free addresses', async () => {
      // Prepare
      idempotentEc2((input) =>
        input.SubnetId === 'subnet-a' ? clientError(EC2ServiceException, 'InsufficientFreeAddressesInSubnet', 'no free addresses') : undefined,
      );
      const { compute: ec2Compute } = compute();

      // Act
      await ec2Compute.launch(launchRequest());

      // Assess
      assert.deepEqual(attempts(), [
        ['t4g.medium', 'subnet-a', 'wsalice0000000000000-2.0'],
        ['t4g.medium', 'subnet-b', 'wsalice0000000000000-2.2'],
      ]);
    });

    it('tells the researcher there is no capacity when every type and subnet is exhausted', async () => {
      // Prepare
      idempotentEc2((input) => insufficientCapacity(EC2ServiceException, input.InstanceType));
      const { compute: ec2Compute } = compute();

      // Act
      const launching = ec2Compute.launch(launchRequest());

      // Assess
      await assert.rejects(launching, (error) => {
        assert.ok(error instanceof NoCapacityError);
        assert.ok(error instanceof TransientError, 'capacity comes back: retrying later may work');
        assert.equal(
          error.message,
          'There is no capacity for small workspaces right now (tried t4g.medium, t4g.large in 2 subnets). Please try again in a few minutes.',
        );
        return true;
      });
      assert.equal(runInputs().length, 4);
    });

    it('says so when no instance type of the size is offered in the subnets’ zones', async () => {
      // Prepare
      idempotentEc2((input) => unsupportedInZone(EC2ServiceException, input.InstanceType));
      const { compute: ec2Compute } = compute();

      // Act
      const launching = ec2Compute.launch(launchRequest());

      // Assess
      await assert.rejects(
        launching,
        (error) => error instanceof ComputeError && !(error instanceof TransientError) && /size "small" \(t4g.medium, t4g.large\) is offered/.test(error.message),
      );
    });

    const transient: Array<[string, () => Error]> = [
      ['RequestLimitExceeded (EC2 throttling, 503)', () => requestLimitExceeded(EC2ServiceException)],
      ['a ThrottlingException', () => throttling(EC2ServiceException)],
      ['InternalError (500)', () => internalError(EC2ServiceException)],
      ['Unavailable (503)', () => serviceUnavailable(EC2ServiceException)],
      ['a client-side timeout', timeoutError],
      ['a reset connection', connectionReset],
    ];
    for (const [what, make] of transient) {
      it(`maps ${what} to a TransientError with the cause, without trying other options`, async () => {
        // Prepare
        const cause = make();
        ec2.on(RunInstancesCommand).rejects(cause);
        const { compute: ec2Compute } = compute();

        // Act
        const launching = ec2Compute.launch(launchRequest());

        // Assess
        await assert.rejects(launching, (error) => {
          assert.ok(error instanceof TransientError);
          assert.ok(!(error instanceof NoCapacityError));
          assert.equal(error.cause, cause);
          assert.match(error.message, /^Launching a t4g.medium workspace instance in subnet-a failed for now: /);
          return true;
        });
        assert.equal(runInputs().length, 1);
      });
    }

    const permanent: Array<[string, () => Error, RegExp]> = [
      [
        'UnauthorizedOperation',
        () => unauthorized(EC2ServiceException),
        /^Launching a t4g.medium workspace instance in subnet-a failed: UnauthorizedOperation: You are not authorized to perform this operation\./,
      ],
      [
        'InvalidParameterValue',
        () => clientError(EC2ServiceException, 'InvalidParameterValue', "Value (lt-0123) for parameter launchTemplateId is invalid"),
        /failed: InvalidParameterValue: Value \(lt-0123\) for parameter launchTemplateId is invalid$/,
      ],
      [
        'UnsupportedHibernationConfiguration',
        () => clientError(EC2ServiceException, 'UnsupportedHibernationConfiguration', 'hibernation is not supported for t4g.medium'),
        /^Hibernation is configured, but a t4g.medium workspace cannot hibernate/,
      ],
    ];
    for (const [what, make, message] of permanent) {
      it(`maps ${what} to a ComputeError naming what failed`, async () => {
        // Prepare
        ec2.on(RunInstancesCommand).rejects(make());
        const { compute: ec2Compute } = compute();

        // Act
        const launching = ec2Compute.launch(launchRequest());

        // Assess
        await assert.rejects(launching, (error) => {
          assert.ok(error instanceof ComputeError);
          assert.ok(!(error instanceof TransientError));
          assert.match(error.message, message);
          assert.ok(error.message.length <= 400, 'long AWS messages are trimmed');
          return true;
        });
        assert.equal(runInputs().length, 1);
      });
    }

    it('returns the instance a token already launched when EC2 reports a parameter mismatch', async () => {
      // Prepare
      ec2.on(RunInstancesCommand).rejects(clientError(EC2ServiceException, 'IdempotentParameterMismatch', 'token reused'));
      ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-earlier', State: { Name: 'running', Code: 16 } }] }] });
      const { compute: ec2Compute } = compute();

      // Act
      const launched = await ec2Compute.launch(launchRequest());

      // Assess
      assert.deepEqual(launched, { instanceId: 'i-earlier' });
      assert.deepEqual(ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input, {
        Filters: [
          { Name: 'client-token', Values: ['wsalice0000000000000-2.0'] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
        MaxResults: 1000,
        NextToken: undefined,
      });
    });

    it('keeps client tokens within 64 characters, deterministically', () => {
      // Prepare
      const long = 'w'.repeat(70);

      // Act
      const tokens = [attemptToken(long, 0), attemptToken(long, 0), attemptToken(long, 11)];

      // Assess
      assert.equal(tokens[0], tokens[1]);
      assert.notEqual(tokens[0], tokens[2]);
      for (const token of tokens) assert.ok(token.length <= 64 && /^[0-9a-f]+\.\d+$/.test(token), token);
      assert.equal(attemptToken('short-1', 3), 'short-1.3');
    });

    it('refuses a size that is not configured, naming the sizes that are', async () => {
      // Prepare
      const { compute: ec2Compute } = compute();
      const workspace = makeWorkspace('starting', { size: 'huge' });

      // Act
      const launching = ec2Compute.launch(launchRequest({ workspace }));

      // Assess
      await assert.rejects(launching, /Unknown workspace size "huge" \(configured: small\)/);
      assert.equal(runInputs().length, 0);
    });
  });

  describe('start', () => {
    const stopped = makeWorkspace('starting', { instanceId: 'i-1', generation: 4, resumed: true });

    it('starts the stopped instance and moves its generation tag to the record’s', async () => {
      // Prepare
      ec2.on(StartInstancesCommand).resolves({ StartingInstances: [{ InstanceId: 'i-1', CurrentState: { Name: 'pending', Code: 0 } }] });
      ec2.on(CreateTagsCommand).resolves({});
      const { compute: ec2Compute } = compute();

      // Act
      const started = await ec2Compute.start('i-1', stopped);

      // Assess
      assert.equal(started, undefined, 'EC2 resumes the same instance');
      assert.deepEqual(ec2.commandCalls(StartInstancesCommand)[0]?.args[0].input, { InstanceIds: ['i-1'] });
      assert.deepEqual(ec2.commandCalls(CreateTagsCommand)[0]?.args[0].input, {
        Resources: ['i-1'],
        Tags: [{ Key: 'carrel:generation', Value: '4' }],
      });
    });

    it('resumes even when the tag cannot be updated', async () => {
      // Prepare
      ec2.on(StartInstancesCommand).resolves({});
      ec2.on(CreateTagsCommand).rejects(requestLimitExceeded(EC2ServiceException));
      const { compute: ec2Compute, log } = compute();

      // Act
      await ec2Compute.start('i-1', stopped);

      // Assess
      assert.equal(ec2.commandCalls(StartInstancesCommand).length, 1);
      assert.match(log.lines.find(([level]) => level === 'warn')?.[1] ?? '', /generation tag/);
    });

    it('leaves an instance that is already running alone', async () => {
      // Prepare
      ec2.on(StartInstancesCommand).rejects(clientError(EC2ServiceException, 'IncorrectInstanceState', 'not in a state from which it can be started'));
      ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-1', State: { Name: 'running', Code: 16 } }] }] });
      ec2.on(CreateTagsCommand).resolves({});
      const { compute: ec2Compute } = compute();

      // Act
      const started = await ec2Compute.start('i-1', stopped);

      // Assess
      assert.equal(started, undefined);
      assert.deepEqual(ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input, { InstanceIds: ['i-1'] });
    });

    it('asks for a retry while the instance is still stopping', async () => {
      // Prepare
      ec2.on(StartInstancesCommand).rejects(clientError(EC2ServiceException, 'IncorrectInstanceState', 'not in a state from which it can be started'));
      ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-1', State: { Name: 'stopping', Code: 64 } }] }] });
      ec2.on(CreateTagsCommand).resolves({});
      const { compute: ec2Compute } = compute();

      // Act
      const starting = ec2Compute.start('i-1', stopped);

      // Assess
      await assert.rejects(starting, (error) => error instanceof TransientError && /still stopping/.test(error.message));
    });

    it('fails clearly when the instance is gone', async () => {
      // Prepare
      ec2.on(StartInstancesCommand).rejects(clientError(EC2ServiceException, 'InvalidInstanceID.NotFound', "The instance ID 'i-1' does not exist"));
      ec2.on(CreateTagsCommand).resolves({});
      const { compute: ec2Compute } = compute();

      // Act
      const starting = ec2Compute.start('i-1', stopped);

      // Assess
      await assert.rejects(starting, (error) => error instanceof ComputeError && /i-1 no longer exists/.test(error.message));
    });

    it('reports missing capacity in the instance’s zone as NoCapacityError', async () => {
      // Prepare
      ec2.on(StartInstancesCommand).rejects(insufficientCapacity(EC2ServiceException));
      ec2.on(CreateTagsCommand).resolves({});
      const { compute: ec2Compute } = compute();

      // Act
      const starting = ec2Compute.start('i-1', stopped);

      // Assess
      await assert.rejects(starting, (error) => error instanceof NoCapacityError && /no capacity to resume/.test(error.message));
    });

    it('maps throttling to TransientError', async () => {
      // Prepare
      const cause = requestLimitExceeded(EC2ServiceException);
      ec2.on(StartInstancesCommand).rejects(cause);
      ec2.on(CreateTagsCommand).resolves({});
      const { compute: ec2Compute } = compute();

      // Act
      const starting = ec2Compute.start('i-1', stopped);

      // Assess
      await assert.rejects(starting, (error) => error instanceof TransientError && error.cause === cause);
    });
  });

  describe('stop', () => {
    it('stops the instance, keeping it', async () => {
      // Prepare
      ec2.on(StopInstancesCommand).resolves({});
      const { compute: ec2Compute } = compute();

      // Act
      await ec2Compute.stop('i-1');

      // Assess
      assert.deepEqual(ec2.commandCalls(StopInstancesCommand)[0]?.args[0].input, { InstanceIds: ['i-1'] });
    });

    it('hibernates when configured', async () => {
      // Prepare
      ec2.on(StopInstancesCommand).resolves({});
      const { compute: ec2Compute } = compute({ hibernate: true });

      // Act
      await ec2Compute.stop('i-1');

      // Assess
      assert.deepEqual(ec2.commandCalls(StopInstancesCommand)[0]?.args[0].input, { InstanceIds: ['i-1'], Hibernate: true });
    });

    it('stops without hibernation when the instance cannot hibernate', async () => {
      // Prepare
      ec2.on(StopInstancesCommand, { InstanceIds: ['i-1'], Hibernate: true }).rejects(
        clientError(EC2ServiceException, 'UnsupportedHibernationConfiguration', 'not enabled for hibernation'),
      );
      ec2.on(StopInstancesCommand, { InstanceIds: ['i-1'] }, true).resolves({});
      const { compute: ec2Compute } = compute({ hibernate: true });

      // Act
      await ec2Compute.stop('i-1');

      // Assess
      assert.deepEqual(
        ec2.commandCalls(StopInstancesCommand).map((call) => call.args[0].input),
        [{ InstanceIds: ['i-1'], Hibernate: true }, { InstanceIds: ['i-1'] }],
      );
    });

    for (const state of ['stopped', 'stopping', 'terminated'] as const) {
      it(`does nothing for an instance already ${state}`, async () => {
        // Prepare
        ec2.on(StopInstancesCommand).rejects(clientError(EC2ServiceException, 'IncorrectInstanceState', 'not in a state from which it can be stopped'));
        ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-1', State: { Name: state } }] }] });
        const { compute: ec2Compute } = compute();

        // Act
        await ec2Compute.stop('i-1');

        // Assess
        assert.equal(ec2.commandCalls(StopInstancesCommand).length, 1);
      });
    }

    it('asks for a retry while the instance is still pending', async () => {
      // Prepare
      ec2.on(StopInstancesCommand).rejects(clientError(EC2ServiceException, 'IncorrectInstanceState', 'not in a state from which it can be stopped'));
      ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-1', State: { Name: 'pending' } }] }] });
      const { compute: ec2Compute } = compute();

      // Act
      const stopping = ec2Compute.stop('i-1');

      // Assess
      await assert.rejects(stopping, (error) => error instanceof TransientError && /still starting/.test(error.message));
    });

    it('maps a 5xx to TransientError and a refusal to ComputeError', async () => {
      // Prepare
      ec2.on(StopInstancesCommand, { InstanceIds: ['i-1'] }).rejects(internalError(EC2ServiceException));
      ec2.on(StopInstancesCommand, { InstanceIds: ['i-2'] }).rejects(unauthorized(EC2ServiceException));
      const { compute: ec2Compute } = compute();

      // Act
      const results = await Promise.allSettled([ec2Compute.stop('i-1'), ec2Compute.stop('i-2')]);

      // Assess
      assert.ok(results[0].status === 'rejected' && results[0].reason instanceof TransientError);
      assert.ok(results[1].status === 'rejected' && results[1].reason instanceof ComputeError);
      assert.match((results[1] as PromiseRejectedResult).reason.message, /^Stopping workspace instance i-2 failed: UnauthorizedOperation/);
    });
  });

  describe('terminate', () => {
    it('terminates the instance', async () => {
      // Prepare
      ec2.on(TerminateInstancesCommand).resolves({});
      const { compute: ec2Compute } = compute();

      // Act
      await ec2Compute.terminate('i-1');

      // Assess
      assert.deepEqual(ec2.commandCalls(TerminateInstancesCommand)[0]?.args[0].input, { InstanceIds: ['i-1'] });
    });

    it('does nothing for an instance EC2 no longer knows', async () => {
      // Prepare
      ec2.on(TerminateInstancesCommand).rejects(clientError(EC2ServiceException, 'InvalidInstanceID.NotFound', "The instance ID 'i-1' does not exist"));
      const { compute: ec2Compute } = compute();

      // Act / Assess
      await ec2Compute.terminate('i-1');
    });

    it('maps throttling to TransientError', async () => {
      // Prepare
      ec2.on(TerminateInstancesCommand).rejects(requestLimitExceeded(EC2ServiceException));
      const { compute: ec2Compute } = compute();

      // Act
      const terminating = ec2Compute.terminate('i-1');

      // Assess
      await assert.rejects(terminating, TransientError);
    });
  });

  describe('listTagged', () => {
    it('lists every page of the deployment’s instances with core states and tags', async () => {
      // Prepare
      const tags = (id: string) => [
        { Key: 'carrel:deployment', Value: DEPLOYMENT },
        { Key: 'carrel:workspace', Value: id },
      ];
      ec2
        .on(DescribeInstancesCommand)
        .resolvesOnce({
          Reservations: [
            { Instances: [{ InstanceId: 'i-1', State: { Name: 'running' }, Tags: tags('w1') }, { InstanceId: 'i-2', State: { Name: 'pending' }, Tags: tags('w2') }] },
            { Instances: [{ InstanceId: 'i-3', State: { Name: 'stopped' }, Tags: tags('w3') }] },
          ],
          NextToken: 'page-2',
        })
        .resolvesOnce({
          Reservations: [
            { Instances: [{ InstanceId: 'i-4', State: { Name: 'stopping' }, Tags: tags('w4') }, { InstanceId: 'i-5', State: { Name: 'shutting-down' } }] },
          ],
        });
      const { compute: ec2Compute } = compute();

      // Act
      const views = await ec2Compute.listTagged();

      // Assess
      assert.deepEqual(views, [
        { instanceId: 'i-1', state: 'running', tags: { 'carrel:deployment': 'prod', 'carrel:workspace': 'w1' } },
        { instanceId: 'i-2', state: 'pending', tags: { 'carrel:deployment': 'prod', 'carrel:workspace': 'w2' } },
        { instanceId: 'i-3', state: 'stopped', tags: { 'carrel:deployment': 'prod', 'carrel:workspace': 'w3' } },
        { instanceId: 'i-4', state: 'stopping', tags: { 'carrel:deployment': 'prod', 'carrel:workspace': 'w4' } },
        { instanceId: 'i-5', state: 'terminated', tags: {} },
      ]);
      const filters = [
        { Name: 'tag:carrel:deployment', Values: ['prod'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ];
      assert.deepEqual(
        ec2.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input),
        [
          { Filters: filters, MaxResults: 1000, NextToken: undefined },
          { Filters: filters, MaxResults: 1000, NextToken: 'page-2' },
        ],
      );
    });

    it('maps a throttled listing to TransientError', async () => {
      // Prepare
      ec2.on(DescribeInstancesCommand).rejects(serviceError(EC2ServiceException, 'RequestLimitExceeded', 503));
      const { compute: ec2Compute } = compute();

      // Act
      const listing = ec2Compute.listTagged();

      // Assess
      await assert.rejects(listing, (error) => error instanceof TransientError && /^Listing workspace instances failed for now/.test(error.message));
    });
  });

  describe('warm pool', () => {
    it('launches a spare like a workspace (template, IMDSv2, capacity fallback) with the spare tags and its own token', async () => {
      // Prepare
      idempotentEc2((input) => (input.SubnetId === 'subnet-a' ? insufficientCapacity(EC2ServiceException, input.InstanceType) : undefined));
      const { compute: ec2Compute } = compute();
      const tags = spareTags({ spareId: 'abcdefghijklmnop', size: 'small' }, DEPLOYMENT);

      // Act
      const launched = await ec2Compute.launchSpare({ size: 'small', clientToken: 'spare-abcdefghijklmnop', tags });
      const again = await ec2Compute.launchSpare({ size: 'small', clientToken: 'spare-abcdefghijklmnop', tags });

      // Assess
      assert.deepEqual(again, launched);
      const inputs = runInputs();
      assert.deepEqual(inputs.map((i) => i.ClientToken).slice(0, 3), ['spare-abcdefghijklmnop.0', 'spare-abcdefghijklmnop.1', 'spare-abcdefghijklmnop.2']);
      const last = inputs.at(-1)!;
      assert.equal(last.SubnetId, 'subnet-b');
      assert.deepEqual(last.MetadataOptions, { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 });
      assert.deepEqual(last.TagSpecifications![0].Tags, [
        { Key: 'carrel:deployment', Value: 'prod' },
        { Key: 'carrel:spare', Value: 'abcdefghijklmnop' },
        { Key: 'carrel:size', Value: 'small' },
        { Key: 'Name', Value: 'carrel-prod-spare-small' },
      ]);
    });

    it('adopts a spare: the workspace tags (never the deployment tag) are set first, then the spare tags removed', async () => {
      // Prepare
      ec2.on(CreateTagsCommand).resolves({});
      ec2.on(DeleteTagsCommand).resolves({});
      const { compute: ec2Compute } = compute();
      const ws = makeWorkspace('starting', { generation: 3 });

      // Act
      await ec2Compute.adopt('i-0aaaaaaaaaaaaaaaa', { ...workspaceTags(ws, DEPLOYMENT), 'carrel:home': 'fsap-1' });

      // Assess
      const created = ec2.commandCalls(CreateTagsCommand).map((c) => c.args[0].input);
      const deleted = ec2.commandCalls(DeleteTagsCommand).map((c) => c.args[0].input);
      assert.deepEqual(created, [
        {
          Resources: ['i-0aaaaaaaaaaaaaaaa'],
          Tags: [
            { Key: 'carrel:analysis', Value: 'demo' },
            { Key: 'carrel:user', Value: 'alice' },
            { Key: 'carrel:workspace', Value: ws.workspaceId },
            { Key: 'carrel:generation', Value: '3' },
            { Key: 'carrel:home', Value: 'fsap-1' },
            { Key: 'Name', Value: 'carrel-prod-demo-alice' },
          ],
        },
      ]);
      assert.deepEqual(deleted, [{ Resources: ['i-0aaaaaaaaaaaaaaaa'], Tags: [{ Key: 'carrel:spare' }, { Key: 'carrel:size' }] }]);
      const order = ec2.calls().map((call) => (call.args[0] as { constructor: { name: string } }).constructor.name);
      assert.deepEqual(order, ['CreateTagsCommand', 'DeleteTagsCommand']);
    });

    for (const [name, error, expected] of [
      ['throttling', () => requestLimitExceeded(EC2ServiceException), TransientError],
      ['a 5xx', () => internalError(EC2ServiceException), TransientError],
      ['a timeout', () => timeoutError(), TransientError],
      ['a missing permission', () => unauthorized(EC2ServiceException), ComputeError],
      ['a vanished instance', () => clientError(EC2ServiceException, 'InvalidInstanceID.NotFound'), ComputeError],
    ] as const) {
      it(`reports ${name} while adopting a spare as ${expected.name}, and removes no spare tag`, async () => {
        // Prepare
        ec2.on(CreateTagsCommand).rejects(error());
        ec2.on(DeleteTagsCommand).resolves({});
        const { compute: ec2Compute } = compute();

        // Act
        const adopting = ec2Compute.adopt('i-0aaaaaaaaaaaaaaaa', workspaceTags(makeWorkspace('starting'), DEPLOYMENT));

        // Assess
        await assert.rejects(adopting, expected);
        assert.equal(ec2.commandCalls(DeleteTagsCommand).length, 0);
      });
    }
  });
});
