import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signIdentityRequest, type SignedIdentityRequest } from '../../../assets/gate/bootstrap.js';
import { TransientError, UnauthenticatedError } from '../../../lambdas/core/errors.js';
import { homeRoleName } from '../../../lambdas/adapters/aws/iam-home-roles.js';
import { StsTaskIdentity, stsUrlFor } from '../../../lambdas/adapters/aws/sts-task-identity.js';
import { FakeSts, taskCredentials } from '../../support/fake-sts.js';

const CLUSTER = 'arn:aws:ecs:eu-west-2:123456789012:cluster/carrel-prod-workspaces';
const TASK_ID = '0123456789abcdef0123456789abcdef';
const ROLE = homeRoleName('prod', { analysisId: 'demo', userId: 'alice' });
const TASK = taskCredentials(1, `arn:aws:sts::123456789012:assumed-role/${ROLE}/${TASK_ID}`);
const STS = 'https://sts.eu-west-2.amazonaws.com/';
const DESK = 'desk.example.org';

function identity(sts: FakeSts | { fetch: typeof fetch }, patch: Partial<ConstructorParameters<typeof StsTaskIdentity>[0]> = {}) {
  return new StsTaskIdentity({ deploymentId: 'prod', clusterArn: CLUSTER, serverId: DESK, fetch: sts.fetch, ...patch });
}

function sign(patch: { serverId?: string; region?: string; stsUrl?: string; at?: Date; task?: typeof TASK } = {}): Promise<SignedIdentityRequest> {
  const task = patch.task ?? TASK;
  return signIdentityRequest(
    { stsUrl: new URL(patch.stsUrl ?? STS), stsRegion: patch.region ?? 'eu-west-2', serverId: patch.serverId ?? DESK },
    async () => ({ accessKeyId: task.accessKeyId, secretAccessKey: task.secretAccessKey, sessionToken: task.sessionToken }),
    patch.at,
  );
}

const refused = (pattern: RegExp) => (error: unknown) => error instanceof UnauthenticatedError && pattern.test(error.message);

describe('StsTaskIdentity', () => {
  it('forwards exactly the signed GetCallerIdentity to the region’s STS and names the task and its role', async () => {
    // Prepare
    const sts = new FakeSts().add(TASK);
    const proof = await sign();

    // Act
    const who = await identity(sts).identify(proof);

    // Assess
    assert.deepEqual(who, { instanceId: `arn:aws:ecs:eu-west-2:123456789012:task/carrel-prod-workspaces/${TASK_ID}`, role: ROLE });
    assert.equal(sts.calls.length, 1);
    const [call] = sts.calls;
    assert.equal(call!.url, STS);
    assert.equal(call!.method, 'POST');
    assert.equal(call!.body, 'Action=GetCallerIdentity&Version=2011-06-15');
    assert.deepEqual(Object.keys(call!.headers).sort(), ['authorization', 'content-type', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token', 'x-carrel-server-id']);
    assert.match(proof.headers.authorization!, /SignedHeaders=[a-z0-9;-]*x-carrel-server-id/);
  });

  it('derives the STS endpoint and the expected role from the deployment', () => {
    // Assess
    assert.equal(stsUrlFor({ partition: 'aws', region: 'eu-west-2', account: '123456789012' }), STS);
    assert.equal(stsUrlFor({ partition: 'aws-cn', region: 'cn-north-1', account: '123456789012' }), 'https://sts.cn-north-1.amazonaws.com.cn/');
    assert.equal(identity(new FakeSts()).roleFor({ analysisId: 'demo', userId: 'alice' }), ROLE);
  });

  describe('refuses, without calling STS,', () => {
    const cases: Array<[string, (proof: SignedIdentityRequest) => unknown, RegExp]> = [
      ['a proof that is not an object', () => 'signed', /not a signed request/],
      ['another URL (a request to another service or endpoint)', (p) => ({ ...p, url: 'https://sts.amazonaws.com/' }), /must be sent to https:\/\/sts\.eu-west-2/],
      ['another body (another STS action)', (p) => ({ ...p, body: 'Action=AssumeRole&Version=2011-06-15' }), /exactly a GetCallerIdentity/],
      ['an extra header the desk would forward', (p: SignedIdentityRequest) => ({ ...p, headers: { ...p.headers, 'x-amz-target': 'x' } }), /header x-amz-target is not part/],
      ['a header with a line break', (p: SignedIdentityRequest) => ({ ...p, headers: { ...p.headers, 'x-carrel-server-id': `${DESK}\r\nx: y` } }), /single line/],
      ['another host', (p: SignedIdentityRequest) => ({ ...p, headers: { ...p.headers, host: 'evil.example' } }), /host must be sts\.eu-west-2/],
      ['no server id', (p: SignedIdentityRequest) => ({ ...p, headers: withoutHeader(p.headers, 'x-carrel-server-id') }), /meant for another server/],
      ['no signature', (p: SignedIdentityRequest) => ({ ...p, headers: withoutHeader(p.headers, 'authorization') }), /not an AWS SigV4 signature/],
      ['a signature for another service', (p: SignedIdentityRequest) => ({ ...p, headers: { ...p.headers, authorization: p.headers.authorization!.replace('/sts/', '/s3/') } }), /SigV4 signature for STS/],
      [
        'a signature that does not cover the server id',
        (p: SignedIdentityRequest) => ({ ...p, headers: { ...p.headers, authorization: p.headers.authorization!.replace(';x-carrel-server-id', '') } }),
        /must cover the x-carrel-server-id/,
      ],
    ];
    for (const [what, tamper, message] of cases) {
      it(what, async () => {
        // Prepare
        const sts = new FakeSts().add(TASK);
        const proof = tamper(await sign());

        // Act
        const identifying = identity(sts).identify(proof);

        // Assess
        await assert.rejects(identifying, refused(message));
        assert.equal(sts.calls.length, 0);
      });
    }

    it('a request signed for another desk (replayed here)', async () => {
      // Prepare
      const sts = new FakeSts().add(TASK);
      const proof = await sign({ serverId: 'desk.other.example' });

      // Act / Assess
      await assert.rejects(identity(sts).identify(proof), refused(/meant for another server \(x-carrel-server-id must be desk\.example\.org\)/));
      assert.equal(sts.calls.length, 0);
    });

    it('a request signed for another region', async () => {
      // Prepare
      const sts = new FakeSts().add(TASK);
      const proof = { ...(await sign({ region: 'us-east-1' })), url: STS };

      // Act / Assess
      await assert.rejects(identity(sts).identify(proof), refused(/signed for region us-east-1/));
    });

    it('a request signed more than five minutes ago (a replay), or in the future', async () => {
      // Prepare
      const sts = new FakeSts().add(TASK);
      const now = new Date('2026-11-23T12:00:00Z');
      const old = await sign({ at: new Date(now.getTime() - 301_000) });
      const future = await sign({ at: new Date(now.getTime() + 301_000) });

      // Act / Assess
      await assert.rejects(identity(sts, { now: () => now }).identify(old), refused(/signed 301 s ago \(at most 300 s either way\)/));
      await assert.rejects(identity(sts, { now: () => now }).identify(future), refused(/signed 301 s in the future/));
      assert.equal(sts.calls.length, 0);
    });
  });

  describe('refuses what STS does not vouch for', () => {
    it('a forged signature (the server id changed after signing)', async () => {
      // Prepare
      const sts = new FakeSts().add(TASK);
      const proof = await sign({ serverId: 'desk.other.example' });
      const forged = { ...proof, headers: { ...proof.headers, 'x-carrel-server-id': DESK } };

      // Act / Assess
      await assert.rejects(identity(sts).identify(forged), refused(/STS refused the signed identity request \(HTTP 403 SignatureDoesNotMatch\)/));
      assert.equal(sts.calls.length, 1);
    });

    it('credentials STS does not know', async () => {
      // Prepare
      const sts = new FakeSts();

      // Act / Assess
      await assert.rejects(identity(sts).identify(await sign()), refused(/HTTP 403 InvalidClientTokenId/));
    });

    for (const [what, arn, message] of [
      ['a user rather than a task role', 'arn:aws:iam::123456789012:user/mallory', /not a task role session/],
      ['a role session of another account', `arn:aws:sts::210987654321:assumed-role/${ROLE}/${TASK_ID}`, /another AWS account \(210987654321\)/],
      ['a role session that is not an ECS task', `arn:aws:sts::123456789012:assumed-role/${ROLE}/mallory-session`, /session "mallory-session" is not an ECS task/],
    ] as const) {
      it(what, async () => {
        // Prepare
        const task = taskCredentials(2, arn);
        const sts = new FakeSts().add(task);

        // Act / Assess
        await assert.rejects(identity(sts).identify(await sign({ task })), refused(message));
      });
    }
  });

  describe('reports STS trouble as transient', () => {
    const answering = (status: number, body: string) => ({ fetch: (async () => new Response(body, { status })) as typeof fetch });
    for (const [what, sts, message] of [
      ['a 500', answering(500, '<ErrorResponse><Error><Code>InternalFailure</Code></Error></ErrorResponse>'), /HTTP 500 InternalFailure/],
      ['a 503', answering(503, ''), /HTTP 503/],
      ['throttling', answering(400, '<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>'), /HTTP 400 Throttling/],
      ['a 200 without an ARN', answering(200, '<html>captive portal</html>'), /without the caller/],
      ['a network failure', { fetch: (async () => Promise.reject(new TypeError('fetch failed'))) as typeof fetch }, /could not be reached/],
    ] as const) {
      it(what, async () => {
        // Act / Assess
        await assert.rejects(identity(sts).identify(await sign()), (error) => error instanceof TransientError && message.test(error.message));
      });
    }

    it('a timeout: gives up after timeoutMs', async () => {
      // Prepare: an STS that never answers, but honours the abort signal as fetch does
      const hanging = {
        fetch: ((_url: unknown, init?: RequestInit) =>
          new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)))) as typeof fetch,
      };
      const started = Date.now();
      // A real request's socket keeps the process alive; AbortSignal.timeout's timer alone does not.
      const alive = setInterval(() => {}, 1000);

      // Act / Assess
      try {
        await assert.rejects(identity(hanging, { timeoutMs: 50 }).identify(await sign()), (error) => error instanceof TransientError && /did not answer in time/.test(error.message));
      } finally {
        clearInterval(alive);
      }
      assert.ok(Date.now() - started < 2000);
    });
  });
});

function withoutHeader(headers: Readonly<Record<string, string>>, name: string): Record<string, string> {
  const copy = { ...headers };
  delete copy[name];
  return copy;
}
