import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import {
  AccessPointAlreadyExists,
  AccessPointLimitExceeded,
  BadRequest,
  CreateAccessPointCommand,
  EFSClient,
  EFSServiceException,
  FileSystemNotFound,
  IncorrectFileSystemLifeCycleState,
  InternalServerError,
  ThrottlingException,
  type CreateAccessPointCommandInput,
} from '@aws-sdk/client-efs';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError, ValidationError } from '../../../lambdas/core/errors.js';
import { EfsHomes, HomeError, homeClientToken, type EfsHomesOptions } from '../../../lambdas/adapters/aws/efs-homes.js';
import { connectionReset, internalError, serviceError, serviceUnavailable, throttling, timeoutError } from './sdk-errors.js';

const client = new EFSClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const efs = mockClient(client);
const alice = { analysisId: 'demo', userId: 'alice' };

function homes(patch: Partial<EfsHomesOptions> = {}) {
  return new EfsHomes(client, { deploymentId: 'prod', fileSystemId: 'fs-0123456789abcdef0', uid: 1000, gid: 1000, ...patch });
}

/** EFS as it behaves with client tokens: a second request with a token answers AccessPointAlreadyExists. */
function idempotentEfs() {
  const byToken = new Map<string, string>();
  efs.on(CreateAccessPointCommand).callsFake((input: CreateAccessPointCommandInput) => {
    const existing = byToken.get(input.ClientToken!);
    if (existing) {
      throw new AccessPointAlreadyExists({
        message: 'Access point already exists with the given creation token',
        ErrorCode: 'AccessPointAlreadyExists',
        AccessPointId: existing,
        $metadata: { httpStatusCode: 409 },
      });
    }
    const id = `fsap-${String(byToken.size + 1).padStart(17, '0')}`;
    byToken.set(input.ClientToken!, id);
    return { AccessPointId: id, ClientToken: input.ClientToken, LifeCycleState: 'creating' };
  });
  return byToken;
}

const calls = () => efs.commandCalls(CreateAccessPointCommand).map((call) => call.args[0].input);

describe('EfsHomes', () => {
  afterEach(() => efs.reset());

  it('creates an access point rooted at the researcher’s home, owned by the home uid/gid, mode 0700, tagged', async () => {
    // Prepare
    idempotentEfs();

    // Act
    const home = await homes({ uid: 1001, gid: 1002 }).ensure(alice);

    // Assess
    assert.deepEqual(home, { homeId: 'fsap-00000000000000001', created: true });
    assert.deepEqual(calls(), [
      {
        ClientToken: createHash('sha256').update('prod/demo/alice').digest('hex'),
        FileSystemId: 'fs-0123456789abcdef0',
        PosixUser: { Uid: 1001, Gid: 1002 },
        RootDirectory: { Path: '/homes/demo/alice', CreationInfo: { OwnerUid: 1001, OwnerGid: 1002, Permissions: '0700' } },
        Tags: [
          { Key: 'carrel:deployment', Value: 'prod' },
          { Key: 'carrel:analysis', Value: 'demo' },
          { Key: 'carrel:user', Value: 'alice' },
          { Key: 'Name', Value: 'carrel-prod-demo-alice' },
        ],
      },
    ]);
    assert.equal(calls()[0]?.ClientToken?.length, 64);
  });

  it('returns the existing access point when EFS says it already exists (created once, kept)', async () => {
    // Prepare
    const byToken = idempotentEfs();
    const first = await homes().ensure(alice);

    // Act
    const again = await homes().ensure(alice); // another Lambda container: no memory of the first

    // Assess
    assert.deepEqual(again, { homeId: first.homeId, created: false });
    assert.equal(byToken.size, 1);
    assert.deepEqual(
      calls().map((input) => input.ClientToken),
      [homeClientToken('prod', alice), homeClientToken('prod', alice)],
    );
  });

  it('creates one access point when many opens race for the same home', async () => {
    // Prepare
    const byToken = idempotentEfs();

    // Act
    const results = await Promise.all(Array.from({ length: 5 }, () => homes().ensure(alice)));

    // Assess
    assert.equal(byToken.size, 1);
    assert.equal(new Set(results.map((home) => home.homeId)).size, 1);
    assert.equal(results.filter((home) => home.created).length, 1);
  });

  it('remembers a home it has seen: no second call from the same container', async () => {
    // Prepare
    idempotentEfs();
    const efsHomes = homes();
    const first = await efsHomes.ensure(alice);

    // Act
    const again = await efsHomes.ensure(alice);

    // Assess
    assert.deepEqual(again, { homeId: first.homeId, created: false });
    assert.equal(calls().length, 1);
  });

  it('gives each analysis, researcher and deployment its own token', () => {
    // Prepare / Act
    const tokens = [
      homeClientToken('prod', alice),
      homeClientToken('prod', { analysisId: 'demo', userId: 'bob' }),
      homeClientToken('prod', { analysisId: 'other', userId: 'alice' }),
      homeClientToken('staging', alice),
      // The separator keeps ids from running into each other.
      homeClientToken('prod', { analysisId: 'demo/a', userId: 'lice' }),
    ];

    // Assess
    assert.equal(new Set(tokens).size, tokens.length);
  });

  const unsafe: Array<[string, { analysisId: string; userId: string }]> = [
    ['a slash', { analysisId: 'demo/../x', userId: 'alice' }],
    ['a parent segment', { analysisId: '..', userId: 'alice' }],
    ['dots inside', { analysisId: 'demo', userId: 'a..b' }],
    ['a leading dot', { analysisId: 'demo', userId: '.ssh' }],
    ['an empty id', { analysisId: '', userId: 'alice' }],
    ['a shell character', { analysisId: 'demo', userId: 'alice;rm' }],
    ['a path over 100 characters', { analysisId: 'a'.repeat(60), userId: 'b'.repeat(40) }],
  ];
  for (const [what, key] of unsafe) {
    it(`refuses ids with ${what} before calling EFS`, async () => {
      // Prepare
      idempotentEfs();

      // Act
      const ensuring = homes().ensure(key);

      // Assess
      await assert.rejects(ensuring, ValidationError);
      assert.equal(calls().length, 0);
    });
  }

  it('accepts e-mail-like user ids', async () => {
    // Prepare
    idempotentEfs();

    // Act
    await homes().ensure({ analysisId: 'study-2024_v1', userId: 'alice.smith+x@example.org' });

    // Assess
    assert.equal(calls()[0]?.RootDirectory?.Path, '/homes/study-2024_v1/alice.smith+x@example.org');
  });

  const transient: Array<[string, () => Error]> = [
    ['ThrottlingException', () => new ThrottlingException({ message: 'Rate exceeded', ErrorCode: 'ThrottlingException', $metadata: { httpStatusCode: 429 } })],
    ['a throttle shaped by the base exception', () => throttling(EFSServiceException)],
    ['InternalServerError (500)', () => new InternalServerError({ message: 'internal', ErrorCode: 'InternalServerError', $metadata: { httpStatusCode: 500 } })],
    ['a 500 shaped by the base exception', () => internalError(EFSServiceException, 'InternalServerError')],
    ['a 503', () => serviceUnavailable(EFSServiceException, 'ServiceUnavailable')],
    ['a client-side timeout', timeoutError],
    ['a reset connection', connectionReset],
    [
      'a file system still being created',
      () =>
        new IncorrectFileSystemLifeCycleState({ message: 'creating', ErrorCode: 'IncorrectFileSystemLifeCycleState', $metadata: { httpStatusCode: 409 } }),
    ],
  ];
  for (const [what, make] of transient) {
    it(`maps ${what} to TransientError with the cause`, async () => {
      // Prepare
      const cause = make();
      efs.on(CreateAccessPointCommand).rejects(cause);

      // Act
      const ensuring = homes().ensure(alice);

      // Assess
      await assert.rejects(ensuring, (error) => error instanceof TransientError && error.cause === cause);
    });
  }

  it('does not remember a failure', async () => {
    // Prepare
    efs.on(CreateAccessPointCommand).rejectsOnce(throttling(EFSServiceException)).resolves({ AccessPointId: 'fsap-1' });
    const efsHomes = homes();
    await assert.rejects(efsHomes.ensure(alice), TransientError);

    // Act
    const home = await efsHomes.ensure(alice);

    // Assess
    assert.deepEqual(home, { homeId: 'fsap-1', created: true });
  });

  const permanent: Array<[string, () => Error, RegExp]> = [
    [
      'AccessPointLimitExceeded',
      () => new AccessPointLimitExceeded({ message: 'limit of 10000 reached', ErrorCode: 'AccessPointLimitExceeded', $metadata: { httpStatusCode: 403 } }),
      /^No new home can be created: the homes file system fs-0123456789abcdef0 has reached its limit of access points/,
    ],
    [
      'FileSystemNotFound',
      () => new FileSystemNotFound({ message: 'no such file system', ErrorCode: 'FileSystemNotFound', $metadata: { httpStatusCode: 404 } }),
      /^The homes file system fs-0123456789abcdef0 does not exist$/,
    ],
    [
      'BadRequest',
      () => new BadRequest({ message: 'Path is invalid', ErrorCode: 'BadRequest', $metadata: { httpStatusCode: 400 } }),
      /^Creating the home failed: BadRequest: Path is invalid$/,
    ],
    [
      'AccessDeniedException',
      () => serviceError(EFSServiceException, 'AccessDeniedException', 403, 'not authorized to perform elasticfilesystem:CreateAccessPoint'),
      /^Creating the home failed: AccessDeniedException: not authorized/,
    ],
  ];
  for (const [what, make, message] of permanent) {
    it(`maps ${what} to a clear HomeError that is not transient`, async () => {
      // Prepare
      efs.on(CreateAccessPointCommand).rejects(make());

      // Act
      const ensuring = homes().ensure(alice);

      // Assess
      await assert.rejects(ensuring, (error) => error instanceof HomeError && !(error instanceof TransientError) && message.test(error.message));
    });
  }
});
