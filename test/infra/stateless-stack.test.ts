import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CfnResource, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { startedByFor } from '../../lambdas/adapters/aws/ecs-compute.js';
import { TABLE_SCHEMA } from '../../lambdas/adapters/aws/table-schema.js';
import { DESK_ROUTES } from '../../lib/constructs/desk-api.js';
import { RUN_ENTRIES, type RunEntry } from '../../lambdas/handlers/routes.js';
import { ENTRY_NAMES, type EntryName } from '../../lib/constructs/desk-functions.js';
import { SPA_REWRITE_FUNCTION } from '../../lib/constructs/desk-site.js';
import { LATEST_NODE_RUNTIME, type CarrelFunction } from '../../lib/lambda-function.js';
import type { StatelessStack } from '../../lib/stateless-stack.js';
import { actionsOf, buildTestApp, resourcesOf, type Statement } from './support.js';

/** The Lambda environment of docs/contracts.md that the CDK sets (PUBLIC_PORT and SIGNING_KEY_PEM are local-only). */
const CONTRACT_ENVIRONMENT = [
  'TABLE_NAME',
  'DEPLOYMENT_ID',
  'DESK_DOMAIN',
  'COOKIE_DOMAIN',
  'PUBLIC_URL_SCHEME',
  'COOKIE_SECURE',
  'SIGNING_KEY_ID',
  'OIDC_ISSUER',
  'OIDC_AUDIENCE',
  'OIDC_CLIENT_ID',
  'OIDC_SCOPES',
  'OIDC_ROLES_CLAIM',
  'SESSION_COOKIE',
  'SESSION_TTL_SECONDS',
  'IDLE_TIMEOUT_SECONDS',
  'IDLE_WARNING_SECONDS',
  'STOPPED_RETENTION_HOURS',
  'GATE_COOKIE_TTL_SECONDS',
  'AGENT_TOKEN_TTL_SECONDS',
  'HEARTBEAT_SECONDS',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_LOG_LEVEL',
];

/** X-Ray has no resource-level permissions: the only actions allowed on Resource "*". */
const RESOURCE_STAR_ALLOWED = new Set(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']);

type Resource = { Type: string; Properties: Record<string, any> };

describe('stateless stack', () => {
  let stack: StatelessStack;
  let template: Template;
  let functions: Record<EntryName, CarrelFunction>;

  const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);
  const fnResource = (name: EntryName) => template.toJSON().Resources[logicalId(functions[name])] as Resource;
  /** Every statement of every policy attached to the function's role. */
  const statementsOf = (name: EntryName): Statement[] => {
    const roleId = logicalId(functions[name].role as iam.Role);
    return Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((policy) => (policy.Properties.Roles as unknown[]).some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId })))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
  };
  const actionsFor = (name: EntryName, service: string) =>
    statementsOf(name)
      .flatMap(actionsOf)
      .filter((action) => action.startsWith(`${service}:`))
      .sort();

  before(() => {
    // Prepare
    const built = buildTestApp({ config: { deploymentId: 'test' } });
    stack = built.stateless;
    functions = { ...stack.functions.functions };
    // Act
    template = Template.fromStack(stack);
  });

  it('tags each desk function with its entry point and the deployment (the admin CLI finds them by tag)', () => {
    // Assess
    for (const name of ENTRY_NAMES) {
      const tags = (fnResource(name).Properties.Tags ?? []) as Array<{ Key: string; Value: string }>;
      assert.ok(tags.some((t) => t.Key === 'carrel:function' && t.Value === name), `${name} carries carrel:function=${name}`);
      assert.ok(tags.some((t) => t.Key === 'carrel:deployment' && t.Value === 'test'), `${name} carries the deployment tag`);
    }
  });

  describe('functions', () => {
    it('has the entry points, each bundling lambdas/handlers/entry/<name>.ts', () => {
      // Assess
      assert.deepEqual(Object.keys(functions).sort(), [...ENTRY_NAMES].sort());
      for (const name of ENTRY_NAMES) assert.equal(functions[name].entryName, name);
    });

    it('runs every function on the newest Node.js runtime, arm64, with active tracing', () => {
      // Prepare
      const newest = Object.values(lambda.Runtime)
        .filter((r): r is lambda.Runtime => r instanceof lambda.Runtime && /^nodejs\d+\.x$/.test(r.name))
        .sort((a, b) => parseInt(b.name.slice(6), 10) - parseInt(a.name.slice(6), 10))[0];

      // Assess
      assert.equal(LATEST_NODE_RUNTIME.name, newest?.name);
      for (const name of ENTRY_NAMES) {
        const props = fnResource(name).Properties;
        assert.equal(props.Runtime, newest?.name, name);
        assert.deepEqual(props.Architectures, ['arm64'], name);
        assert.deepEqual(props.TracingConfig, { Mode: 'Active' }, name);
        assert.equal(props.Handler, 'index.handler', name);
      }
    });

    it('logs every function to its own log group with retention', () => {
      // Assess
      for (const name of ENTRY_NAMES) {
        const groupId = logicalId(functions[name].functionLogGroup);
        assert.deepEqual(fnResource(name).Properties.LoggingConfig, { LogGroup: { Ref: groupId } }, name);
        assert.equal(template.toJSON().Resources[groupId].Properties.RetentionInDays, 90, name);
      }
    });

    it('gives every function exactly the environment of docs/contracts.md', () => {
      // Assess
      for (const name of ENTRY_NAMES) {
        const variables = fnResource(name).Properties.Environment.Variables as Record<string, unknown>;
        assert.deepEqual(Object.keys(variables).filter((k) => k !== 'NODE_OPTIONS').sort(), [...CONTRACT_ENVIRONMENT].sort(), name);
        assert.equal(variables.DEPLOYMENT_ID, 'test');
        assert.equal(variables.DESK_DOMAIN, 'desk.example.org');
        assert.equal(variables.COOKIE_SECURE, 'true');
        assert.equal(variables.POWERTOOLS_SERVICE_NAME, `carrel-${name}`);
        assert.match(JSON.stringify(variables.TABLE_NAME), /carrel-test-stateful/);
        assert.match(JSON.stringify(variables.SIGNING_KEY_ID), /SigningKey.*Arn/);
      }
    });

    it('tags the functions with the deployment', () => {
      // Assess
      template.hasResourceProperties('AWS::Lambda::Function', { Tags: Match.arrayWith([{ Key: 'carrel:deployment', Value: 'test' }]) });
    });
  });

  describe('least privilege', () => {
    const tableArn = () => resourcesOf(statementsOf('status').find((s) => actionsOf(s).includes('dynamodb:GetItem'))!)[0];
    const keyArn = () => fnResource('status').Properties.Environment.Variables.SIGNING_KEY_ID;

    it('has no wildcard action and nothing but X-Ray on Resource "*"', () => {
      // Prepare
      const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
        (policy) => policy.Properties.PolicyDocument.Statement as Statement[],
      );

      // Assess
      assert.ok(statements.length > 0);
      for (const statement of statements) {
        assert.equal(statement.Effect, 'Allow');
        for (const action of actionsOf(statement)) assert.ok(action !== '*' && !action.endsWith(':*'), `wildcard action ${action}`);
        if (resourcesOf(statement).includes('*')) {
          for (const action of actionsOf(statement)) assert.ok(RESOURCE_STAR_ALLOWED.has(action), `${action} on Resource "*"`);
        }
      }
      template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    });

    it('lets a status poll only read one item', () => {
      // Assess
      assert.deepEqual(actionsFor('status', 'dynamodb'), ['dynamodb:GetItem']);
    });

    it('lets heartbeat and agent activity only update one item', () => {
      // Assess
      assert.deepEqual(actionsFor('heartbeat', 'dynamodb'), ['dynamodb:UpdateItem']);
      assert.deepEqual(actionsFor('agent-activity', 'dynamodb'), ['dynamodb:UpdateItem']);
    });

    it('grants each function only its own table actions, on the table and the indexes it queries', () => {
      // Prepare
      const table = tableArn();
      const index = (name: string) => ({ 'Fn::Join': ['', [table, `/index/${name}`]] });
      const expected: Record<EntryName, Array<[string[], unknown[]]>> = {
        me: [[['dynamodb:GetItem', 'dynamodb:Query'], [table]]],
        open: [[['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], [table]]],
        status: [[['dynamodb:GetItem'], [table]]],
        heartbeat: [[['dynamodb:UpdateItem'], [table]]],
        stop: [[['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [table]]],
        'agent-activity': [[['dynamodb:UpdateItem'], [table]]],
        'agent-bootstrap': [
          [['dynamodb:GetItem'], [table]],
          [['dynamodb:Query'], [index(TABLE_SCHEMA.instanceIndex.name)]],
        ],
        housekeeping: [
          [['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], [table]],
          [['dynamodb:Query'], [index(TABLE_SCHEMA.dueIndex.name), index(TABLE_SCHEMA.instanceIndex.name)]],
        ],
        'compute-events': [
          [['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], [table]],
          [['dynamodb:Query'], [index(TABLE_SCHEMA.instanceIndex.name)]],
        ],
        // The sign-in never touches the table.
        login: [],
        callback: [],
        logout: [],
      };

      // Assess
      assert.match(JSON.stringify(table), /carrel-test-stateful.*Table/);
      for (const name of ENTRY_NAMES) {
        const dynamo = statementsOf(name)
          .filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')))
          .map((s): [string[], unknown[]] => [actionsOf(s).sort(), resourcesOf(s)]);
        assert.deepEqual(dynamo, expected[name], name);
      }
    });

    it('lets only the functions that sign use kms:Sign, and only on the signing key', () => {
      // Assess: gate cookies (open, status, heartbeat), the login state (login) and the session (callback)
      const signers = ENTRY_NAMES.filter((name) => actionsFor(name, 'kms').includes('kms:Sign'));
      assert.deepEqual(signers.sort(), ['agent-bootstrap', 'callback', 'heartbeat', 'login', 'open', 'status']);
      // Verifiers: the session (every session route), the agent token, the login state (callback)
      const readers = ENTRY_NAMES.filter((name) => actionsFor(name, 'kms').includes('kms:GetPublicKey'));
      assert.deepEqual(readers.sort(), ['agent-activity', 'agent-bootstrap', 'callback', 'heartbeat', 'me', 'open', 'status', 'stop']);
      assert.deepEqual(actionsFor('logout', 'kms'), []);
      for (const name of ENTRY_NAMES) {
        for (const statement of statementsOf(name).filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')))) {
          assert.deepEqual(resourcesOf(statement), [keyArn()], name);
          assert.ok(actionsOf(statement).every((a) => a === 'kms:Sign' || a === 'kms:GetPublicKey'), name);
        }
      }
    });

    it('reads no secret without a client secret ARN', () => {
      // Assess
      for (const name of ENTRY_NAMES) assert.deepEqual(actionsFor(name, 'secretsmanager'), [], name);
    });

    it('lets only the sign-in callback read the client secret, and only that secret', () => {
      // Prepare
      const secretArn = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/oidc-client-AbCdEf';
      const built = buildTestApp({ config: { deploymentId: 'test', oidc: { clientId: 'carrel-test', clientSecretArn: secretArn } } });
      const t = Template.fromStack(built.stateless);
      const fns = built.stateless.functions.functions;
      const roleOf = (name: EntryName) => built.stateless.getLogicalId((fns[name].role as iam.Role).node.defaultChild as never);
      const secretStatements = (name: EntryName) =>
        Object.values(t.findResources('AWS::IAM::Policy'))
          .filter((policy) => (policy.Properties.Roles as unknown[]).some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleOf(name) })))
          .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[])
          .filter((statement) => actionsOf(statement).some((a) => a.startsWith('secretsmanager:')));

      // Assess
      assert.deepEqual(secretStatements('callback').map((st) => [actionsOf(st), resourcesOf(st)]), [[['secretsmanager:GetSecretValue'], [secretArn]]]);
      for (const name of ENTRY_NAMES.filter((n) => n !== 'callback')) assert.deepEqual(secretStatements(name), [], name);
      const variables = (t.toJSON().Resources[built.stateless.getLogicalId(fns.callback.node.defaultChild as never)] as Resource).Properties.Environment.Variables;
      assert.equal(variables.OIDC_CLIENT_SECRET_ARN, secretArn);
      assert.equal(variables.OIDC_CLIENT_ID, 'carrel-test');
    });

    it('lets each function write logs only to its own log group', () => {
      // Assess
      for (const name of ENTRY_NAMES) {
        const logStatements = statementsOf(name).filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
        assert.deepEqual(
          logStatements.map((s) => resourcesOf(s)),
          [[{ 'Fn::GetAtt': [logicalId(functions[name].functionLogGroup), 'Arn'] }]],
          name,
        );
      }
    });
  });

  describe('HTTP API', () => {
    it('has the routes of docs/contracts.md, each to its function', () => {
      // Prepare
      const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
      const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route'));

      // Assess
      assert.deepEqual(
        routes.map((r) => r.Properties.RouteKey).sort(),
        DESK_ROUTES.filter((r) => !RUN_ENTRIES.includes(r.entry as RunEntry)).map((r) => `${r.method} ${r.path}`).sort(),
        'without the enclave, the run routes are not deployed',
      );
      assert.ok(DESK_ROUTES.some((r) => r.path === '/api/agent/activity' && r.entry === 'agent-activity'));
      for (const [method, path, entry] of [['GET', '/auth/login', 'login'], ['GET', '/auth/callback', 'callback'], ['POST', '/auth/logout', 'logout']]) {
        assert.ok(DESK_ROUTES.some((r) => r.method === method && r.path === path && r.entry === entry), `${method} ${path}`);
      }
      for (const route of DESK_ROUTES.filter((r) => !RUN_ENTRIES.includes(r.entry as RunEntry))) {
        const resource = routes.find((r) => r.Properties.RouteKey === `${route.method} ${route.path}`)!;
        const integrationId = (resource.Properties.Target['Fn::Join'][1] as unknown[])[1] as { Ref: string };
        const integration = integrations[integrationId.Ref]!;
        assert.deepEqual(integration.Properties.IntegrationUri, { 'Fn::GetAtt': [logicalId(functions[route.entry as keyof typeof functions]), 'Arn'] }, route.path);
        assert.equal(integration.Properties.PayloadFormatVersion, '2.0');
      }
    });

    it('throttles the default stage and writes JSON access logs', () => {
      // Assess
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
        AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"') },
      });
    });
  });

  describe('static site', () => {
    it('keeps the site bucket private, encrypted, versioned and logged', () => {
      // Prepare
      const siteBucketId = logicalId(stack.site.bucket);
      const logBucketId = logicalId(stack.site.logBucket);

      // Assess
      const bucket = template.toJSON().Resources[siteBucketId] as Resource;
      assert.deepEqual(bucket.Properties.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      assert.deepEqual(bucket.Properties.VersioningConfiguration, { Status: 'Enabled' });
      assert.deepEqual(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration, [
        { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
      ]);
      assert.deepEqual(bucket.Properties.LoggingConfiguration, { DestinationBucketName: { Ref: logBucketId }, LogFilePrefix: 'site-bucket/' });
    });

    it('enforces TLS on both buckets', () => {
      // Assess
      for (const bucket of [stack.site.bucket, stack.site.logBucket]) {
        template.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: logicalId(bucket) },
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        });
      }
    });

    it('reaches the bucket only through CloudFront origin access control for this distribution', () => {
      // Prepare
      const distributionId = logicalId(stack.site.distribution);

      // Assess
      template.resourceCountIs('AWS::CloudFront::CloudFrontOriginAccessIdentity', 0);
      template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
        OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' },
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: logicalId(stack.site.bucket) },
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Effect: 'Allow',
              Action: 's3:GetObject',
              Principal: { Service: 'cloudfront.amazonaws.com' },
              Resource: Match.anyValue(),
              Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } },
            },
          ]),
        },
      });
      const policy = Object.values(template.findResources('AWS::S3::BucketPolicy')).find(
        (p) => p.Properties.Bucket.Ref === logicalId(stack.site.bucket),
      )!;
      const allow = (policy.Properties.PolicyDocument.Statement as any[]).find((s) => s.Effect === 'Allow');
      assert.match(JSON.stringify(allow.Condition.StringEquals['AWS:SourceArn']), new RegExp(`:distribution/.*"Ref":"${distributionId}"`));
      template.hasResourceProperties('AWS::CloudFront::Distribution', {
        DistributionConfig: {
          Origins: Match.arrayWith([
            Match.objectLike({ OriginAccessControlId: Match.anyValue(), S3OriginConfig: { OriginAccessIdentity: '' } }),
          ]),
        },
      });
    });

    it('serves /index.html at the root and for app paths, with security headers', () => {
      // Assess
      template.hasResourceProperties('AWS::CloudFront::Distribution', {
        DistributionConfig: {
          DefaultRootObject: 'index.html',
          DefaultCacheBehavior: Match.objectLike({
            ViewerProtocolPolicy: 'redirect-to-https',
            FunctionAssociations: [{ EventType: 'viewer-request', FunctionARN: Match.anyValue() }],
            ResponseHeadersPolicyId: Match.anyValue(),
          }),
          Logging: Match.objectLike({ Prefix: 'cloudfront/' }),
        },
      });
      template.hasResourceProperties('AWS::CloudFront::Function', {
        FunctionCode: SPA_REWRITE_FUNCTION,
        FunctionConfig: Match.objectLike({ Runtime: 'cloudfront-js-2.0' }),
      });
      template.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
        ResponseHeadersPolicyConfig: {
          SecurityHeadersConfig: Match.objectLike({
            StrictTransportSecurity: Match.objectLike({ AccessControlMaxAgeSec: 63072000, IncludeSubdomains: true }),
            ContentTypeOptions: { Override: true },
            FrameOptions: { FrameOption: 'DENY', Override: true },
            ContentSecurityPolicy: {
              ContentSecurityPolicy: Match.stringLikeRegexp("frame-src https://\\*\\.desk\\.example\\.org; frame-ancestors 'none'"),
              Override: true,
            },
          }),
        },
      });
    });

    it('sends /api/* and the sign-in /auth/* to the HTTP API uncached, with every viewer header but Host', () => {
      // Assess
      const toApi = (pattern: string) =>
        Match.objectLike({
          PathPattern: pattern,
          CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad', // Managed-CachingDisabled
          OriginRequestPolicyId: 'b689b0a8-53d0-40ab-baf2-68738e2966ac', // Managed-AllViewerExceptHostHeader
          AllowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
          ViewerProtocolPolicy: 'https-only',
        });
      template.hasResourceProperties('AWS::CloudFront::Distribution', {
        DistributionConfig: {
          CacheBehaviors: [toApi('/api/*'), toApi('/auth/*')],
          Origins: Match.arrayWith([
            Match.objectLike({
              DomainName: { 'Fn::Select': [2, { 'Fn::Split': ['/', { 'Fn::GetAtt': [logicalId(stack.api.httpApi), 'ApiEndpoint'] }] }] },
              CustomOriginConfig: { OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] },
            }),
          ]),
        },
      });
    });

    it('deploys the built site: hashed assets cached for a year and kept, the rest revalidated and pruned', () => {
      // Prepare
      const deployments = Object.entries(template.findResources('Custom::CDKBucketDeployment'));
      const byId = (construct: IConstruct) => {
        const resource = construct.node.findAll().find((c) => CfnResource.isCfnResource(c) && c.cfnResourceType === 'Custom::CDKBucketDeployment')!;
        return deployments.find(([id]) => id === stack.getLogicalId(resource as CfnResource))!;
      };
      const [assetsId, assets] = byId(stack.site.assetsDeployment!);
      const [, entry] = byId(stack.site.deployment!);

      // Assess
      assert.equal(deployments.length, 2);
      for (const deployment of [assets, entry]) {
        assert.deepEqual(deployment.Properties.DestinationBucketName, { Ref: logicalId(stack.site.bucket) });
        assert.equal(deployment.Properties.DistributionId, undefined, 'no CloudFront invalidation');
      }
      assert.deepEqual(assets.Properties.SystemMetadata, { 'cache-control': 'public, max-age=31536000, immutable' });
      assert.deepEqual([assets.Properties.Exclude, assets.Properties.Include, assets.Properties.Prune], [['*'], ['assets/*'], false]);
      assert.deepEqual(entry.Properties.SystemMetadata, { 'cache-control': 'public, max-age=0, must-revalidate' });
      assert.deepEqual([entry.Properties.Exclude, entry.Properties.Prune], [['assets/*'], true]);
      assert.ok((entry.DependsOn as string[]).includes(assetsId), 'index.html is deployed after the files it refers to');
    });
  });

  describe('schedules', () => {
    it('runs housekeeping every minute, without retrying a failed pass', () => {
      // Assess
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(functions.housekeeping), 'Arn'] } })],
      });
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: logicalId(functions.housekeeping) },
        MaximumRetryAttempts: 0,
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [logicalId(functions.housekeeping), 'Arn'] },
      });
    });

    it('delivers only the EC2 instance and ECS task state changes the mapping acts on to compute-events', () => {
      // Prepare
      const target = [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(functions['compute-events']), 'Arn'] } })];
      const patterns = Object.values(template.findResources('AWS::Events::Rule'))
        .map((rule) => rule.Properties.EventPattern)
        .filter(Boolean);

      // Assess
      assert.deepEqual(patterns, [
        { source: ['aws.ec2'], 'detail-type': ['EC2 Instance State-change Notification'], detail: { state: ['running', 'stopped', 'terminated'] } },
        { source: ['aws.ecs'], 'detail-type': ['ECS Task State Change'], detail: { startedBy: [startedByFor('test')], lastStatus: ['RUNNING', 'STOPPED'] } },
      ]);
      assert.equal(startedByFor('test'), 'carrel-test');
      for (const pattern of patterns) template.hasResourceProperties('AWS::Events::Rule', { EventPattern: pattern, Targets: target });
    });

    describe('dead letters of compute-events', () => {
      const queue = () => stack.functions.deadLetterQueues['compute-events']!;
      const queueArn = () => ({ 'Fn::GetAtt': [logicalId(queue()), 'Arn'] });

      it('is an encrypted queue that keeps messages 14 days and refuses requests without TLS', () => {
        // Assess
        assert.ok(queue(), 'compute-events has a dead-letter queue');
        assert.deepEqual(Object.keys(stack.functions.deadLetterQueues), ['compute-events']);
        template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
        template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: logicalId(queue()) }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } }, Principal: { AWS: '*' } }),
            ]),
          },
        });
      });

      it('receives the events compute-events still fails after Lambda’s retries (on-failure destination)', () => {
        // Assess
        template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
          FunctionName: { Ref: logicalId(functions['compute-events']) },
          DestinationConfig: { OnFailure: { Destination: queueArn() } },
        });
        const send = statementsOf('compute-events').filter((s) => actionsOf(s).includes('sqs:SendMessage'));
        assert.equal(send.length, 1);
        assert.deepEqual(resourcesOf(send[0]!), [queueArn()]);
        for (const name of ENTRY_NAMES.filter((n) => n !== 'compute-events')) assert.deepEqual(actionsFor(name, 'sqs'), [], name);
      });

      it('receives the state changes EventBridge could not deliver after its retries, from these rules only', () => {
        // Prepare
        const rules = Object.entries(template.findResources('AWS::Events::Rule')).filter(([, rule]) => rule.Properties.EventPattern);

        // Assess
        assert.equal(rules.length, 2);
        for (const [, rule] of rules) {
          assert.deepEqual(rule.Properties.Targets[0].DeadLetterConfig, { Arn: queueArn() });
          assert.deepEqual(rule.Properties.Targets[0].RetryPolicy, { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 });
        }
        template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          PolicyDocument: {
            Statement: Match.arrayWith(
              rules.map(([id]) =>
                Match.objectLike({
                  Effect: 'Allow',
                  Action: 'sqs:SendMessage',
                  Principal: { Service: 'events.amazonaws.com' },
                  Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [id, 'Arn'] } } },
                }),
              ),
            ),
          },
        });
        template.hasOutput('ComputeEventsDeadLetterQueue', { Value: { 'Fn::GetAtt': [logicalId(queue()), 'QueueName'] } });
      });
    });
  });
});

describe('stateless stack with a certificate and a hosted zone, without a built site', () => {
  let stack: StatelessStack;
  let template: Template;

  before(() => {
    // Prepare
    const built = buildTestApp({
      config: {
        deploymentId: 'prod',
        deskDomain: 'desk.uni.example',
        certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
        hostedZone: { zoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'uni.example' },
      },
      siteAssetDir: '/nonexistent/dist/frontend',
    });
    stack = built.stateless;
    // Act
    template = Template.fromStack(stack);
  });

  it('serves the desk domain with TLS 1.2 or newer only', () => {
    // Assess
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: {
        Aliases: ['desk.uni.example'],
        ViewerCertificate: {
          AcmCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
          MinimumProtocolVersion: 'TLSv1.2_2021',
          SslSupportMethod: 'sni-only',
        },
      },
    });
  });

  it('publishes the desk domain as an alias of the distribution', () => {
    // Assess
    for (const type of ['A', 'AAAA']) {
      template.hasResourceProperties('AWS::Route53::RecordSet', {
        Name: 'desk.uni.example.',
        Type: type,
        HostedZoneId: 'Z0123456789ABCDEFGHIJ',
        AliasTarget: Match.objectLike({ DNSName: { 'Fn::GetAtt': [stack.getLogicalId(stack.site.distribution.node.defaultChild as never), 'DomainName'] } }),
      });
    }
  });

  it('skips the site deployment when the front desk is not built, and says so', () => {
    // Assess
    template.resourceCountIs('Custom::CDKBucketDeployment', 0);
    assert.equal(stack.site.deployment, undefined);
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('front desk is not built'));
    assert.equal(warnings.length, 1);
  });

  it('configures the functions for the desk domain', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DESK_DOMAIN: 'desk.uni.example', COOKIE_DOMAIN: 'desk.uni.example', DEPLOYMENT_ID: 'prod' }) },
    });
    assert.equal(Stack.of(stack).stackName, 'carrel-prod-stateless');
  });
});

describe('SPA rewrite CloudFront Function', () => {
  const handler = new Function(`${SPA_REWRITE_FUNCTION}; return handler;`)() as (event: { request: { uri: string } }) => { uri: string };
  const rewrite = (uri: string) => handler({ request: { uri } }).uri;

  it('serves /index.html for app paths', () => {
    // Act / Assess
    assert.equal(rewrite('/a/demo'), '/index.html');
    assert.equal(rewrite('/a/census-2021'), '/index.html');
    assert.equal(rewrite('/review'), '/index.html');
    assert.equal(rewrite('/'), '/index.html');
  });

  it('passes files through', () => {
    // Act / Assess
    assert.equal(rewrite('/assets/app.js'), '/assets/app.js');
    assert.equal(rewrite('/favicon.svg'), '/favicon.svg');
    assert.equal(rewrite('/index.html'), '/index.html');
  });
});
