import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../../lambdas/core/errors.js';
import {
  ec2InstanceLookup,
  ec2PublicIpLookup,
  ec2StateChangeEvent,
  ecsStartedBy,
  ecsTaskStateChangeEvent,
  mapEc2StateChange,
  mapEcsTaskStateChange,
  type InstanceFacts,
} from '../../../lambdas/adapters/aws/compute-event-mapping.js';
import { startedByFor, STOP_REASON, TERMINATE_REASON } from '../../../lambdas/adapters/aws/ecs-compute.js';
import { clientError, connectionReset, internalError, requestLimitExceeded, serviceUnavailable, timeoutError, unauthorized } from './sdk-errors.js';

const DEPLOYMENT = 'prod-eu';
const INSTANCE = 'i-0a1b2c3d4e5f60718';
const TASK = 'arn:aws:ecs:eu-west-2:111122223333:task/carrel-prod-eu-workspaces/6f1e2d3c4b5a69788796a5b4c3d2e1f0';
const TAGS = { 'carrel:deployment': DEPLOYMENT, 'carrel:analysis': 'demo', 'carrel:user': 'alice', 'carrel:workspace': 'w1', 'carrel:generation': '2' };

/** An EventBridge `EC2 Instance State-change Notification`, as EC2 sends it (see the EC2 user guide). */
function ec2Event(state: string, instanceId = INSTANCE) {
  return ec2StateChangeEvent.parse({
    version: '0',
    id: '7bf73129-1428-4cd3-a780-95db273d1602',
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: '111122223333',
    time: '2030-01-01T09:00:12Z',
    region: 'eu-west-2',
    resources: [`arn:aws:ec2:eu-west-2:111122223333:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state },
  });
}

type Container = { name: string; lastStatus: string; exitCode?: number; reason?: string; healthStatus?: string };

/**
 * An EventBridge `ECS Task State Change` for a Fargate workspace task (shape of the ECS developer guide's
 * example: the task as DescribeTasks shows it, timestamps as ISO strings, no health and no tags).
 */
function ecsEvent(options: {
  lastStatus: string;
  desiredStatus?: string;
  containers?: Container[];
  stoppedReason?: string;
  stopCode?: string;
  startedBy?: string;
  eni?: boolean;
  extra?: Record<string, unknown>;
}) {
  const containers = options.containers ?? [
    { name: 'tool', lastStatus: options.lastStatus },
    { name: 'gate', lastStatus: options.lastStatus },
    { name: 'ready', lastStatus: 'PENDING' },
  ];
  const stopped = options.lastStatus === 'STOPPED';
  return ecsTaskStateChangeEvent.parse({
    version: '0',
    id: '3317b2af-7005-947d-b652-f55e762e571a',
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: '111122223333',
    time: '2030-01-01T09:00:31Z',
    region: 'eu-west-2',
    resources: [TASK],
    detail: {
      attachments:
        options.eni === false
          ? []
          : [
              {
                id: '1789bcae-ddfb-4d10-8ebe-8ac87ddba5b8',
                type: 'eni',
                status: stopped ? 'DELETED' : 'ATTACHED',
                details: [
                  { name: 'subnetId', value: 'subnet-0a1b2c3d4e5f60718' },
                  { name: 'networkInterfaceId', value: 'eni-0f1e2d3c4b5a69788' },
                  { name: 'macAddress', value: '0a:98:eb:a7:29:ba' },
                  { name: 'privateDnsName', value: 'ip-10-0-12-34.eu-west-2.compute.internal' },
                  { name: 'privateIPv4Address', value: '10.0.12.34' },
                ],
              },
            ],
      attributes: [{ name: 'ecs.cpu-architecture', value: 'arm64' }],
      availabilityZone: 'eu-west-2a',
      clusterArn: 'arn:aws:ecs:eu-west-2:111122223333:cluster/carrel-prod-eu-workspaces',
      containers: containers.map((c, i) => ({
        containerArn: `arn:aws:ecs:eu-west-2:111122223333:container/carrel-prod-eu-workspaces/6f1e2d3c4b5a69788796a5b4c3d2e1f0/0000000${i}-aaaa-bbbb-cccc-dddddddddddd`,
        image: `111122223333.dkr.ecr.eu-west-2.amazonaws.com/carrel-${c.name}:1.4.0`,
        taskArn: TASK,
        networkInterfaces: [{ attachmentId: '1789bcae-ddfb-4d10-8ebe-8ac87ddba5b8', privateIpv4Address: '10.0.12.34' }],
        cpu: '0',
        ...c,
      })),
      cpu: '1024',
      memory: '4096',
      createdAt: '2030-01-01T09:00:02.402Z',
      launchType: 'FARGATE',
      desiredStatus: options.desiredStatus ?? (stopped ? 'STOPPED' : 'RUNNING'),
      group: 'family:carrel-prod-eu-ws-3f2a',
      lastStatus: options.lastStatus,
      overrides: { containerOverrides: [{ name: 'tool' }, { name: 'gate' }, { name: 'ready' }] },
      connectivity: 'CONNECTED',
      connectivityAt: '2030-01-01T09:00:08.453Z',
      pullStartedAt: '2030-01-01T09:00:12.103Z',
      pullStoppedAt: '2030-01-01T09:00:22.103Z',
      startedAt: '2030-01-01T09:00:28.103Z',
      startedBy: options.startedBy ?? `carrel-${DEPLOYMENT}`,
      updatedAt: '2030-01-01T09:00:31.103Z',
      taskArn: TASK,
      taskDefinitionArn: 'arn:aws:ecs:eu-west-2:111122223333:task-definition/carrel-prod-eu-ws-3f2a:1',
      version: 4,
      platformVersion: '1.4.0',
      ...(stopped
        ? { stoppedAt: '2030-01-01T10:00:02.000Z', stoppingAt: '2030-01-01T10:00:00.000Z', executionStoppedAt: '2030-01-01T10:00:01.500Z' }
        : {}),
      ...(options.stoppedReason ? { stoppedReason: options.stoppedReason } : {}),
      ...(options.stopCode ? { stopCode: options.stopCode } : {}),
      ...options.extra,
    },
  });
}

const ECS_OPTIONS = { deploymentId: DEPLOYMENT, gatePort: 443 };

describe('mapEc2StateChange', () => {
  const facts = (overrides: Partial<InstanceFacts> = {}) => async (): Promise<InstanceFacts> => ({ address: '10.0.12.34:443', tags: TAGS, ...overrides });

  it('maps running to a running event with the looked-up address and tags', async () => {
    // Prepare
    const looked: string[] = [];
    // Act
    const mapped = await mapEc2StateChange(ec2Event('running'), async (id) => {
      looked.push(id);
      return { address: '10.0.12.34:443', tags: TAGS };
    });
    // Assess
    assert.deepEqual(mapped, { event: { kind: 'running', instanceId: INSTANCE, address: '10.0.12.34:443' }, tags: TAGS });
    assert.deepEqual(looked, [INSTANCE]);
  });

  it('ignores a running instance that is not this deployment', async () => {
    // Act / Assess
    assert.equal(await mapEc2StateChange(ec2Event('running'), async () => undefined), undefined);
  });

  it('fails a running instance without an address of the configured kind, with the reason', async () => {
    // Act
    const mapped = await mapEc2StateChange(ec2Event('running'), facts({ address: undefined, addressMissing: 'The workspace instance has no public IP address (WORKSPACE_ADDRESS=public)' }));
    // Assess
    assert.deepEqual(mapped?.event, { kind: 'failed', instanceId: INSTANCE, reason: 'The workspace instance has no public IP address (WORKSPACE_ADDRESS=public)' });
  });

  for (const [state, kind] of [
    ['stopped', 'stopped'],
    ['terminated', 'terminated'],
  ] as const) {
    it(`maps ${state} to ${kind} without any lookup`, async () => {
      // Act
      const mapped = await mapEc2StateChange(ec2Event(state), async () => assert.fail('no lookup needed'));
      // Assess
      assert.deepEqual(mapped, { event: { kind, instanceId: INSTANCE } });
    });
  }

  for (const state of ['pending', 'stopping', 'shutting-down', 'rebooting-someday']) {
    it(`ignores ${state}`, async () => {
      // Act / Assess
      assert.equal(await mapEc2StateChange(ec2Event(state), async () => assert.fail('no lookup needed')), undefined);
    });
  }

  it('rejects an event without an instance id', () => {
    // Act / Assess
    assert.equal(ec2StateChangeEvent.safeParse({ 'detail-type': 'EC2 Instance State-change Notification', detail: { state: 'running' } }).success, false);
  });
});

describe('ec2InstanceLookup', () => {
  const client = new EC2Client({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const ec2 = mockClient(client);
  afterEach(() => ec2.reset());

  const reservation = (instance: Record<string, unknown>) => ({ Reservations: [{ ReservationId: 'r-0123456789abcdef0', Instances: [{ InstanceId: INSTANCE, State: { Code: 16, Name: 'running' as const }, ...instance }] }] });
  const tagList = Object.entries(TAGS).map(([Key, Value]) => ({ Key, Value }));

  it('describes the instance filtered by the deployment tag and returns the private address with the gate port', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves(reservation({ PrivateIpAddress: '10.0.12.34', PublicIpAddress: '203.0.113.9', Tags: tagList }));
    // Act
    const facts = await ec2InstanceLookup(client, { deploymentId: DEPLOYMENT, address: 'private', gatePort: 8443 })(INSTANCE);
    // Assess
    assert.deepEqual(facts, { address: '10.0.12.34:8443', tags: TAGS });
    assert.deepEqual(ec2.commandCalls(DescribeInstancesCommand)[0]!.args[0].input, {
      InstanceIds: [INSTANCE],
      Filters: [{ Name: 'tag:carrel:deployment', Values: [DEPLOYMENT] }],
    });
  });

  it('returns the public address when WORKSPACE_ADDRESS is public', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves(reservation({ PrivateIpAddress: '10.0.12.34', PublicIpAddress: '203.0.113.9', Tags: tagList }));
    // Act
    const facts = await ec2InstanceLookup(() => client, { deploymentId: DEPLOYMENT, address: 'public', gatePort: 443 })(INSTANCE);
    // Assess
    assert.equal(facts?.address, '203.0.113.9:443');
  });

  it('says why when the instance has no public address', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves(reservation({ PrivateIpAddress: '10.0.12.34', Tags: tagList }));
    // Act
    const facts = await ec2InstanceLookup(client, { deploymentId: DEPLOYMENT, address: 'public', gatePort: 443 })(INSTANCE);
    // Assess
    assert.equal(facts?.address, undefined);
    assert.match(facts?.addressMissing ?? '', /no public IP address \(WORKSPACE_ADDRESS=public\)/);
  });

  it('returns undefined for an instance without this deployment tag (the filter leaves no reservation)', async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    // Act / Assess
    assert.equal(await ec2InstanceLookup(client, { deploymentId: DEPLOYMENT, address: 'private', gatePort: 443 })(INSTANCE), undefined);
  });

  const transient: [string, () => Error][] = [
    ['RequestLimitExceeded', () => requestLimitExceeded(EC2ServiceException)],
    ['InternalError (500)', () => internalError(EC2ServiceException)],
    ['Unavailable (503)', () => serviceUnavailable(EC2ServiceException)],
    ['an instance EC2 does not know yet (eventual consistency)', () => clientError(EC2ServiceException, 'InvalidInstanceID.NotFound', `The instance ID '${INSTANCE}' does not exist`)],
    ['a timeout', timeoutError],
    ['a reset connection', connectionReset],
  ];
  for (const [what, make] of transient) {
    it(`turns ${what} into a TransientError with the cause`, async () => {
      // Prepare
      const cause = make();
      ec2.on(DescribeInstancesCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(ec2InstanceLookup(client, { deploymentId: DEPLOYMENT, address: 'private', gatePort: 443 })(INSTANCE), (error) => error instanceof TransientError && error.cause === cause);
    });
  }

  it('passes UnauthorizedOperation on as is', async () => {
    // Prepare
    const cause = unauthorized(EC2ServiceException);
    ec2.on(DescribeInstancesCommand).rejects(cause);
    // Act / Assess
    await assert.rejects(ec2InstanceLookup(client, { deploymentId: DEPLOYMENT, address: 'private', gatePort: 443 })(INSTANCE), (error) => error === cause);
  });

  it('reads the public IP of a network interface', async () => {
    // Prepare
    ec2.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [{ NetworkInterfaceId: 'eni-0f1e2d3c4b5a69788', Association: { PublicIp: '203.0.113.44' } }] });
    // Act
    const ip = await ec2PublicIpLookup(client)('eni-0f1e2d3c4b5a69788');
    // Assess
    assert.equal(ip, '203.0.113.44');
    assert.deepEqual(ec2.commandCalls(DescribeNetworkInterfacesCommand)[0]!.args[0].input, { NetworkInterfaceIds: ['eni-0f1e2d3c4b5a69788'] });
  });

  it('turns network interface lookup throttling into a TransientError', async () => {
    // Prepare
    ec2.on(DescribeNetworkInterfacesCommand).rejects(requestLimitExceeded(EC2ServiceException));
    // Act / Assess
    await assert.rejects(ec2PublicIpLookup(client)('eni-0f1e2d3c4b5a69788'), TransientError);
  });
});

describe('mapEcsTaskStateChange', () => {
  it('maps a RUNNING task whose tool is not answering yet to running with the private address', async () => {
    // Act
    const mapped = await mapEcsTaskStateChange(ecsEvent({ lastStatus: 'RUNNING' }), ECS_OPTIONS);
    // Assess
    assert.deepEqual(mapped, { event: { kind: 'running', instanceId: TASK, address: '10.0.12.34:443' } });
  });

  it('maps the ready container having exited 0 to tool-ready with the address', async () => {
    // Prepare
    const event = ecsEvent({
      lastStatus: 'RUNNING',
      containers: [
        { name: 'tool', lastStatus: 'RUNNING' },
        { name: 'gate', lastStatus: 'RUNNING' },
        { name: 'ready', lastStatus: 'STOPPED', exitCode: 0 },
      ],
    });
    // Act
    const mapped = await mapEcsTaskStateChange(event, { ...ECS_OPTIONS, gatePort: 8443 });
    // Assess
    assert.deepEqual(mapped, { event: { kind: 'tool-ready', instanceId: TASK, address: '10.0.12.34:8443' } });
  });

  it('maps a HEALTHY gate container to tool-ready', async () => {
    // Prepare
    const event = ecsEvent({ lastStatus: 'RUNNING', containers: [{ name: 'tool', lastStatus: 'RUNNING', healthStatus: 'HEALTHY' }, { name: 'gate', lastStatus: 'RUNNING', healthStatus: 'HEALTHY' }] });
    // Act / Assess
    assert.equal((await mapEcsTaskStateChange(event, ECS_OPTIONS))?.event.kind, 'tool-ready');
  });

  it('maps a HEALTHY task to tool-ready', async () => {
    // Prepare
    const event = ecsEvent({ lastStatus: 'RUNNING', extra: { healthStatus: 'HEALTHY' } });
    // Act / Assess
    assert.equal((await mapEcsTaskStateChange(event, ECS_OPTIONS))?.event.kind, 'tool-ready');
  });

  it('does not count a HEALTHY tool alone, nor a ready container that failed', async () => {
    // Prepare
    const event = ecsEvent({
      lastStatus: 'RUNNING',
      containers: [
        { name: 'tool', lastStatus: 'RUNNING', healthStatus: 'HEALTHY' },
        { name: 'gate', lastStatus: 'RUNNING', healthStatus: 'UNKNOWN' },
        { name: 'ready', lastStatus: 'STOPPED', exitCode: 1 },
      ],
    });
    // Act / Assess
    assert.equal((await mapEcsTaskStateChange(event, ECS_OPTIONS))?.event.kind, 'running');
  });

  it('passes the task tags on when the event carries them', async () => {
    // Prepare
    const event = ecsEvent({ lastStatus: 'RUNNING', extra: { tags: Object.entries(TAGS).map(([key, value]) => ({ key, value })) } });
    // Act / Assess
    assert.deepEqual((await mapEcsTaskStateChange(event, ECS_OPTIONS))?.tags, TAGS);
  });

  it('uses the public IP of the task network interface when WORKSPACE_ADDRESS is public', async () => {
    // Prepare
    const asked: string[] = [];
    // Act
    const mapped = await mapEcsTaskStateChange(ecsEvent({ lastStatus: 'RUNNING' }), {
      ...ECS_OPTIONS,
      address: 'public',
      publicIp: async (eni) => {
        asked.push(eni);
        return '203.0.113.44';
      },
    });
    // Assess
    assert.deepEqual(mapped?.event, { kind: 'running', instanceId: TASK, address: '203.0.113.44:443' });
    assert.deepEqual(asked, ['eni-0f1e2d3c4b5a69788']);
  });

  it('fails a public task without a public IP, saying why', async () => {
    // Act
    const mapped = await mapEcsTaskStateChange(ecsEvent({ lastStatus: 'RUNNING' }), { ...ECS_OPTIONS, address: 'public', publicIp: async () => undefined });
    // Assess
    assert.deepEqual(mapped?.event, { kind: 'failed', instanceId: TASK, reason: 'The workspace task has no public IP address (WORKSPACE_ADDRESS=public)' });
  });

  it('fails a RUNNING task without a network interface', async () => {
    // Act
    const mapped = await mapEcsTaskStateChange(ecsEvent({ lastStatus: 'RUNNING', eni: false }), ECS_OPTIONS);
    // Assess
    assert.equal(mapped?.event.kind, 'failed');
  });

  for (const status of ['PROVISIONING', 'PENDING', 'ACTIVATING', 'DEACTIVATING', 'STOPPING', 'DEPROVISIONING']) {
    it(`ignores ${status}`, async () => {
      // Act / Assess
      assert.equal(await mapEcsTaskStateChange(ecsEvent({ lastStatus: status, desiredStatus: 'RUNNING' }), ECS_OPTIONS), undefined);
    });
  }

  it('ignores a RUNNING task that is on its way down (desiredStatus STOPPED)', async () => {
    // Act / Assess
    assert.equal(await mapEcsTaskStateChange(ecsEvent({ lastStatus: 'RUNNING', desiredStatus: 'STOPPED' }), ECS_OPTIONS), undefined);
  });

  for (const [what, startedBy] of [
    ['another deployment', 'carrel-staging'],
    ['a service deployment', 'ecs-svc/1234567890123456789'],
    ['nobody in particular', ''],
  ] as const) {
    it(`ignores a task started by ${what}`, async () => {
      // Act / Assess
      assert.equal(await mapEcsTaskStateChange(ecsEvent({ lastStatus: 'RUNNING', startedBy }), ECS_OPTIONS), undefined);
    });
  }

  it('recognises the startedBy of a deployment id RunTask would refuse as is', async () => {
    // Prepare
    const event = ecsEvent({ lastStatus: 'RUNNING', startedBy: 'carrel-prod-eu-2' });
    // Act / Assess
    assert.equal(ecsStartedBy('prod.eu.2'), 'carrel-prod-eu-2');
    assert.equal((await mapEcsTaskStateChange(event, { ...ECS_OPTIONS, deploymentId: 'prod.eu.2' }))?.event.kind, 'running');
  });

  it('recognises the shortened startedBy of a long deployment id (the value FargateCompute runs tasks with)', async () => {
    // Prepare
    const deploymentId = 'research-platform-production-eu-west-2';
    const event = ecsEvent({ lastStatus: 'RUNNING', startedBy: startedByFor(deploymentId) });
    // Act / Assess
    assert.ok(startedByFor(deploymentId).length <= 36);
    assert.equal((await mapEcsTaskStateChange(event, { ...ECS_OPTIONS, deploymentId }))?.event.kind, 'running');
    assert.equal(await mapEcsTaskStateChange(ecsEvent({ lastStatus: 'RUNNING', startedBy: `carrel-${deploymentId}` }), { ...ECS_OPTIONS, deploymentId }), undefined);
  });

  it('maps a task carrel stopped to stopped', async () => {
    // Prepare
    const event = ecsEvent({
      lastStatus: 'STOPPED',
      stoppedReason: STOP_REASON,
      stopCode: 'UserInitiated',
      containers: [
        { name: 'tool', lastStatus: 'STOPPED', exitCode: 143 },
        { name: 'gate', lastStatus: 'STOPPED', exitCode: 0 },
        { name: 'ready', lastStatus: 'STOPPED', exitCode: 0 },
      ],
    });
    // Act / Assess
    assert.deepEqual(await mapEcsTaskStateChange(event, ECS_OPTIONS), { event: { kind: 'stopped', instanceId: TASK } });
  });

  it('maps a task carrel terminated to terminated', async () => {
    // Prepare
    const event = ecsEvent({ lastStatus: 'STOPPED', stoppedReason: TERMINATE_REASON, stopCode: 'UserInitiated' });
    // Act / Assess
    assert.deepEqual(await mapEcsTaskStateChange(event, ECS_OPTIONS), { event: { kind: 'terminated', instanceId: TASK } });
  });

  const failures: [string, Parameters<typeof ecsEvent>[0], RegExp][] = [
    [
      'the tool exiting',
      {
        lastStatus: 'STOPPED',
        stoppedReason: 'Essential container in task exited',
        stopCode: 'EssentialContainerExited',
        containers: [
          { name: 'tool', lastStatus: 'STOPPED', exitCode: 1 },
          { name: 'gate', lastStatus: 'STOPPED', exitCode: 143 },
          { name: 'ready', lastStatus: 'STOPPED', exitCode: 0 },
        ],
      },
      /^The workspace container "tool" exited with code 1$/,
    ],
    [
      'the tool running out of memory',
      {
        lastStatus: 'STOPPED',
        stoppedReason: 'Essential container in task exited',
        stopCode: 'EssentialContainerExited',
        containers: [
          { name: 'tool', lastStatus: 'STOPPED', exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' },
          { name: 'gate', lastStatus: 'STOPPED', exitCode: 0 },
        ],
      },
      /^The workspace container "tool" exited with code 137 \(OutOfMemoryError: Container killed due to memory usage\)$/,
    ],
    [
      'the bootstrap step failing (the desk refused or could not be reached): gate and tool never start',
      {
        lastStatus: 'STOPPED',
        stoppedReason: 'Essential container in task exited',
        stopCode: 'EssentialContainerExited',
        containers: [
          { name: 'bootstrap', lastStatus: 'STOPPED', exitCode: 1 },
          { name: 'tool', lastStatus: 'STOPPED' },
          { name: 'gate', lastStatus: 'STOPPED' },
          { name: 'ready', lastStatus: 'STOPPED' },
        ],
      },
      /^The workspace could not get its settings from the desk \(its bootstrap step exited with code 1; the task's bootstrap log says why\)$/,
    ],
    [
      'the gate exiting cleanly (an essential container may not stop)',
      {
        lastStatus: 'STOPPED',
        stoppedReason: 'Essential container in task exited',
        stopCode: 'EssentialContainerExited',
        containers: [
          { name: 'tool', lastStatus: 'RUNNING' },
          { name: 'gate', lastStatus: 'STOPPED', exitCode: 0 },
        ],
      },
      /^The workspace container "gate" exited with code 0$/,
    ],
    [
      'an image that cannot be pulled',
      {
        lastStatus: 'STOPPED',
        stoppedReason:
          'CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref 111122223333.dkr.ecr.eu-west-2.amazonaws.com/carrel-tool:1.4.0: not found',
        stopCode: 'TaskFailedToStart',
        containers: [
          { name: 'tool', lastStatus: 'STOPPED' },
          { name: 'gate', lastStatus: 'STOPPED' },
        ],
      },
      /^The workspace image could not be downloaded \(CannotPullContainerError: pull image manifest has been retried 7 time\(s\)/,
    ],
    [
      'a home that cannot be mounted',
      {
        lastStatus: 'STOPPED',
        stoppedReason:
          'ResourceInitializationError: failed to invoke EFS utils commands to set up EFS volumes: stderr: Failed to resolve "fs-0123456789abcdef0.efs.eu-west-2.amazonaws.com" - check that your file system ID is correct',
        stopCode: 'TaskFailedToStart',
        containers: [
          { name: 'tool', lastStatus: 'STOPPED' },
          { name: 'gate', lastStatus: 'STOPPED' },
        ],
      },
      /^The workspace home could not be mounted \(ResourceInitializationError: failed to invoke EFS utils/,
    ],
    [
      'secrets that cannot be read',
      {
        lastStatus: 'STOPPED',
        stoppedReason: 'ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm',
        stopCode: 'TaskFailedToStart',
      },
      /^The workspace could not be prepared \(ResourceInitializationError: unable to pull secrets/,
    ],
    [
      'a container that cannot start',
      {
        lastStatus: 'STOPPED',
        stoppedReason: 'Task failed to start',
        stopCode: 'TaskFailedToStart',
        containers: [
          { name: 'tool', lastStatus: 'STOPPED', reason: 'CannotStartContainerError: ResourceInitializationError: failed to create new container runtime task' },
          { name: 'gate', lastStatus: 'STOPPED' },
        ],
      },
      /could not be prepared \(CannotStartContainerError: ResourceInitializationError/,
    ],
    [
      'someone stopping it in the console',
      { lastStatus: 'STOPPED', stoppedReason: 'Task stopped by user', stopCode: 'UserInitiated', containers: [{ name: 'tool', lastStatus: 'STOPPED', exitCode: 0 }, { name: 'gate', lastStatus: 'STOPPED', exitCode: 0 }] },
      /^The workspace was stopped outside carrel \(Task stopped by user\)$/,
    ],
    ['a stop with no reason at all', { lastStatus: 'STOPPED', containers: [] }, /^The workspace stopped unexpectedly$/],
  ];
  for (const [what, options, reason] of failures) {
    it(`maps a task stopped by ${what} to failed with a readable reason`, async () => {
      // Act
      const mapped = await mapEcsTaskStateChange(ecsEvent(options), ECS_OPTIONS);
      // Assess
      assert.equal(mapped?.event.kind, 'failed');
      assert.equal(mapped?.event.instanceId, TASK);
      assert.match(mapped?.event.kind === 'failed' ? mapped.event.reason : '', reason);
    });
  }

  it('keeps a long reason within 400 characters', async () => {
    // Act
    const mapped = await mapEcsTaskStateChange(ecsEvent({ lastStatus: 'STOPPED', stoppedReason: `CannotPullContainerError: ${'x'.repeat(2000)}` }), ECS_OPTIONS);
    // Assess
    assert.ok(mapped?.event.kind === 'failed' && mapped.event.reason.length <= 400);
  });

  it('accepts unknown fields and rejects an event without a task ARN', () => {
    // Act / Assess
    assert.equal(ecsTaskStateChangeEvent.safeParse({ 'detail-type': 'ECS Task State Change', detail: { lastStatus: 'RUNNING', newField: { x: 1 } } }).success, false);
    assert.equal(ecsTaskStateChangeEvent.safeParse({ 'detail-type': 'ECS Task State Change', detail: { taskArn: TASK, lastStatus: 'RUNNING', newField: { x: 1 } } }).success, true);
  });
});
